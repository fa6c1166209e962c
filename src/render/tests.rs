//! The series of a store and the cached exposition; the buffer and the text format have their
//! own tests beside them, and `tests/it/golden_exposition.rs` checks a whole exposition.

use std::sync::Arc;

use bytes::Bytes;
use std::time::{Duration, SystemTime};

use super::*;
use crate::api::{DownloadState, DownloadTask, TaskSummary, TaskType};
use crate::config::OptionalFamily;
use crate::metrics::ExporterMetrics;
use crate::store::model::{InstanceKey, QueryId, TargetKey, TaskAggregate};
use crate::store::{Attempt, Generation, RoundReport, Store};

fn task(state: &str, export: u64, created: u64) -> TaskSummary {
    DownloadTask {
        export_bytes: export,
        import_bytes: export / 2,
        created_at_ms: Some(created),
        ..DownloadTask::new(format!("dt-{created}"), Some(TaskType::Full), DownloadState::parse(state))
    }
    .summary()
}

/// A store whose generation is the one target [`key`], laid out with `metrics`.
fn store_with(metrics: crate::config::MetricsOptions) -> Store {
    let mut generation = Generation::of_targets(1, vec![key()]);
    generation.layout.metrics = metrics;
    Store::with_generation(generation)
}

fn one_target_store() -> Store {
    store_with(crate::config::MetricsOptions::default())
}

/// A listing of [`key`] in the first generation.
fn attempt(key: &TargetKey) -> Attempt<'_> {
    Attempt { key, generation: 1, asked: QueryId::default() }
}

fn rendered(store: &Store) -> String {
    store.read(|view, _| {
        let mut out = Rope::default();
        render_view(view, &mut out);
        String::from_utf8(out.into_chunks().concat()).unwrap()
    })
}

fn key() -> TargetKey {
    TargetKey { instance: InstanceKey::new("cn-hangzhou", "rm-1"), task_type: TaskType::Full }
}

/// The sample lines of an exposition, headers left out.
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|line| !line.starts_with('#')).collect()
}

/// The families of an exposition, in order, with their types.
fn types(text: &str) -> Vec<&str> {
    text.lines().filter_map(|line| line.strip_prefix("# TYPE ")).collect()
}

/// The task-series families every render has, whatever the store holds.
const ALWAYS: [&str; 10] = [
    "aliyun_dbs_download_tasks gauge",
    "aliyun_dbs_download_export_bytes gauge",
    "aliyun_dbs_download_import_bytes gauge",
    "aliyun_dbs_download_oldest_task_created_timestamp_seconds gauge",
    "aliyun_dbs_download_task_transitions_total counter",
    "aliyun_dbs_download_running_tables gauge",
    "aliyun_dbs_listing_error_info gauge",
    "aliyun_dbs_up gauge",
    "aliyun_dbs_last_success_timestamp_seconds gauge",
    "aliyun_dbs_targets gauge",
];

#[test]
fn counts_bytes_and_zeros_appear_with_their_labels() {
    let store = one_target_store();
    let aggregate =
        TaskAggregate::from_tasks(&[task("finished", 100, 1_700_000_000_123), task("Paused", 1, 5)]);
    store.record_success(
        &attempt(&key()),
        aggregate,
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
    );
    let text = rendered(&store);
    let target = "region_id=\"cn-hangzhou\",instance_id=\"rm-1\",task_type=\"full\"";
    let states = ["initializing", "queueing", "running", "failed", "finished", "expired", "paused"];
    let per_state = |name: &str, states: &[&str], values: &[&str]| -> Vec<String> {
        let lines = states.iter().zip(values);
        lines.map(|(state, value)| format!("{name}{{{target},state=\"{state}\"}} {value}")).collect()
    };
    // Tasks that have not started (initializing, queueing) have no bytes: no byte series.
    let started = &states[2..];
    let mut expected: Vec<String> = Vec::new();
    expected.extend(per_state("aliyun_dbs_download_tasks", &states, &["0", "0", "0", "0", "1", "0", "1"]));
    expected.extend(per_state("aliyun_dbs_download_export_bytes", started, &["0", "0", "100", "0", "1"]));
    expected.extend(per_state("aliyun_dbs_download_import_bytes", started, &["0", "0", "50", "0", "0"]));
    expected.extend([
        format!("aliyun_dbs_download_oldest_task_created_timestamp_seconds{{{target},state=\"finished\"}} 1700000000.123"),
        format!("aliyun_dbs_download_oldest_task_created_timestamp_seconds{{{target},state=\"paused\"}} 0.005"),
        format!("aliyun_dbs_download_running_tables{{{target},kind=\"exported\"}} 0"),
        format!("aliyun_dbs_download_running_tables{{{target},kind=\"total\"}} 0"),
        "aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-1\"} 1".into(),
        "aliyun_dbs_last_success_timestamp_seconds{region_id=\"cn-hangzhou\",instance_id=\"rm-1\"} 1700000000.500"
            .into(),
        "aliyun_dbs_targets 1".into(),
    ]);
    assert_eq!(samples(&text), expected, "{text}");
    assert_eq!(types(&text), ALWAYS, "each family declared once, in order, and no round yet");
}

