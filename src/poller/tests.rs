//! The poller across the moments of change, on tokio's paused clock: a fake DBS answers from
//! memory after a simulated latency, paced by the real pacer, so whole rounds, reloads and
//! estate changes run in virtual time and every race is made deterministic with a gate.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::*;
use crate::api::{DownloadState, DownloadTask, DownloadTaskQuery, Listing, TaskType};
use crate::store::model::{InstanceKey, QueryId};
use crate::store::Generation;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);
/// How long the fake takes to answer one call.
const LATENCY: Duration = Duration::from_millis(100);

/// DBS in memory: every instance's tasks, each listing logged with its virtual time, and a
/// gate that holds the listings of one instance until it is opened.
#[derive(Debug, Default)]
struct FakeDbs {
    tasks: Mutex<HashMap<String, Vec<TaskSummary>>>,
    listed: Mutex<Vec<(String, Instant)>>,
    gate: Mutex<Option<(String, Arc<Notify>)>>,
}

impl FakeDbs {
    fn add_task(&self, instance: &str, id: &str, state: &str, created_ms: u64) {
        let task = DownloadTask {
            created_at_ms: Some(created_ms),
            ..DownloadTask::new(id, Some(TaskType::Full), DownloadState::parse(state))
        };
        crate::util::lock(&self.tasks).entry(instance.to_string()).or_default().push(task.summary());
    }

    /// When each listing of `instance` was answered.
    fn listings_of(&self, instance: &str) -> Vec<Instant> {
        crate::util::lock(&self.listed).iter().filter(|(i, _)| i == instance).map(|(_, at)| *at).collect()
    }

    /// Holds every listing of `instance` until the returned gate is opened.
    fn hold(&self, instance: &str) -> Arc<Notify> {
        let gate = Arc::new(Notify::new());
        *crate::util::lock(&self.gate) = Some((instance.to_string(), Arc::clone(&gate)));
        gate
    }
}

impl ListTasks for FakeDbs {
    fn list<'a>(
        &'a self,
        _endpoint: &'a str,
        query: &'a DownloadTaskQuery,
        _options: ListOptions,
        observer: &'a dyn CallObserver<Page<TaskSummary>, ApiError>,
    ) -> ListFuture<'a> {
        Box::pin(async move {
            let slot = observer.before_call().await;
            let gate = crate::util::lock(&self.gate).clone();
            if let Some((_, gate)) = gate.filter(|(instance, _)| **instance == *query.instance_name) {
                gate.notified().await;
            }
            tokio::time::sleep(LATENCY).await;
            drop(slot);
            let window = query.start_time_ms.unwrap_or(0)..=query.end_time_ms.unwrap_or(u64::MAX);
            let tasks: Vec<TaskSummary> = crate::util::lock(&self.tasks)
                .get(&*query.instance_name)
                .map(|tasks| {
                    let in_window = |t: &&TaskSummary| t.created_at_ms.is_some_and(|c| window.contains(&c));
                    tasks.iter().filter(in_window).cloned().collect()
                })
                .unwrap_or_default();
            let page = Page {
                request_id: String::new(),
                page_number: 1,
                page_size: 100,
                total_elements: tasks.len() as u64,
                total_pages: 1,
                tasks: Vec::new(),
            };
            observer.on_call(LATENCY, Ok(&page));
            crate::util::lock(&self.listed).push((query.instance_name.to_string(), Instant::now()));
            Ok(Listing { tasks, pages: 1, duplicates: 0 })
        })
    }
}

fn settings(interval: Duration, rate: f64) -> PollSettings {
    PollSettings {
        interval,
        lookback: DAY,
        list: ListOptions::default(),
        concurrency: 4,
        rate_limit_per_region: rate,
        max_staleness: interval * 3,
    }
}

/// The poller under test, its store and its fake DBS, and the generations handed to it.
struct Harness {
    dbs: Arc<FakeDbs>,
    store: Arc<Store>,
    poller: Arc<Poller>,
    sets: watch::Sender<Arc<TargetSet>>,
    generation: u64,
}

