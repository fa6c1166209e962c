//! The exposition under hostile names: whatever the region ids, instance ids and task states
//! (quotes, backslashes, line breaks, unicode), a scrape is valid Prometheus text format, read
//! here by a strict reader, and every value read back equals what the tasks add up to.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::sample::select;

use dbs_exporter::api::{DownloadState, DownloadTask, TaskSummary, TaskType};
use dbs_exporter::metrics::ExporterMetrics;
use dbs_exporter::render::Exposition;
use dbs_exporter::store::model::{InstanceKey, QueryId, TargetKey, TaskAggregate};
use dbs_exporter::store::{Attempt, Generation, RoundReport, Store};

use crate::support::exposition_text;
use crate::support::prom_text::{self, Family, Sample};

const TASK_FAMILIES: [&str; 4] = [
    "aliyun_dbs_download_tasks",
    "aliyun_dbs_download_export_bytes",
    "aliyun_dbs_download_import_bytes",
    "aliyun_dbs_download_oldest_task_created_timestamp_seconds",
];

/// A task series: `(family, region id, instance id, task type, state)`.
type SeriesKey = (String, String, String, String, String);
/// An instance's health: `up`, and when all its task types had last succeeded (ms).
type Health = BTreeMap<(String, String), (u128, Option<u128>)>;

/// One listed task, as far as the exposition cares.
#[derive(Clone, Debug)]
struct Task {
    state: String,
    export_bytes: u64,
    import_bytes: u64,
    created_ms: Option<u64>,
}

impl Task {
    fn to_download_task(&self, task_type: TaskType) -> DownloadTask {
        DownloadTask {
            export_bytes: self.export_bytes,
            import_bytes: self.import_bytes,
            created_at_ms: self.created_ms,
            ..DownloadTask::new(String::new(), Some(task_type), DownloadState::parse(&self.state))
        }
    }
}

/// What happened to one target (instance and task type).
#[derive(Clone, Debug)]
enum Outcome {
    /// Listed at `at_ms`; when `then_failed`, the next listing failed with that label.
    Listed { tasks: Vec<Task>, at_ms: u64, then_failed: Option<&'static str> },
    /// Never listed successfully.
    Failed(&'static str),
}

#[derive(Clone, Debug)]
struct Scenario {
    /// Per instance (region id, instance id): the outcome of each of its task types.
    instances: BTreeMap<(String, String), BTreeMap<TaskType, Outcome>>,
    layout: Vec<TaskType>,
    /// Targets of the generation that have not been listed yet (beside those in `instances`).
    pending_targets: usize,
    cycle: Option<(f64, u64)>,
}

/// Label values that the text format must escape, or that merely look odd.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9-]{1,12}",
        "[a-z\"\\\\\n\r\t{}=,# \u{e9}\u{1F600}\u{2028}]{0,8}",
        "\\PC{0,8}",
        select(vec!["", "\\", "\"", "\\n", "\n", "a\"}b 1\n# TYPE x gauge", "instance", "le"])
            .prop_map(String::from),
    ]
}

fn state_spelling() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec!["finished", "FAILED", "queuing", "Queueing", " running ", "Initializing", "expired"])
            .prop_map(String::from),
        hostile_text(),
    ]
}

fn bytes() -> impl Strategy<Value = u64> {
    // Large values too, so that sums saturate rather than wrap.
    prop_oneof![4 => 0u64..1_000_000, 1 => any::<u64>(), 1 => Just(u64::MAX)]
}

fn task() -> impl Strategy<Value = Task> {
    (
        state_spelling(),
        bytes(),
        bytes(),
        prop::option::of(prop_oneof![0u64..10_000, 1_600_000_000_000u64..1_800_000_000_000, any::<u64>()]),
    )
        .prop_map(|(state, export_bytes, import_bytes, created_ms)| Task {
            state,
            export_bytes,
            import_bytes,
            created_ms,
        })
}

fn error_label() -> impl Strategy<Value = &'static str> {
    select(vec!["throttled", "auth", "server", "transport", "decode", "page_cap"])
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => (prop::collection::vec(task(), 0..12), 0u64..4_000_000_000_000, prop::option::of(error_label()))
            .prop_map(|(tasks, at_ms, then_failed)| Outcome::Listed { tasks, at_ms, then_failed }),
        1 => error_label().prop_map(Outcome::Failed),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let targets = prop::collection::btree_map(select(TaskType::ALL.to_vec()), outcome(), 1..=2);
    (
        prop::collection::btree_map((hostile_text(), hostile_text()), targets, 0..4),
        select(vec![vec![TaskType::Full], vec![TaskType::Pitr], TaskType::ALL.to_vec()]),
        0usize..100,
        prop::option::of((prop_oneof![0.0f64..1e4, Just(1e-300), Just(0.0)], any::<u64>())),
    )
        .prop_map(|(instances, layout, pending_targets, cycle)| Scenario {
            instances,
            layout,
            pending_targets,
            cycle,
        })
}