#[test]
fn chosen_states_keep_their_series_the_rest_is_other_and_disabled_families_are_left_out() {
    let metrics = crate::config::MetricsOptions {
        disabled: vec![
            OptionalFamily::ImportBytes,
            OptionalFamily::Transitions,
            OptionalFamily::RunningTables,
        ],
        states: Some(vec![DownloadState::Finished]),
    };
    let store = store_with(metrics);
    let tasks = [task("finished", 100, 3_000), task("running", 7, 2_000), task("Paused", 1, 1_000)];
    store.record_success(&attempt(&key()), TaskAggregate::from_tasks(&tasks), SystemTime::UNIX_EPOCH);
    let text = rendered(&store);
    let target = "region_id=\"cn-hangzhou\",instance_id=\"rm-1\",task_type=\"full\"";
    let task_lines: Vec<&str> =
        samples(&text).into_iter().filter(|l| l.starts_with("aliyun_dbs_download")).collect();
    assert_eq!(
        task_lines,
        [
            format!("aliyun_dbs_download_tasks{{{target},state=\"finished\"}} 1"),
            format!("aliyun_dbs_download_tasks{{{target},state=\"other\"}} 2"),
            format!("aliyun_dbs_download_export_bytes{{{target},state=\"finished\"}} 100"),
            format!("aliyun_dbs_download_export_bytes{{{target},state=\"other\"}} 8"),
            format!("aliyun_dbs_download_oldest_task_created_timestamp_seconds{{{target},state=\"finished\"}} 3.000"),
            format!("aliyun_dbs_download_oldest_task_created_timestamp_seconds{{{target},state=\"other\"}} 1.000"),
        ],
        "{text}"
    );
    let families = types(&text);
    assert!(!families
        .iter()
        .any(|f| f.contains("import_bytes") || f.contains("transitions") || f.contains("running_tables")));
}

#[test]
fn a_target_that_never_succeeded_has_up_zero_and_no_task_series() {
    let store = one_target_store();
    store.record_failure(&attempt(&key()), "auth");
    let text = rendered(&store);
    assert_eq!(
        samples(&text),
        [
            "aliyun_dbs_listing_error_info{region_id=\"cn-hangzhou\",instance_id=\"rm-1\",task_type=\"full\",code=\"auth\"} 1",
            "aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-1\"} 0",
            "aliyun_dbs_targets 1",
        ],
        "{text}"
    );
    assert_eq!(types(&text), ALWAYS);
}

fn round(api_calls: u64) -> RoundReport {
    RoundReport { duration_seconds: 0.5, api_calls, lag_seconds: 0.25 }
}

#[test]
fn the_cache_renders_again_at_a_milestone_and_debounces_single_listings() {
    let store = Arc::new(one_target_store());
    let exposition = Exposition::new(store.clone(), ExporterMetrics::new(["cn-hangzhou"]))
        .with_debounce(Duration::from_secs(3600));
    let first = exposition.task_series();
    let second = exposition.task_series();
    assert_eq!(first[0].as_ptr(), second[0].as_ptr(), "an unchanged store must serve the same bytes");
    assert_eq!(samples(&String::from_utf8(first.concat()).unwrap()), ["aliyun_dbs_targets 1"]);
    store.record_failure(&attempt(&key()), "server");
    assert_eq!(exposition.task_series()[0].as_ptr(), first[0].as_ptr(), "a listing waits for the debounce");
    store.record_round(round(2));
    let third = exposition.task_series();
    assert_ne!(first, third);
    let third = String::from_utf8(third.concat()).unwrap();
    assert_eq!(
        samples(&third),
        [
            "aliyun_dbs_listing_error_info{region_id=\"cn-hangzhou\",instance_id=\"rm-1\",task_type=\"full\",code=\"server\"} 1",
            "aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-1\"} 0",
            "aliyun_dbs_targets 1",
            "aliyun_dbs_api_calls_per_cycle 2",
            "aliyun_dbs_poll_duration_seconds 0.5",
            "aliyun_dbs_poll_lag_seconds 0.25",
        ],
        "{third}"
    );
    assert_eq!(
        types(&third)[ALWAYS.len()..],
        [
            "aliyun_dbs_api_calls_per_cycle gauge",
            "aliyun_dbs_poll_duration_seconds gauge",
            "aliyun_dbs_poll_lag_seconds gauge"
        ]
    );
    // The exporter's own metrics follow the task series; their process figures vary, so only
    // the lines that do not are checked here.
    let body = String::from_utf8(exposition.body()).unwrap();
    assert!(body.starts_with(&third), "{body}");
    let own = samples(&body[third.len()..]);
    assert!(own.contains(&"aliyun_dbs_api_requests_total{region_id=\"cn-hangzhou\"} 0"), "{body}");
    assert!(own.iter().any(|line| line.starts_with("aliyun_dbs_exporter_build_info{")), "{body}");
}

