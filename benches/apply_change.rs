//! Applying a discovery refresh (issue 19): the time and the heap allocations of
//! `Pipeline::apply` at the estate a user runs (`discovery: {}` over 20 regions x 500
//! instances, every engine, task types full and pitr: 10,000 instances, 20,000 targets; rate
//! limit and concurrency at their defaults), for the first refresh (the whole estate) and for
//! refreshes that change nothing, one instance or one tag. The ratio of each case to the first
//! one shows whether applying a change costs in proportion to the change or to the estate.
//!
//! Before the change cases each pipeline polls its 20,000 targets once against the simulator
//! in a child process (about 100 s at `rate_limit_per_region: 10`), so the store holds a state
//! per target as in a running daemon (`Store::publish` walks it). The refresh handed to `apply`
//! is built before the clock starts (in the daemon the list calls build it); the target set
//! the pipeline held before is kept alive across `apply`, as the poller keeps it until it takes
//! the new one.
//!
//! `cargo bench --bench apply_change`; DBS_BENCH_REPS sets the repetitions of each case
//! (default 20), DBS_BENCH_POLL=0 skips the poll (an empty store).

mod support;

use std::alloc::{GlobalAlloc, Layout as AllocLayout};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dbs_exporter::api::{ClientOptions, DbsClient};
use dbs_exporter::app::Pipeline;
use dbs_exporter::config::{self, Config};
use dbs_exporter::credentials::{Credentials, StaticCredentials};
use dbs_exporter::discovery::{DiscoveredInstance, Engine};
use dbs_exporter::inventory::{Inventory, Refresh, SourceKey};
use dbs_exporter::poller::{targets_of, Target};
use dbs_exporter::store::model::{QueryId, TargetKey, TaskAggregate, IMPLICIT_ACCOUNT};
use dbs_exporter::store::{Attempt, Generation, InstanceRow, InstanceTable, Layout, Store, Summary};
use support::{instance, region, serve_if_simulator, setting, Estate, SimProcess, KEY_ID, SECRET};

/// The binary's allocator (src/main.rs), counting the allocations of the thread that measures.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    if MEASURING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to mimalloc as it came; counting allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        mimalloc::MiMalloc.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        mimalloc::MiMalloc.alloc_zeroed(layout)
    }

    /// Counted as one allocation of the new size.
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        note(new_size);
        mimalloc::MiMalloc.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        mimalloc::MiMalloc.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One measured call: its wall time and what it allocated on this thread.
#[derive(Clone, Copy, Debug)]
struct Sample {
    took: Duration,
    allocations: u64,
    bytes: u64,
}

fn measure<R>(f: impl FnOnce() -> R) -> (R, Sample) {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    BYTES.store(0, Ordering::Relaxed);
    MEASURING.with(|m| m.set(true));
    let started = Instant::now();
    let result = f();
    let took = started.elapsed();
    MEASURING.with(|m| m.set(false));
    let sample = Sample {
        took,
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
        bytes: BYTES.load(Ordering::Relaxed),
    };
    (result, sample)
}

/// The median time and the mean allocations of a case's samples.
#[derive(Clone, Copy, Debug)]
struct Figures {
    median: Duration,
    allocations: f64,
    bytes: f64,
}

fn figures(samples: &[Sample]) -> Figures {
    let mut times: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    times.sort();
    let n = samples.len() as f64;
    Figures {
        median: times[times.len() / 2],
        allocations: samples.iter().map(|s| s.allocations as f64).sum::<f64>() / n,
        bytes: samples.iter().map(|s| s.bytes as f64).sum::<f64>() / n,
    }
}

const REGIONS: u64 = 20;
const PER_REGION: u64 = 500;
/// The instance whose tags the tag cases change.
const TAGGED: (u64, u64) = (7, 123);

/// What a refresh finds besides the estate of 10,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    None,
    /// One more instance, in the first region.
    Added,
    /// Another value of `team` (a `tag_labels` key) on [`TAGGED`].
    Team,
    /// Another value of `owner` (neither a label nor a filter) on [`TAGGED`].
    Owner,
}

/// Instance `i` of region `r`: the engines in turn, each with a `team` and an `owner` tag.
fn discovered(r: u64, i: u64, change: Change) -> DiscoveredInstance {
    let tagged = (r, i) == TAGGED;
    let team = if tagged && change == Change::Team { "changed".to_string() } else { format!("t{}", i % 7) };
    let owner =
        if tagged && change == Change::Owner { "changed".to_string() } else { format!("o{}", i % 13) };
    DiscoveredInstance {
        instance_id: instance(r, i),
        engine: Engine::ALL[(i % 4) as usize],
        cluster_name: None,
        tags: vec![("team".to_string(), team), ("owner".to_string(), owner)],
    }
}