impl Scenario {
    fn regions(&self) -> BTreeSet<&str> {
        self.instances.keys().map(|(region, _)| region.as_str()).collect()
    }

    fn keys(&self) -> impl Iterator<Item = (TargetKey, &Outcome)> {
        self.instances.iter().flat_map(|((region, instance), targets)| {
            targets.iter().map(move |(task_type, outcome)| {
                (TargetKey { instance: InstanceKey::new(region, instance), task_type: *task_type }, outcome)
            })
        })
    }

    /// Every target of the generation: those listed, and the pending ones.
    fn target_count(&self) -> usize {
        self.keys().count() + self.pending_targets
    }

    fn exposition(&self) -> String {
        let pending = (0..self.pending_targets).map(|i| TargetKey {
            instance: InstanceKey::new("pending-region", &format!("pending-{i}")),
            task_type: TaskType::Full,
        });
        let mut generation =
            Generation::of_targets(1, self.keys().map(|(key, _)| key).chain(pending).collect());
        generation.layout.task_types = self.layout.clone();
        let store = Store::with_generation(generation);
        for (target, outcome) in self.keys() {
            let task_type = &target.task_type;
            let key = Attempt { key: &target, generation: 1, asked: QueryId::default() };
            match outcome {
                Outcome::Listed { tasks, at_ms, then_failed } => {
                    let listed: Vec<TaskSummary> =
                        tasks.iter().map(|t| t.to_download_task(*task_type).summary()).collect();
                    let at = UNIX_EPOCH + Duration::from_millis(*at_ms);
                    store.record_success(&key, TaskAggregate::from_tasks(&listed), at);
                    if let Some(label) = then_failed {
                        store.record_failure(&key, *label);
                    }
                }
                Outcome::Failed(label) => {
                    store.record_failure(&key, *label);
                }
            }
        }
        if let Some((seconds, calls)) = self.cycle {
            store.record_round(RoundReport { duration_seconds: seconds, api_calls: calls, lag_seconds: 0.0 });
        }
        let metrics = ExporterMetrics::new(self.regions());
        exposition_text(&Exposition::new(Arc::new(store), metrics))
    }

    /// `(family, region, instance, task type, state)` to the exact value each task series must
    /// have, computed from the tasks themselves. Values are integers, or milliseconds for the
    /// timestamp family.
    fn expected_task_series(&self) -> BTreeMap<SeriesKey, u128> {
        let mut expected = BTreeMap::new();
        for ((region, instance), targets) in &self.instances {
            for (task_type, outcome) in targets {
                let Outcome::Listed { tasks, .. } = outcome else { continue };
                let mut by_state: BTreeMap<String, (u64, u64, u64, Option<u64>)> =
                    DownloadState::KNOWN.iter().map(|s| (s.as_str().to_string(), (0, 0, 0, None))).collect();
                for task in tasks {
                    let totals =
                        by_state.entry(DownloadState::parse(&task.state).as_str().to_string()).or_default();
                    totals.0 += 1;
                    totals.1 = totals.1.saturating_add(task.export_bytes);
                    totals.2 = totals.2.saturating_add(task.import_bytes);
                    totals.3 = match (totals.3, task.created_ms) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                for (state, (count, export, import, oldest)) in by_state {
                    let key = |family: &str| {
                        (
                            family.to_string(),
                            region.clone(),
                            instance.clone(),
                            task_type.as_str().to_string(),
                            state.clone(),
                        )
                    };
                    expected.insert(key(TASK_FAMILIES[0]), u128::from(count));
                    // Tasks that have not started have no bytes series (zero by construction).
                    if !matches!(state.as_str(), "initializing" | "queueing") {
                        expected.insert(key(TASK_FAMILIES[1]), u128::from(export));
                        expected.insert(key(TASK_FAMILIES[2]), u128::from(import));
                    }
                    if let Some(oldest) = oldest {
                        expected.insert(key(TASK_FAMILIES[3]), u128::from(oldest));
                    }
                }
            }
        }
        expected
    }

    /// Per instance: up, and the last moment every expected type had succeeded (ms).
    fn expected_health(&self) -> Health {
        self.instances
            .iter()
            // An instance whose task types have not all had an attempt is neither up nor down.
            .filter(|(_, targets)| self.layout.iter().all(|t| targets.contains_key(t)))
            .map(|(instance, targets)| {
                let outcome = |t: &TaskType| targets.get(t);
                let up = self
                    .layout
                    .iter()
                    .all(|t| matches!(outcome(t), Some(Outcome::Listed { then_failed: None, .. })));
                let successes: Option<Vec<u64>> = self
                    .layout
                    .iter()
                    .map(|t| match outcome(t) {
                        Some(Outcome::Listed { at_ms, .. }) => Some(*at_ms),
                        _ => None,
                    })
                    .collect();
                let last_success = successes.and_then(|at| at.into_iter().min()).map(u128::from);
                (instance.clone(), (u128::from(up), last_success))
            })
            .collect()
    }
}

/// A value as written, in thousandths, when it is exactly a whole number of thousandths.
fn exact_thousandths(text: &str) -> Option<u128> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (kept, rest) = fraction.split_at(fraction.len().min(3));
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let kept: u128 = format!("{kept:0<3}").parse().ok()?;
    whole.parse::<u128>().ok()?.checked_mul(1000)?.checked_add(kept)
}