impl Harness {
    fn new() -> Self {
        let store = Arc::new(Store::new());
        let poller = Arc::new(Poller::new(
            Arc::clone(&store),
            ExporterMetrics::new(["cn-hangzhou"]),
            WallClock::following_tokio(),
        ));
        let sets = watch::channel(Arc::new(TargetSet::empty())).0;
        Harness { dbs: Arc::new(FakeDbs::default()), store, poller, sets, generation: 0 }
    }

    fn target(&self, account: &str, instance: &str, lookback: Duration) -> Arc<Target> {
        let key = TargetKey {
            instance: InstanceKey::new("cn-hangzhou", instance).in_account(account),
            task_type: TaskType::Full,
        };
        Arc::new(Target::new(
            key,
            "http://dbs.test".into(),
            ListingFilters::default(),
            lookback,
            Arc::clone(&self.dbs) as Arc<dyn ListTasks>,
        ))
    }

    /// Publishes a generation of `targets` to the store, then hands it to the poller, as the
    /// pipeline does.
    fn hand(&mut self, targets: Vec<Arc<Target>>, settings: PollSettings) {
        self.generation += 1;
        let keys = targets.iter().map(|t| t.key.clone()).collect();
        self.store.publish(Generation::of_targets(self.generation, keys));
        let lanes = targets.iter().map(|t| t.lane());
        let pacer = Arc::new(Pacer::new(lanes, settings.rate_limit_per_region, settings.concurrency));
        self.sets.send_replace(Arc::new(TargetSet {
            generation: self.generation,
            targets,
            settings,
            pacer,
            change: None,
        }));
    }

    /// Hands a set that says how it differs from the last one, as a discovery refresh does.
    fn hand_change(&mut self, targets: Vec<Arc<Target>>, settings: PollSettings, change: SetChange) {
        self.generation += 1;
        let keys = targets.iter().map(|t| t.key.clone()).collect();
        self.store.publish(Generation::of_targets(self.generation, keys));
        let pacer = Arc::clone(&self.sets.borrow().pacer);
        let change = Some(SetChange { from: self.generation - 1, ..change });
        self.sets.send_replace(Arc::new(TargetSet {
            generation: self.generation,
            targets,
            settings,
            pacer,
            change,
        }));
    }

    fn start(&self, shutdown: &CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(Arc::clone(&self.poller).run(self.sets.subscribe(), shutdown.clone()))
    }

    fn instances(&self, names: impl IntoIterator<Item = String>, lookback: Duration) -> Vec<Arc<Target>> {
        names.into_iter().map(|name| self.target("default", &name, lookback)).collect()
    }

    fn transitions(&self) -> u64 {
        self.store.read(|view, _| {
            view.targets()
                .flat_map(|(_, _, s)| s.transitions.iter().flat_map(|t| t.iter().map(|(_, n)| *n)))
                .sum()
        })
    }
}

fn names(range: std::ops::Range<usize>) -> impl Iterator<Item = String> {
    range.map(|i| format!("rm-{i:03}"))
}