/// A refresh in which every source (20 regions x 4 engines) lists well.
fn refresh(change: Change) -> Refresh {
    let mut outcomes = Vec::new();
    for r in 0..REGIONS {
        let count = if r == 0 && change == Change::Added { PER_REGION + 1 } else { PER_REGION };
        for engine in Engine::ALL {
            let key = SourceKey { account: IMPLICIT_ACCOUNT.to_string(), region_id: region(r), engine };
            let found: Vec<DiscoveredInstance> =
                (0..count).map(|i| discovered(r, i, change)).filter(|d| d.engine == engine).collect();
            outcomes.push((key, Ok(found)));
        }
    }
    Refresh { outcomes, took: Duration::from_millis(500) }
}

fn config_of(discovery: &str, url: &str) -> Config {
    let mut text = format!("discovery: {discovery}\nregions:\n");
    for r in 0..REGIONS {
        text.push_str(&format!("  - region_id: {}\n    endpoint: {url}\n", region(r)));
    }
    config::parse(&text, "bench.yaml").unwrap()
}

fn pipeline(config: &Config) -> Pipeline {
    Pipeline::build_with(
        config,
        dbs_exporter::app::AccountCredentials::Shared(Arc::new(StaticCredentials::new(Credentials::new(
            KEY_ID, SECRET,
        )))),
        dbs_exporter::poller::Shard::default(),
        dbs_exporter::util::WallClock::System,
    )
    .unwrap()
}

/// `apply` of a refresh built beforehand, the previous target set kept alive meanwhile; the
/// sample, whether it changed and how many of the new set's targets are the previous ones.
fn apply(pipeline: &mut Pipeline, change: Change) -> (Sample, bool, usize) {
    let refresh = refresh(change);
    let before = pipeline.target_set();
    let (changed, sample) = measure(|| pipeline.apply(refresh));
    let after = pipeline.target_set();
    let previous: HashSet<*const Target> = before.targets.iter().map(Arc::as_ptr).collect();
    let kept = after.targets.iter().filter(|t| previous.contains(&Arc::as_ptr(t))).count();
    drop(before);
    (sample, changed, kept)
}

struct Row {
    case: &'static str,
    figures: Figures,
    /// The index of the row it is compared with.
    base: Option<usize>,
    note: String,
}