#[test]
fn a_completed_listing_is_published_once_the_debounce_has_passed() {
    let store = Arc::new(one_target_store());
    let exposition =
        Exposition::new(store.clone(), ExporterMetrics::new(["cn-hangzhou"])).with_debounce(Duration::ZERO);
    let before = String::from_utf8(exposition.task_series().concat()).unwrap();
    assert_eq!(samples(&before), ["aliyun_dbs_targets 1"]);
    store.record_failure(&attempt(&key()), "server");
    let text = String::from_utf8(exposition.task_series().concat()).unwrap();
    assert_eq!(
        samples(&text),
        [
            "aliyun_dbs_listing_error_info{region_id=\"cn-hangzhou\",instance_id=\"rm-1\",task_type=\"full\",code=\"server\"} 1",
            "aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-1\"} 0",
            "aliyun_dbs_targets 1",
        ],
        "{text}"
    );
    assert_eq!(types(&text), ALWAYS, "no round has ended yet");
    assert!(!exposition.ready());
}

#[test]
fn a_gzip_scrape_decodes_to_the_plain_one_and_its_task_part_is_compressed_once() {
    use std::io::Read as _;
    let store = Arc::new(one_target_store());
    let aggregate = TaskAggregate::from_tasks(&[task("finished", 100, 1_700_000_000_123)]);
    store.record_success(&attempt(&key()), aggregate, SystemTime::now());
    store.record_round(round(1));
    let exposition = Exposition::new(store, ExporterMetrics::new(["cn-hangzhou"]));
    let zipped = exposition.scrape(true);
    assert!(zipped.gzip);
    let mut decoded = String::new();
    let zipped: Vec<Bytes> = zipped.collect();
    flate2::read::MultiGzDecoder::new(&zipped.concat()[..]).read_to_string(&mut decoded).unwrap();
    let plain = String::from_utf8(exposition.body()).unwrap();
    let strip_own = |text: &str| text.split("# HELP aliyun_dbs_api").next().unwrap().to_string();
    assert_eq!(strip_own(&decoded), strip_own(&plain));
    assert!(plain.starts_with(&String::from_utf8(exposition.task_series().concat()).unwrap()));
    assert!(decoded.contains("aliyun_dbs_api_requests_total"));
    let again: Vec<Bytes> = exposition.scrape(true).collect();
    assert_eq!(again[0].as_ptr(), zipped[0].as_ptr(), "the task part is gzipped once per render");
}

fn listed_store() -> Arc<Store> {
    let store = Arc::new(one_target_store());
    let aggregate =
        TaskAggregate::from_tasks(&[task("finished", 100, 1_700_000_000_123), task("running", 7, 5)]);
    store.record_success(&attempt(&key()), aggregate, SystemTime::now());
    store.record_round(round(1));
    store
}

#[test]
fn a_render_above_the_plain_limit_keeps_only_gzip_and_plain_scrapes_inflate_it_to_the_same_text() {
    use std::io::Read as _;
    let metrics = ExporterMetrics::new(["cn-hangzhou"]);
    let kept = Exposition::new(listed_store(), metrics.clone());
    let zipped_only = Exposition::new(listed_store(), metrics).with_plain_kept_up_to(0);
    let text = String::from_utf8(kept.task_series().concat()).unwrap();
    assert!(text.contains("aliyun_dbs_download_tasks{"), "{text}");
    assert_eq!(String::from_utf8(zipped_only.task_series().concat()).unwrap(), text);

    let plain = zipped_only.scrape(false);
    let announced = plain.len();
    let sent = plain.concat();
    assert_eq!(sent.len(), announced, "the announced length is what is sent");
    assert!(String::from_utf8(sent).unwrap().starts_with(&text));

    let zipped: Vec<Bytes> = zipped_only.scrape(true).collect();
    let mut decoded = String::new();
    flate2::read::MultiGzDecoder::new(&zipped.concat()[..]).read_to_string(&mut decoded).unwrap();
    assert!(decoded.starts_with(&text));
}

#[test]
fn once_writes_the_same_text_a_plain_scrape_sends() {
    let exposition = Exposition::new(listed_store(), ExporterMetrics::new(["cn-hangzhou"]));
    let mut written = Vec::new();
    exposition.write_plain(&mut written).unwrap();
    let strip_own = |text: &[u8]| {
        String::from_utf8_lossy(text).split("# HELP aliyun_dbs_api").next().unwrap().to_string()
    };
    assert_eq!(strip_own(&written), strip_own(&exposition.body()));
    assert!(String::from_utf8(written).unwrap().contains("aliyun_dbs_api_requests_total"));
}
