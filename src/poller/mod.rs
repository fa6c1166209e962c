//! The scheduler: list every (region, instance, task type) target once per poll interval.
//!
//! Each target keeps its own cadence ([`schedule`]): every target is listed at once when the
//! poller starts, then on its own slot of the interval, so a region's calls spread evenly
//! over it. Due listings wait in their region's lane, and each API call waits for its
//! region's token before it takes one of the `concurrency` request slots ([`crate::pacing`]), so a
//! region out of tokens never holds up another. A completed listing is written to the store
//! at once; a target that fails is recorded and logged by region and error class
//! ([`failures`]), never stopping the others.

mod failures;
mod schedule;
mod shard;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{
    ApiError, CallObserver, CallSlot, DbsClient, DownloadTaskQuery, ListOptions, Page, TaskSummary,
};
use crate::config::Config;
use crate::history::Changes;
use crate::inventory::PolledInstance;
use crate::metrics::ExporterMetrics;
use crate::model::TargetKey;
pub use crate::pacing::Pacer;
use crate::state::{ListingError, RoundReport, Store};
use crate::util::unix_ms;
use failures::FailureLog;
use schedule::{Cadence, Schedule, Start};
pub use shard::Shard;

/// One listing to run every poll interval, with the client of its account.
#[derive(Debug)]
pub struct Target {
    pub key: TargetKey,
    pub endpoint: String,
    /// The filters of the listing; the creation-time window is filled in at each poll.
    pub query: DownloadTaskQuery,
    client: DbsClient,
}

impl Target {
    pub fn new(key: TargetKey, endpoint: String, query: DownloadTaskQuery, client: DbsClient) -> Self {
        Target { key, endpoint, query, client }
    }
}

/// The targets of `instances` that belong to `shard`: each instance x task type, in order.
/// `client_of` gives the client of an account by name.
pub fn targets_of(
    instances: &[PolledInstance],
    config: &Config,
    shard: Shard,
    client_of: &dyn Fn(&str) -> DbsClient,
) -> Vec<Arc<Target>> {
    let labelled = config.labels_accounts();
    let endpoints: HashMap<(&str, &str), String> = config
        .accounts
        .iter()
        .flat_map(|a| {
            a.regions.iter().map(move |r| ((a.name.as_str(), r.region_id.as_str()), r.endpoint_or_default()))
        })
        .collect();
    let mut targets = Vec::new();
    for polled in instances.iter().filter(|p| shard.owns(&p.region_id, &p.instance.instance_id)) {
        let Some(endpoint) = endpoints.get(&(polled.account.as_str(), polled.region_id.as_str())) else {
            continue;
        };
        let client = client_of(&polled.account);
        let instance = &polled.instance;
        let instance_key = polled.key(labelled);
        for task_type in &config.task_types {
            let query = DownloadTaskQuery {
                cluster_name: instance.cluster_name.clone(),
                datasource_id: instance.datasource_id.clone(),
                backup_set_id: instance.backup_set_id.clone(),
                task_type: Some(*task_type),
                ..DownloadTaskQuery::new(&polled.region_id, &instance.instance_id)
            };
            let key = TargetKey { instance: instance_key.clone(), task_type: *task_type };
            targets.push(Arc::new(Target::new(key, endpoint.clone(), query, client.clone())));
        }
    }
    targets
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PollSettings {
    pub interval: Duration,
    pub lookback: Duration,
    pub list: ListOptions,
    pub concurrency: usize,
    pub rate_limit_per_region: f64,
    pub max_staleness: Duration,
}

impl PollSettings {
    pub fn from_config(config: &Config) -> Self {
        PollSettings {
            interval: config.poll_interval,
            lookback: config.lookback,
            list: ListOptions {
                page_size: config.page_size,
                max_pages: config.max_pages,
                retry: config.retry,
                deadline: None,
            },
            concurrency: config.concurrency,
            rate_limit_per_region: config.rate_limit_per_region,
            max_staleness: config.max_staleness,
        }
    }

    /// The listing options of one poll: retries may not wait past the next poll.
    fn list_options(&self, started: std::time::Instant) -> ListOptions {
        ListOptions { deadline: Some(started + self.interval), ..self.list }
    }
}

/// How a pass over every target went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub succeeded: usize,
    pub failed: usize,
}

impl CycleReport {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Succeeded => self.succeeded += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
}

/// The cadence of every target by key, handed from a stopped poller to the one that replaces
/// it, so the targets that stay keep their slots.
#[derive(Debug, Default)]
pub struct Cadences(HashMap<TargetKey, Cadence>);

/// How often stale counts of failing targets are looked for.
const EXPIRY_CHECK: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Poller {
    targets: Vec<Arc<Target>>,
    /// Each target's region, numbered from 0: the lanes of the schedule.
    lane_of: Vec<usize>,
    store: Arc<Store>,
    metrics: ExporterMetrics,
    pacer: Arc<Pacer>,
    settings: PollSettings,
    failures: FailureLog,
    /// API calls made since the poller was built, retries included.
    calls: AtomicU64,
}