/// An integer value as written, exactly.
fn exact_integer(text: &str) -> Option<u128> {
    exact_thousandths(text).filter(|t| t % 1000 == 0).map(|t| t / 1000)
}

fn family<'a>(families: &'a [Family], name: &str) -> Result<&'a Family, TestCaseError> {
    families.iter().find(|f| f.name == name).ok_or_else(|| TestCaseError::fail(format!("no family {name}")))
}

fn instance_of(sample: &Sample) -> (String, String) {
    (
        sample.label("region_id").unwrap_or_default().to_string(),
        sample.label("instance_id").unwrap_or_default().to_string(),
    )
}

fn label_names(sample: &Sample) -> Vec<&str> {
    sample.labels.iter().map(|(name, _)| name.as_str()).collect()
}

/// The four task families, read back: `(family, region, instance, task type, state)` to value.
fn read_task_series(families: &[Family]) -> Result<BTreeMap<SeriesKey, u128>, TestCaseError> {
    let mut task_series = BTreeMap::new();
    for name in TASK_FAMILIES {
        let family = family(families, name)?;
        prop_assert_eq!(family.kind.as_str(), "gauge");
        for sample in &family.samples {
            prop_assert_eq!(label_names(sample), ["region_id", "instance_id", "task_type", "state"]);
            let (region, instance) = instance_of(sample);
            let label = |name: &str| sample.label(name).unwrap_or_default().to_string();
            let key = (name.to_string(), region, instance, label("task_type"), label("state"));
            let value = if name == TASK_FAMILIES[3] {
                exact_thousandths(&sample.value)
            } else {
                exact_integer(&sample.value)
            };
            let value =
                value.ok_or_else(|| TestCaseError::fail(format!("{name}: {} is not exact", sample.value)))?;
            prop_assert!(task_series.insert(key, value).is_none());
        }
    }
    Ok(task_series)
}

/// `aliyun_dbs_up` and `aliyun_dbs_last_success_timestamp_seconds`, read back per instance.
fn read_health(families: &[Family]) -> Result<Health, TestCaseError> {
    let mut health = BTreeMap::new();
    for sample in &family(families, "aliyun_dbs_up")?.samples {
        prop_assert_eq!(label_names(sample), ["region_id", "instance_id"]);
        health.insert(instance_of(sample), (exact_integer(&sample.value).unwrap_or(u128::MAX), None));
    }
    for sample in &family(families, "aliyun_dbs_last_success_timestamp_seconds")?.samples {
        let entry = health
            .get_mut(&instance_of(sample))
            .ok_or_else(|| TestCaseError::fail("a last success without up"))?;
        entry.1 = exact_thousandths(&sample.value);
        prop_assert!(entry.1.is_some(), "{}", sample.value);
    }
    Ok(health)
}

fn check_exposition(scenario: &Scenario) -> Result<(), TestCaseError> {
    let text = scenario.exposition();
    let families = prom_text::parse(&text).map_err(|err| TestCaseError::fail(format!("{err}\n{text}")))?;

    prop_assert_eq!(read_task_series(&families)?, scenario.expected_task_series());
    prop_assert_eq!(read_health(&families)?, scenario.expected_health());

    let targets = &family(&families, "aliyun_dbs_targets")?.samples;
    prop_assert_eq!(targets.len(), 1);
    prop_assert_eq!(exact_integer(&targets[0].value), Some(scenario.target_count() as u128));

    match scenario.cycle {
        Some((seconds, calls)) => {
            let duration = &family(&families, "aliyun_dbs_poll_duration_seconds")?.samples;
            prop_assert_eq!(duration[0].float(), seconds);
            let api_calls = &family(&families, "aliyun_dbs_api_calls_per_cycle")?.samples;
            prop_assert_eq!(exact_integer(&api_calls[0].value), Some(u128::from(calls)));
        }
        None => prop_assert!(!families.iter().any(|f| f.name == "aliyun_dbs_poll_duration_seconds")),
    }

    // The exporter's own series exist for every region from the start, at zero (with no
    // region there is no series, and the client library then leaves the family out).
    let requests = families
        .iter()
        .find(|f| f.name == "aliyun_dbs_api_requests_total")
        .map_or(&[][..], |f| &f.samples[..]);
    let regions: BTreeSet<&str> = requests.iter().filter_map(|s| s.label("region_id")).collect();
    prop_assert_eq!(regions, scenario.regions());
    prop_assert!(requests.iter().all(|s| s.value == "0"));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_exposition_is_valid_text_format_and_reads_back_as_the_aggregates(scenario in scenario()) {
        check_exposition(&scenario)?;
    }
}