fn main() {
    serve_if_simulator();
    let reps = setting("DBS_BENCH_REPS", 20).max(1) as usize;
    let poll = setting("DBS_BENCH_POLL", 1) != 0;
    let sim = poll.then(|| {
        SimProcess::start(Estate {
            regions: REGIONS,
            instances: PER_REGION,
            tasks: 4,
            latency: Duration::ZERO,
        })
    });
    let url = sim.as_ref().map_or_else(|| "http://127.0.0.1:9".to_string(), |s| s.url.clone());
    let plain = config_of("{}", &url);
    let labelled = config_of("{tag_labels: [team]}", &url);
    println!(
        "apply_change: {REGIONS} regions x {PER_REGION} discovered instances (every engine), task types {:?}, \
         rate_limit_per_region {}, concurrency {}, {reps} repetitions per case, store {}",
        plain.task_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        plain.rate_limit_per_region,
        plain.concurrency,
        if poll { "filled by one poll" } else { "empty (DBS_BENCH_POLL=0)" }
    );
    let mut rows: Vec<Row> = Vec::new();

    // (a) The first refresh of a fresh pipeline: the whole estate.
    for (case, config) in
        [("a. first refresh: 10,000 instances", &plain), ("a'. the same, `tag_labels: [team]`", &labelled)]
    {
        let mut samples = Vec::new();
        let mut targets = 0;
        for _ in 0..reps {
            let mut fresh = pipeline(config);
            let (sample, changed, _) = apply(&mut fresh, Change::None);
            assert!(changed, "the first refresh publishes");
            targets = fresh.targets().len();
            samples.push(sample);
        }
        rows.push(Row { case, figures: figures(&samples), base: None, note: format!("{targets} targets") });
    }
    let base_plain = 0;
    let base_labelled = 1;

    let mut plain_pipeline = pipeline(&plain);
    let mut labelled_pipeline = pipeline(&labelled);
    assert!(plain_pipeline.apply(refresh(Change::None)));
    assert!(labelled_pipeline.apply(refresh(Change::None)));
    if poll {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let started = Instant::now();
        let (first, second) = runtime
            .block_on(async { tokio::join!(plain_pipeline.poll_once(), labelled_pipeline.poll_once()) });
        assert_eq!((first.failed, second.failed), (0, 0), "every listing must succeed");
        println!(
            "polled {} + {} targets in {:.1} s before the change cases",
            first.succeeded,
            second.succeeded,
            started.elapsed().as_secs_f64()
        );
    }

    // (b) Nothing changed.
    let mut samples = Vec::new();
    for _ in 0..reps {
        let (sample, changed, _) = apply(&mut plain_pipeline, Change::None);
        assert!(!changed, "an unchanged refresh publishes nothing");
        samples.push(sample);
    }
    rows.push(Row {
        case: "b. nothing changed",
        figures: figures(&samples),
        base: Some(base_plain),
        note: "unchanged".into(),
    });

    // (c) One instance more; (d) the same instance missing twice (dropped at the second).
    let (mut added, mut missed_once, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    let (mut kept_added, mut kept_removed) = (0, 0);
    for _ in 0..reps {
        let (sample, changed, kept) = apply(&mut plain_pipeline, Change::Added);
        assert!(changed && plain_pipeline.targets().len() == 20_002, "one instance added");
        added.push(sample);
        kept_added = kept;
        let (sample, changed, _) = apply(&mut plain_pipeline, Change::None);
        assert!(!changed, "one miss keeps the instance");
        missed_once.push(sample);
        let (sample, changed, kept) = apply(&mut plain_pipeline, Change::None);
        assert!(changed && plain_pipeline.targets().len() == 20_000, "two misses drop it");
        removed.push(sample);
        kept_removed = kept;
    }
    rows.push(Row {
        case: "c. one instance added",
        figures: figures(&added),
        base: Some(base_plain),
        note: format!("published; {kept_added} of 20,002 targets kept"),
    });
    rows.push(Row {
        case: "d1. that instance missing once",
        figures: figures(&missed_once),
        base: Some(base_plain),
        note: "unchanged (kept)".into(),
    });
    rows.push(Row {
        case: "d. missing twice: removed",
        figures: figures(&removed),
        base: Some(base_plain),
        note: format!("published; {kept_removed} of 20,000 targets kept"),
    });

    // (b') Nothing changed, with a tag label.
    let mut samples = Vec::new();
    for _ in 0..reps {
        let (sample, changed, _) = apply(&mut labelled_pipeline, Change::None);
        assert!(!changed);
        samples.push(sample);
    }
    rows.push(Row {
        case: "b'. nothing changed, `tag_labels: [team]`",
        figures: figures(&samples),
        base: Some(base_labelled),
        note: "unchanged".into(),
    });

    // (e) A `tag_labels` value of one instance, changed and changed back in turn.
    let mut samples = Vec::new();
    let mut kept_team = 0;
    for rep in 0..reps {
        let change = if rep % 2 == 0 { Change::Team } else { Change::None };
        let (sample, changed, kept) = apply(&mut labelled_pipeline, change);
        assert!(changed, "a tag label's value is a change");
        samples.push(sample);
        kept_team = kept;
    }
    if reps % 2 == 1 {
        assert!(labelled_pipeline.apply(refresh(Change::None)));
    }
    rows.push(Row {
        case: "e. one `team` tag value changed",
        figures: figures(&samples),
        base: Some(base_labelled),
        note: format!("published; {kept_team} of 20,000 targets kept"),
    });

    // (f) A tag that neither labels nor filters, changed and changed back in turn.
    let mut samples = Vec::new();
    for rep in 0..reps {
        let change = if rep % 2 == 0 { Change::Owner } else { Change::None };
        let (sample, changed, _) = apply(&mut labelled_pipeline, change);
        assert!(!changed, "a tag that is not shown is no change");
        samples.push(sample);
    }
    rows.push(Row {
        case: "f. one `owner` tag value changed",
        figures: figures(&samples),
        base: Some(base_labelled),
        note: "unchanged".into(),
    });

    println!();
    println!("`Pipeline::apply`, median time and mean heap allocations per apply (ratio to a/a'):");
    println!();
    println!("| case | time (median) | / a | allocations | / a | bytes allocated | / a | outcome |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        let f = row.figures;
        let ratio = |value: f64, of: fn(&Figures) -> f64| match row.base {
            Some(base) => format!("{:.3}", value / of(&rows[base].figures)),
            None => "1".to_string(),
        };
        println!(
            "| {} | {:.2} ms | {} | {:.0} | {} | {} | {} | {} |",
            row.case,
            f.median.as_secs_f64() * 1e3,
            ratio(f.median.as_secs_f64(), |f| f.median.as_secs_f64()),
            f.allocations,
            ratio(f.allocations, |f| f.allocations),
            mib(f.bytes),
            ratio(f.bytes, |f| f.bytes),
            row.note
        );
    }

    breakdown(&plain, &plain_pipeline, reps);
}

fn mib(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", bytes / 1024.0)
    }
}