impl Poller {
    /// A poller of `targets` whose calls are paced by `pacer`, which it may share with other
    /// callers of the same regions (discovery's list calls).
    pub fn new(
        targets: Vec<Arc<Target>>,
        settings: PollSettings,
        store: Arc<Store>,
        metrics: ExporterMetrics,
        pacer: Arc<Pacer>,
    ) -> Self {
        let mut regions: Vec<&str> = Vec::new();
        let lane_of = targets
            .iter()
            .map(|target| {
                let region = target.key.instance.region_id.as_ref();
                regions.iter().position(|r| *r == region).unwrap_or_else(|| {
                    regions.push(region);
                    regions.len() - 1
                })
            })
            .collect();
        Poller {
            targets,
            lane_of,
            store,
            metrics,
            pacer,
            settings,
            failures: FailureLog::default(),
            calls: AtomicU64::new(0),
        }
    }

    pub fn targets(&self) -> &[Arc<Target>] {
        &self.targets
    }

    /// Lists every target once, as fast as the pacing allows (the `once` command, tests and
    /// benchmarks), and returns when all are done.
    pub async fn poll_cycle(self: &Arc<Self>) -> CycleReport {
        let cadences = self.cadences_from(&Cadences::default(), Instant::now());
        let mut schedule = Schedule::new(self.lane_of.clone(), cadences, None, self.settings.concurrency);
        self.drive(&mut schedule, &CancellationToken::new()).await
    }

    /// Lists every target on its cadence until `shutdown`; targets found in `carried` keep
    /// theirs, the others are listed at once. Returns the cadences to carry over.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken, carried: Cadences) -> Cadences {
        self.failures.seed(&self.store, &self.targets);
        let cadences = self.cadences_from(&carried, Instant::now());
        let interval = Some(self.settings.interval);
        let mut schedule = Schedule::new(self.lane_of.clone(), cadences, interval, self.settings.concurrency);
        self.drive(&mut schedule, &shutdown).await;
        let cadences = self.targets.iter().map(|t| t.key.clone()).zip(schedule.cadences().iter().copied());
        Cadences(cadences.collect())
    }

    /// The carried cadence of each target, or a first one: due now, its slot by its rank in
    /// its region.
    fn cadences_from(&self, carried: &Cadences, now: Instant) -> Vec<Cadence> {
        let mut per_lane = vec![0usize; self.lane_of.iter().max().map_or(0, |m| m + 1)];
        for lane in &self.lane_of {
            per_lane[*lane] += 1;
        }
        let mut rank = vec![0usize; per_lane.len()];
        self.targets
            .iter()
            .zip(&self.lane_of)
            .map(|(target, &lane)| {
                rank[lane] += 1;
                carried.0.get(&target.key).copied().unwrap_or_else(|| {
                    Cadence::first(now, self.settings.interval, rank[lane] - 1, per_lane[lane])
                })
            })
            .collect()
    }

    /// Starts whatever the schedule lets start, and takes the results, until `shutdown` or, for
    /// a one-pass schedule, until every target has been listed.
    async fn drive(self: &Arc<Self>, schedule: &mut Schedule, shutdown: &CancellationToken) -> CycleReport {
        let mut report = CycleReport::default();
        let mut listings = JoinSet::new();
        let mut running: HashMap<tokio::task::Id, (usize, Instant)> = HashMap::new();
        let mut round = Round::new(self.targets.len(), Instant::now(), self.calls());
        let mut falling_behind = false;
        let mut expiry = tokio::time::interval(EXPIRY_CHECK);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if round.is_complete() {
            self.end_round(&mut round, &mut falling_behind);
        }
        loop {
            let now = Instant::now();
            schedule.promote_due(now);
            while let Some(start) = schedule.next_start() {
                self.note_lag(&mut round, start, now, &mut falling_behind);
                let (poller, target) = (Arc::clone(self), Arc::clone(&self.targets[start.target]));
                let handle = listings.spawn(async move { poller.list(&target).await });
                running.insert(handle.id(), (start.target, now));
            }
            if schedule.is_idle() {
                break;
            }
            let wakeup = schedule.next_wakeup();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(joined) = listings.join_next_with_id() => {
                    let (id, outcome) = match joined {
                        Ok((id, outcome)) => (id, outcome),
                        Err(err) => {
                            tracing::error!(error = %err, "a listing ended abnormally");
                            (err.id(), Outcome::Failed)
                        }
                    };
                    let Some((target, started)) = running.remove(&id) else { continue };
                    schedule.finished(target, started);
                    report.add(outcome);
                    if round.attempted(target) {
                        self.end_round(&mut round, &mut falling_behind);
                    }
                }
                _ = sleep_until_some(wakeup) => {}
                _ = expiry.tick() => self.expire_stale(),
            }
        }
        // Dropping the set aborts the listings still in flight.
        listings.shutdown().await;
        report
    }

    fn note_lag(&self, round: &mut Round, start: Start, now: Instant, falling_behind: &mut bool) {
        let lag = now.saturating_duration_since(start.due);
        round.max_lag = round.max_lag.max(lag);
        if lag > self.settings.interval && !*falling_behind {
            *falling_behind = true;
            tracing::warn!(
                lag_seconds = lag.as_secs_f64(),
                poll_interval = ?self.settings.interval,
                "polling cannot keep up with poll_interval: listings start more than an interval late; raise rate_limit_per_region or concurrency, or poll_interval (aliyun_dbs_poll_lag_seconds)"
            );
        }
    }

    fn end_round(&self, round: &mut Round, falling_behind: &mut bool) {
        let now = Instant::now();
        let calls = self.calls();
        let report = RoundReport {
            duration_seconds: (now - round.started).as_secs_f64(),
            api_calls: calls - round.calls_at_start,
            lag_seconds: round.max_lag.as_secs_f64(),
        };
        self.store.record_round(report);
        self.failures.summarise();
        self.expire_stale();
        if *falling_behind && round.max_lag <= self.settings.interval / 2 {
            *falling_behind = false;
            tracing::info!("polling keeps up with poll_interval again");
        }
        tracing::debug!(
            seconds = report.duration_seconds,
            calls = report.api_calls,
            lag_seconds = report.lag_seconds,
            "round over every target done"
        );
        *round = Round::new(self.targets.len(), now, calls);
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn expire_stale(&self) {
        let expired = self.store.expire_stale(SystemTime::now(), self.settings.max_staleness);
        for key in expired {
            tracing::info!(listing = %key, max_staleness = ?self.settings.max_staleness, "stale task counts of a failing listing removed");
        }
    }

    /// One listing of one target, its outcome written to the store.
    async fn list(&self, target: &Target) -> Outcome {
        let now = SystemTime::now();
        let options = self.settings.list_options(std::time::Instant::now());
        let query = DownloadTaskQuery {
            start_time_ms: Some(unix_ms(
                now.checked_sub(self.settings.lookback).unwrap_or(SystemTime::UNIX_EPOCH),
            )),
            end_time_ms: Some(unix_ms(now)),
            ..target.query.clone()
        };
        let observer = PacedCalls { poller: self, region_id: &target.key.instance.region_id };
        match target.client.list_task_summaries(&target.endpoint, &query, options, &observer).await {
            Ok(listing) => {
                let (transition, changes) = self.store.record_listing(&target.key, &listing.tasks, now);
                self.failures.succeeded(&target.key, transition);
                self.observe_durations(&target.key, &changes, now);
                tracing::debug!(listing = %target.key, tasks = listing.tasks.len(), pages = listing.pages, duplicates = listing.duplicates, "listed");
                Outcome::Succeeded
            }
            Err(err) => {
                let error = ListingError {
                    code: err.metric_label(),
                    message: Arc::from(bounded(err.to_string(), MAX_ERROR_MESSAGE)),
                    hint: failures::hint(&err),
                };
                let transition = self.store.record_failure(&target.key, error);
                self.failures.failed(&target.key, &target.endpoint, &err, transition);
                Outcome::Failed
            }
        }
    }

    /// Tasks seen ending since the last listing: from their creation to this poll.
    fn observe_durations(&self, key: &TargetKey, changes: &Changes, polled: SystemTime) {
        let polled_ms = unix_ms(polled);
        for (state, created_ms) in &changes.completed {
            let Some(created_ms) = created_ms else { continue };
            let seconds = polled_ms.saturating_sub(*created_ms) as f64 / 1000.0;
            self.metrics.observe_task_duration(
                &key.instance.region_id,
                key.task_type,
                state.as_str(),
                seconds,
            );
        }
    }
}