#[tokio::test(start_paused = true)]
async fn churn_at_every_refresh_during_a_slow_first_round_still_ends_it_and_makes_the_exporter_ready() {
    let mut harness = Harness::new();
    let settings = settings(MINUTE, 4.0);
    // 40 instances at 4 calls a second: a first round of about ten seconds.
    harness.hand(harness.instances(names(0..40), DAY), settings);
    let shutdown = CancellationToken::new();
    let task = harness.start(&shutdown);
    let mut created = 40;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        // Discovery found one more instance: a new generation every three seconds.
        created += 1;
        harness.hand(harness.instances(names(0..created), DAY), settings);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(harness.store.first_round_done(), "ready once the 40 targets of the start were attempted");
    let round = harness.store.read(|view, _| view.last_round).expect("a round has ended");
    assert!(round.duration_seconds < 20.0, "the round was not restarted by each change: {round:?}");
    for name in names(0..created) {
        assert!(!harness.dbs.listings_of(&name).is_empty(), "{name} was listed");
    }
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_reload_to_a_shorter_interval_lists_every_target_again_within_one_new_interval() {
    let mut harness = Harness::new();
    let targets = harness.instances(names(0..30), DAY);
    harness.hand(targets.clone(), settings(Duration::from_secs(600), 100.0));
    let shutdown = CancellationToken::new();
    let task = harness.start(&shutdown);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(harness.store.first_round_done());
    let reloaded = Instant::now();
    harness.hand(targets, settings(Duration::from_secs(2), 100.0));
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in names(0..30) {
        let again = harness.dbs.listings_of(&name).into_iter().filter(|at| *at > reloaded).count();
        assert!(again >= 1, "{name} was listed again within one new interval (plus its latency)");
    }
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_reload_that_widens_the_lookback_counts_no_transition() {
    let mut harness = Harness::new();
    let now_ms = crate::util::unix_ms(WallClock::following_tokio().now());
    for i in 0..50 {
        // Ten days old: outside a one-day lookback, inside a thirty-day one.
        harness.dbs.add_task("rm-000", &format!("old-{i}"), "finished", now_ms - 10 * DAY.as_millis() as u64);
    }
    harness.dbs.add_task("rm-000", "recent", "running", now_ms - 1000);
    harness.hand(harness.instances(names(0..1), DAY), settings(Duration::from_secs(10), 100.0));
    let shutdown = CancellationToken::new();
    let task = harness.start(&shutdown);
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(harness.transitions(), 0);
    let wide = PollSettings { lookback: DAY * 30, ..settings(Duration::from_secs(10), 100.0) };
    harness.hand(harness.instances(names(0..1), DAY * 30), wide);
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(harness.dbs.listings_of("rm-000").len() >= 4);
    assert_eq!(harness.transitions(), 0, "the older tasks the wider query shows are not transitions");
    let listed = harness.store.read(|view, _| {
        view.targets()
            .map(|(_, _, s)| {
                s.aggregate.as_ref().map_or(0, |a| a.states().map(|(_, t)| t.tasks).sum::<u64>())
            })
            .sum::<u64>()
    });
    assert_eq!(listed, 51, "the wider query's tasks are counted");
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_listing_that_completes_after_its_target_was_removed_leaves_no_series() {
    let mut harness = Harness::new();
    let gate = harness.dbs.hold("rm-001");
    let both = harness.instances(names(0..2), DAY);
    harness.hand(both.clone(), settings(MINUTE, 100.0));
    let shutdown = CancellationToken::new();
    let task = harness.start(&shutdown);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(harness.dbs.listings_of("rm-000").len(), 1);
    assert!(harness.dbs.listings_of("rm-001").is_empty(), "held at the gate");
    // Discovery drops rm-001 while its listing runs; the store takes the generation first.
    harness.hand(vec![Arc::clone(&both[0])], settings(MINUTE, 100.0));
    gate.notify_waiters();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let kept: Vec<String> =
        harness.store.read(|view, _| view.instances.keys().map(|k| k.instance_id.to_string()).collect());
    assert_eq!(kept, ["rm-000"], "the removed instance did not come back");
    assert!(harness.store.first_round_done(), "the round did not wait for the target that left");
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_store_refuses_a_late_result_even_when_the_listing_is_not_aborted() {
    // The same race without the poller's abort: the generation alone keeps it out.
    let mut harness = Harness::new();
    let targets = harness.instances(names(0..1), DAY);
    harness.hand(targets.clone(), settings(MINUTE, 100.0));
    let target = Arc::clone(&targets[0]);
    let set = harness.sets.borrow().clone();
    harness.hand(Vec::new(), settings(MINUTE, 100.0));
    let outcome = harness.poller.list(&target, set.generation, set.settings, &set.pacer).await;
    assert_eq!(outcome, Outcome::Dropped);
    assert!(harness.store.read(|view, _| view.instances.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn two_accounts_in_one_region_each_have_their_own_token_bucket() {
    let mut harness = Harness::new();
    let mut targets = Vec::new();
    for name in names(0..10) {
        targets.push(harness.target("prod", &name, DAY));
        targets.push(harness.target("staging", &name, DAY));
    }
    // One call a second per lane: ten listings per account take about ten seconds, side by side.
    harness.hand(targets, PollSettings { concurrency: 20, ..settings(MINUTE, 1.0) });
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let task = harness.start(&shutdown);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let round = harness.store.read(|view, _| view.last_round).expect("the first round ended");
    assert!(
        round.duration_seconds < 12.0,
        "twenty listings in two lanes of one call a second: {round:?} (one shared bucket would need 20 s)"
    );
    assert_eq!(harness.dbs.listings_of("rm-000").len(), 2, "both accounts listed it");
    let _ = start;
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_target_that_stays_keeps_its_cadence_across_a_change() {
    let mut harness = Harness::new();
    harness.hand(harness.instances(names(0..2), DAY), settings(MINUTE, 100.0));
    let shutdown = CancellationToken::new();
    let task = harness.start(&shutdown);
    tokio::time::sleep(Duration::from_secs(5)).await;
    harness.hand(harness.instances(names(0..3), DAY), settings(MINUTE, 100.0));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(harness.dbs.listings_of("rm-000").len(), 1, "not listed again because the estate changed");
    assert_eq!(harness.dbs.listings_of("rm-002").len(), 1, "the new target is listed at once");
    shutdown.cancel();
    task.await.unwrap();
}

#[test]
fn the_query_of_a_target_includes_its_lookback() {
    let harness = Harness::new();
    let narrow = harness.target("default", "rm-1", DAY);
    let wide = harness.target("default", "rm-1", DAY * 30);
    assert_ne!(narrow.asked, wide.asked);
    assert_eq!(narrow.asked, harness.target("default", "rm-1", DAY).asked);
    assert_ne!(narrow.asked, QueryId::default());
}

#[tokio::test(start_paused = true)]
async fn a_set_that_says_its_change_is_applied_by_the_change_alone() {
    let mut harness = Harness::new();
    let first = harness.instances(names(0..3), DAY);
    harness.hand(first.clone(), settings(MINUTE, 100.0));
    let shutdown = CancellationToken::new();
    let task = harness.start(&shutdown);
    tokio::time::sleep(Duration::from_secs(5)).await;
    // rm-000 leaves, rm-003 joins, rm-001 is rebuilt with another lookback; rm-002 is the same.
    let joined = harness.target("default", "rm-003", DAY);
    let rebuilt = harness.target("default", "rm-001", DAY * 2);
    let targets = vec![Arc::clone(&rebuilt), Arc::clone(&first[2]), Arc::clone(&joined)];
    let change =
        SetChange { from: 0, left: vec![first[0].key.clone()], joined: vec![joined], rebuilt: vec![rebuilt] };
    harness.hand_change(targets, settings(MINUTE, 100.0), change);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(harness.dbs.listings_of("rm-003").len(), 1, "the target that joined is listed at once");
    assert_eq!(harness.dbs.listings_of("rm-001").len(), 1, "a rebuilt target keeps its slot");
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(harness.dbs.listings_of("rm-000").len(), 1, "the target that left is never listed again");
    assert!(harness.dbs.listings_of("rm-001").len() >= 2);
    assert!(harness.dbs.listings_of("rm-003").len() >= 2);
    shutdown.cancel();
    task.await.unwrap();
}

#[test]
fn a_target_asks_for_its_instance_type_filters_and_window() {
    let key =
        TargetKey { instance: InstanceKey::of("prod", "cn-beijing", "pc-1"), task_type: TaskType::Pitr };
    let filters = ListingFilters { cluster_name: Some("pc-1".into()), ..ListingFilters::default() };
    let client = Arc::new(FakeDbs::default()) as Arc<dyn ListTasks>;
    let target = Target::new(key.clone(), "https://dbs.test".into(), filters, DAY, Arc::clone(&client));
    let query = target.query(1_000, 2_000);
    assert_eq!((&*query.region_code, &*query.instance_name), ("cn-beijing", "pc-1"));
    assert_eq!(query.task_type, Some(TaskType::Pitr));
    assert_eq!(query.cluster_name.as_deref(), Some("pc-1"));
    assert_eq!((query.datasource_id, query.backup_set_id), (None, None));
    assert_eq!((query.start_time_ms, query.end_time_ms), (Some(1_000), Some(2_000)));
    let unfiltered = Target::new(key, "https://dbs.test".into(), ListingFilters::default(), DAY, client);
    assert_eq!(unfiltered.query(1_000, 2_000).cluster_name, None);
    assert_ne!(unfiltered.asked, target.asked, "a filter is part of what is asked");
}