/// The parts of `apply` the crate lets one call alone, each over the whole estate: the first
/// three run on every refresh, the others only when it publishes.
fn breakdown(config: &Config, pipeline: &Pipeline, reps: usize) {
    let mut inventory = Inventory::new(config);
    let take = |inventory: &mut Inventory, refresh: Refresh| {
        for (key, outcome) in &refresh.outcomes {
            inventory.apply(key, outcome.as_deref());
        }
    };
    take(&mut inventory, refresh(Change::None));
    let provider = Arc::new(StaticCredentials::new(Credentials::new(KEY_ID, SECRET)));
    let client = DbsClient::new(ClientOptions::default(), provider).unwrap();
    let previous = pipeline.target_set();
    let keys: Vec<TargetKey> = previous.targets.iter().map(|t| t.key.clone()).collect();
    let polled = pipeline.inventory().instances(config);
    let generation = |number| Generation {
        number,
        targets: keys.clone(),
        layout: Layout {
            task_types: config.task_types.clone(),
            instances: Arc::new(InstanceTable {
                tag_labels: Vec::new(),
                rows: polled
                    .iter()
                    .map(|p| InstanceRow {
                        instance: p.key(),
                        engine: p.engine.map(Engine::as_str),
                        tag_values: Vec::new().into(),
                    })
                    .collect(),
            }),
            ..Layout::default()
        },
        summary: Summary::default(),
        events_keep: config.events_keep,
    };
    // A store holding a state per target, as after a poll.
    let store = Store::with_generation(generation(1));
    for key in &keys {
        let attempt = Attempt { key, generation: 1, asked: QueryId::default() };
        store.record_success(&attempt, TaskAggregate::from_tasks(&[]), SystemTime::now()).unwrap();
    }
    let mut parts: Vec<(&str, Vec<Sample>)> = [
        "`Inventory::apply` of the 80 unchanged lists (the refresh dropped in it)",
        "`Inventory::instances`: the 10,000 polled instances",
        "`Vec<PolledInstance> ==`: the comparison with the last ones",
        "`targets_of`: 20,000 targets built",
        "the reuse map of the previous 20,000 targets, and a look-up per new one",
        "dropping the 20,000 targets built in the place of which the previous ones are kept",
        "`Store::publish` of 20,000 targets onto a store holding a state for each",
    ]
    .into_iter()
    .map(|part| (part, Vec::new()))
    .collect();
    for rep in 0..reps {
        let unchanged = refresh(Change::None);
        parts[0].1.push(measure(|| take(&mut inventory, unchanged)).1);
        let (now, sample) = measure(|| pipeline.inventory().instances(config));
        parts[1].1.push(sample);
        let (equal, sample) = measure(|| now == polled);
        assert!(equal);
        parts[2].1.push(sample);
        let (built, sample) = measure(|| targets_of(&now, config, &|_| client.clone()));
        assert_eq!(built.len(), 20_000);
        parts[3].1.push(sample);
        let (found, sample) = measure(|| {
            let reused: HashMap<_, _> = previous.targets.iter().map(|t| (&t.key, t)).collect();
            built.iter().filter(|t| reused.contains_key(&t.key)).count()
        });
        assert_eq!(found, 20_000);
        parts[4].1.push(sample);
        parts[5].1.push(measure(|| drop(built)).1);
        let next = generation(rep as u64 + 2);
        parts[6].1.push(measure(|| store.publish(next)).1);
    }
    println!();
    println!("Its parts over the whole estate, each alone (median time, mean allocations):");
    println!();
    println!("| part | time (median) | allocations | bytes allocated |");
    println!("| --- | --- | --- | --- |");
    for (part, samples) in &parts {
        let f = figures(samples);
        println!(
            "| {part} | {:.2} ms | {:.0} | {} |",
            f.median.as_secs_f64() * 1e3,
            f.allocations,
            mib(f.bytes)
        );
    }
}