/// Error texts kept for the status page are cut here: some quote a whole request.
const MAX_ERROR_MESSAGE: usize = 400;

fn bounded(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The targets not yet listed in the current round over every target.
#[derive(Debug)]
struct Round {
    started: Instant,
    listed: Vec<bool>,
    pending: usize,
    max_lag: Duration,
    calls_at_start: u64,
}

impl Round {
    fn new(targets: usize, started: Instant, calls_at_start: u64) -> Self {
        Round {
            started,
            listed: vec![false; targets],
            pending: targets,
            max_lag: Duration::ZERO,
            calls_at_start,
        }
    }

    /// Marks a target listed; true when it was the last of the round.
    fn attempted(&mut self, target: usize) -> bool {
        if !std::mem::replace(&mut self.listed[target], true) {
            self.pending -= 1;
            return self.pending == 0;
        }
        false
    }

    fn is_complete(&self) -> bool {
        self.pending == 0
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Paces each call of a listing by its region and counts it.
struct PacedCalls<'a> {
    poller: &'a Poller,
    region_id: &'a str,
}

impl CallObserver<Page<TaskSummary>, ApiError> for PacedCalls<'_> {
    fn before_call(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = CallSlot> + Send + '_>> {
        Box::pin(
            async move { Some(Box::new(self.poller.pacer.call_slot(self.region_id).await) as Box<dyn Send>) },
        )
    }

    fn on_call(&self, elapsed: Duration, outcome: Result<&Page<TaskSummary>, &ApiError>) {
        self.poller.calls.fetch_add(1, Ordering::Relaxed);
        self.poller.metrics.observe_call(self.region_id, elapsed, outcome.err());
    }
}

#[cfg(test)]
mod tests;
