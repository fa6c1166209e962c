use super::*;
use crate::api::{DownloadState, DownloadTask};
use crate::model::{TargetKey, TaskAggregate};
use crate::state::RoundReport;
use std::time::Duration;

fn task(state: &str, export: u64, created: u64) -> DownloadTask {
    DownloadTask {
        export_bytes: export,
        import_bytes: export / 2,
        created_at_ms: Some(created),
        ..DownloadTask::new(format!("dt-{created}"), Some(TaskType::Full), DownloadState::parse(state))
    }
}

fn layout() -> Layout {
    Layout { task_types: vec![TaskType::Full], target_count: 1 }
}

fn rendered(store: &Store) -> String {
    store.read(|view, _| {
        let mut out = Rope::default();
        render_view(view, &layout(), &mut out);
        String::from_utf8(out.into_chunks().concat()).unwrap()
    })
}

fn key() -> TargetKey {
    TargetKey { instance: InstanceKey::new("cn-hangzhou", "rm-1"), task_type: TaskType::Full }
}

#[test]
fn counts_bytes_and_zeros_appear_with_their_labels() {
    let store = Store::new();
    let aggregate =
        TaskAggregate::from_tasks(&[task("finished", 100, 1_700_000_000_123), task("Paused", 1, 5)]);
    store.record_success(
        &key(),
        aggregate,
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
    );
    let text = rendered(&store);
    let label = |state: &str| {
        format!("{{region_id=\"cn-hangzhou\",instance_id=\"rm-1\",task_type=\"full\",state=\"{state}\"}}")
    };
    assert!(text.contains(&format!("aliyun_dbs_download_tasks{} 1\n", label("finished"))), "{text}");
    assert!(text.contains(&format!("aliyun_dbs_download_tasks{} 0\n", label("queueing"))));
    assert!(text.contains(&format!("aliyun_dbs_download_tasks{} 1\n", label("paused"))));
    assert!(text.contains(&format!("aliyun_dbs_download_export_bytes{} 100\n", label("finished"))));
    assert!(text.contains(&format!("aliyun_dbs_download_import_bytes{} 50\n", label("finished"))));
    assert!(text.contains(&format!(
        "aliyun_dbs_download_oldest_task_created_timestamp_seconds{} 1700000000.123\n",
        label("finished")
    )));
    assert!(!text.contains(&format!(
        "aliyun_dbs_download_oldest_task_created_timestamp_seconds{}",
        label("queueing")
    )));
    assert!(text.contains("aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-1\"} 1\n"));
    assert!(text.contains("aliyun_dbs_last_success_timestamp_seconds{region_id=\"cn-hangzhou\",instance_id=\"rm-1\"} 1700000000.500\n"));
    assert_eq!(text.matches("# TYPE aliyun_dbs_download_tasks gauge").count(), 1);
}

#[test]
fn a_target_that_never_succeeded_has_up_zero_and_no_task_series() {
    let store = Store::new();
    store.record_failure(&key(), "auth");
    let text = rendered(&store);
    assert!(text.contains("aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-1\"} 0\n"));
    assert!(!text.contains("aliyun_dbs_download_tasks{"));
    assert!(!text.contains("aliyun_dbs_last_success_timestamp_seconds{"));
}

#[test]
fn label_values_are_escaped() {
    let mut out = Rope::default();
    push_label_value(&mut out, "a\"b\\c\nd");
    assert_eq!(out.into_chunks().concat(), b"a\\\"b\\\\c\\nd");
}

fn round(api_calls: u64) -> RoundReport {
    RoundReport { duration_seconds: 0.5, api_calls, lag_seconds: 0.25 }
}

#[test]
fn the_cache_renders_again_at_a_milestone_and_debounces_single_listings() {
    let store = Arc::new(Store::new());
    let exposition = Exposition::new(store.clone(), ExporterMetrics::new(["cn-hangzhou"]), layout())
        .with_debounce(Duration::from_secs(3600));
    let first = exposition.task_series();
    let second = exposition.task_series();
    assert_eq!(first[0].as_ptr(), second[0].as_ptr(), "an unchanged store must serve the same bytes");
    store.record_failure(&key(), "server");
    assert_eq!(exposition.task_series()[0].as_ptr(), first[0].as_ptr(), "a listing waits for the debounce");
    store.record_round(round(2));
    let third = exposition.task_series();
    assert_ne!(first, third);
    let third = String::from_utf8(third.concat()).unwrap();
    assert!(third.contains("aliyun_dbs_up{"));
    assert!(third.contains("\naliyun_dbs_api_calls_per_cycle 2\n"));
    assert!(third.contains("\naliyun_dbs_poll_lag_seconds 0.25\n"));
    let body = String::from_utf8(exposition.body()).unwrap();
    assert!(body.contains("aliyun_dbs_api_requests_total{region_id=\"cn-hangzhou\"} 0"), "{body}");
    assert!(body.contains("aliyun_dbs_exporter_build_info{"));
}

#[test]
fn a_completed_listing_is_published_once_the_debounce_has_passed() {
    let store = Arc::new(Store::new());
    let exposition = Exposition::new(store.clone(), ExporterMetrics::new(["cn-hangzhou"]), layout())
        .with_debounce(Duration::ZERO);
    assert!(!String::from_utf8(exposition.task_series().concat()).unwrap().contains("aliyun_dbs_up{"));
    store.record_failure(&key(), "server");
    let text = String::from_utf8(exposition.task_series().concat()).unwrap();
    assert!(text.contains("aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-1\"} 0\n"), "{text}");
    assert!(!text.contains("aliyun_dbs_poll_duration_seconds"), "no round has ended yet");
    assert!(!exposition.ready());
}

#[test]
fn a_gzip_scrape_decodes_to_the_plain_one_and_its_task_part_is_compressed_once() {
    use std::io::Read as _;
    let store = Arc::new(Store::new());
    let aggregate = TaskAggregate::from_tasks(&[task("finished", 100, 1_700_000_000_123)]);
    store.record_success(&key(), aggregate, SystemTime::now());
    store.record_round(round(1));
    let exposition = Exposition::new(store, ExporterMetrics::new(["cn-hangzhou"]), layout());
    let zipped = exposition.scrape(true);
    assert!(zipped.gzip);
    let mut decoded = String::new();
    flate2::read::MultiGzDecoder::new(&zipped.chunks.concat()[..]).read_to_string(&mut decoded).unwrap();
    let plain = String::from_utf8(exposition.body()).unwrap();
    let strip_own = |text: &str| text.split("# HELP aliyun_dbs_api").next().unwrap().to_string();
    assert_eq!(strip_own(&decoded), strip_own(&plain));
    assert!(decoded.contains("aliyun_dbs_api_requests_total"));
    let again = exposition.scrape(true);
    assert_eq!(
        again.chunks[0].as_ptr(),
        zipped.chunks[0].as_ptr(),
        "the task part is gzipped once per render"
    );
}

#[test]
fn a_large_exposition_is_split_into_chunks_on_line_boundaries_or_not_at_all() {
    let mut rope = Rope::default();
    let line = "x".repeat(1000) + "\n";
    for _ in 0..3000 {
        rope.push_str(&line);
    }
    let chunks = rope.into_chunks();
    assert!(chunks.len() >= 2, "3 MB must span several chunks");
    assert!(chunks.iter().all(|c| c.ends_with(b"\n")), "pushes are never split");
    assert_eq!(chunks.iter().map(Bytes::len).sum::<usize>(), 3000 * 1001);
}
