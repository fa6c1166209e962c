//! Against a failing API: retries, fault soak with exact convergence, staleness.
//! These drive the library's pipeline directly, one poll cycle at a time.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::heap::thread_heap_bytes;
use crate::support::{credentials, metrics_of, now_ms, samples, series, simulator, TestEstate};
use dbs_exporter::app::{AccountCredentials, Pipeline};
use dbs_exporter::config;
use dbs_exporter::poller::Shard;
use dbs_exporter::util::WallClock;
use dbs_sim::TaskType;
use dbs_sim::{Fault, SimHandle, SimTask};

const REGION: &str = "cn-hangzhou";
const INSTANCES: [&str; 3] = ["rm-one", "rm-two", "rm-three"];
const STATES: [&str; 6] = ["initializing", "queuing", "running", "failed", "finished", "expired"];

/// Instance `i` has `7 * (i + 1)` full tasks and `3 * (i + 1)` pitr tasks over all states.
fn data_set() -> Vec<SimTask> {
    let now = now_ms();
    let mut tasks = Vec::new();
    for (i, instance) in INSTANCES.iter().enumerate() {
        for (task_type, per) in [(TaskType::Full, 7), (TaskType::Pitr, 3)] {
            for n in 0..per * (i + 1) {
                let state = STATES[n % STATES.len()];
                let id = format!("dt-{instance}-{task_type}-{n}");
                let mut task =
                    SimTask::new(&id, REGION, *instance, task_type, state, now - 60_000 * (n as u64 + 1));
                task.export_bytes = 1_000 * (n as u64 + 1);
                task.import_bytes = 10 * (n as u64 + 1);
                tasks.push(task);
            }
        }
    }
    tasks
}

/// The truth the exporter must converge to: (instance, type, state) -> (count, export, import).
fn truth(tasks: &[SimTask]) -> BTreeMap<(String, String, String), (f64, f64, f64)> {
    let mut expected = BTreeMap::new();
    for instance in INSTANCES {
        for task_type in ["full", "pitr"] {
            for state in ["initializing", "queueing", "running", "failed", "finished", "expired"] {
                expected.insert(
                    (instance.to_string(), task_type.to_string(), state.to_string()),
                    (0.0, 0.0, 0.0),
                );
            }
        }
    }
    for task in tasks {
        let state = if task.state == "queuing" { "queueing".to_string() } else { task.state.clone() };
        let entry = expected.get_mut(&(task.instance.clone(), task.task_type.to_string(), state)).unwrap();
        entry.0 += 1.0;
        entry.1 += task.export_bytes as f64;
        entry.2 += task.import_bytes as f64;
    }
    expected
}

/// A pipeline whose listings are stamped by a wall clock that follows tokio's, so a test moves
/// the staleness of counts by advancing tokio's clock instead of sleeping.
fn pipeline(sim: &SimHandle, extra: &str) -> Pipeline {
    let instances: String = INSTANCES.iter().map(|i| format!("      - instance_id: {i}\n")).collect();
    let text = format!(
        "{extra}page_size: 4\nconcurrency: 4\nrate_limit_per_region: 1000\nrequest_timeout: 2s\n\
         regions:\n  - region_id: {REGION}\n    endpoint: {}\n    instances:\n{instances}",
        sim.url()
    );
    let config = config::parse(&text, "test.yaml").unwrap();
    let credentials = AccountCredentials::Shared(credentials());
    Pipeline::build_with(&config, credentials, Shard::default(), WallClock::following_tokio()).unwrap()
}

fn scrape(pipeline: &Pipeline) -> (String, BTreeMap<String, f64>) {
    let text = metrics_of(pipeline);
    let values = samples(&text);
    (text, values)
}

fn task_labels<'a>(instance: &'a str, task_type: &'a str, state: &'a str) -> [(&'a str, &'a str); 4] {
    [("region_id", REGION), ("instance_id", instance), ("task_type", task_type), ("state", state)]
}

fn assert_truth(values: &BTreeMap<String, f64>, tasks: &[SimTask]) {
    for ((instance, task_type, state), (count, export, import)) in truth(tasks) {
        let labels = task_labels(&instance, &task_type, &state);
        assert_eq!(values.get(&series("aliyun_dbs_download_tasks", &labels)), Some(&count), "{labels:?}");
        // Tasks that have not started have no bytes series (zero by construction in DBS; this
        // synthetic data set gives them bytes all the same).
        let (export, import) = match state.as_str() {
            "initializing" | "queueing" => (None, None),
            _ => (Some(export), Some(import)),
        };
        assert_eq!(
            values.get(&series("aliyun_dbs_download_export_bytes", &labels)).copied(),
            export,
            "{labels:?}"
        );
        assert_eq!(
            values.get(&series("aliyun_dbs_download_import_bytes", &labels)).copied(),
            import,
            "{labels:?}"
        );
    }
}

fn errors(values: &BTreeMap<String, f64>, code: &str) -> f64 {
    values[&series("aliyun_dbs_api_request_errors_total", &[("region_id", REGION), ("code", code)])]
}

fn requests(values: &BTreeMap<String, f64>) -> f64 {
    values[&series("aliyun_dbs_api_requests_total", &[("region_id", REGION)])]
}

#[tokio::test]
async fn throttled_calls_are_retried_and_every_attempt_is_counted() {
    let tasks = data_set();
    let sim = simulator(tasks.clone()).await;
    let pipeline = pipeline(&sim, "retry: {max_attempts: 4, base_delay: 1ms, max_delay: 20ms}\n");
    sim.inject(Fault::Throttle, 2);
    sim.inject(Fault::ServerError(503), 1);
    let report = pipeline.poll_once().await;
    assert_eq!(report.failed, 0, "three transient faults fit in four attempts");
    let (_, values) = scrape(&pipeline);
    assert_truth(&values, &tasks);
    assert_eq!(errors(&values, "throttled"), 2.0);
    assert_eq!(errors(&values, "server"), 1.0);
    assert_eq!(requests(&values), sim.calls() as f64);
}

#[tokio::test]
async fn final_errors_are_not_retried() {
    let sim = TestEstate::new().forbidden(REGION, "rm-two").start().await;
    let pipeline = pipeline(&sim, "retry: {max_attempts: 5, base_delay: 1ms}\n");
    let report = pipeline.poll_once().await;
    assert_eq!((report.succeeded, report.failed), (4, 2));
    assert_eq!(sim.calls_for(REGION, "rm-two"), 2, "one call per task type, no retry of Forbidden.RAM");
}

#[tokio::test]
async fn under_thirty_percent_faults_of_every_kind_values_converge_to_the_truth_and_errors_match_injections()
{
    let tasks = data_set();
    let sim = simulator(tasks.clone()).await;
    let pipeline = pipeline(&sim, "retry: {max_attempts: 2, base_delay: 1ms, max_delay: 5ms}\n");
    let kinds = vec![
        Fault::Throttle,
        Fault::ServerError(500),
        Fault::ServerError(502),
        Fault::ServerError(503),
        Fault::InBandError,
        Fault::Malformed,
        Fault::Truncated,
        Fault::Reset,
        Fault::Latency(Duration::from_millis(5)),
    ];
    sim.set_fault_rate(0.3, kinds.clone());
    let mut failed_cycles = 0;
    for _ in 0..20 {
        let report = pipeline.poll_once().await;
        assert_eq!(report.succeeded + report.failed, 6);
        failed_cycles += usize::from(report.failed > 0);
    }
    assert!(failed_cycles > 0, "at 30% some listings must have failed");
    // Memory stays flat under faults: another 40 faulty cycles may not grow the heap by more
    // than a generous 16 MiB (a leak of one page body per failed call would exceed it). The heap
    // this test's thread holds, not the process's resident size: other tests share the process,
    // and this one runs on a current-thread runtime, the simulator included.
    let heap_before = thread_heap_bytes();
    for _ in 0..40 {
        pipeline.poll_once().await;
    }
    let growth = thread_heap_bytes() - heap_before;
    assert!(growth < 16 << 20, "the heap grew by {growth} bytes over 40 faulty cycles");

    sim.set_fault_rate(0.0, kinds);
    let report = pipeline.poll_once().await;
    assert_eq!(report.failed, 0);

    let (text, values) = scrape(&pipeline);
    assert_truth(&values, &tasks);
    for instance in INSTANCES {
        assert_eq!(
            values[&series("aliyun_dbs_up", &[("region_id", REGION), ("instance_id", instance)])],
            1.0,
            "{text}"
        );
    }
    let injected = sim.injected();
    let served = |kind: &str| *injected.get(kind).unwrap_or(&0) as f64;
    assert_eq!(errors(&values, "throttled"), served("throttle"));
    assert_eq!(errors(&values, "server"), served("server_error") + served("in_band_error"));
    assert_eq!(errors(&values, "decode"), served("malformed"));
    assert_eq!(errors(&values, "transport"), served("truncated") + served("reset"));
    assert_eq!(requests(&values), sim.calls() as f64, "every call is counted, retries included");
    for code in ["auth", "forbidden", "client", "page_cap", "credentials"] {
        assert_eq!(errors(&values, code), 0.0, "{code}");
    }
}

#[tokio::test]
async fn a_failing_target_is_down_at_once_and_its_counts_expire_after_max_staleness() {
    let tasks = data_set();
    let sim = simulator(tasks.clone()).await;
    let pipeline = pipeline(&sim, "poll_interval: 3s\nmax_staleness: 3s\nretry: {max_attempts: 1}\n");
    assert_eq!(pipeline.poll_once().await.failed, 0);

    sim.set_fault_rate(1.0, vec![Fault::ServerError(503)]);
    assert_eq!(pipeline.poll_once().await.failed, 6);
    let (_, values) = scrape(&pipeline);
    let up = series("aliyun_dbs_up", &[("region_id", REGION), ("instance_id", "rm-one")]);
    assert_eq!(values[&up], 0.0, "down at once");
    assert_truth(&values, &tasks);

    tokio::time::pause();
    tokio::time::advance(Duration::from_millis(3_200)).await;
    tokio::time::resume();
    assert_eq!(pipeline.poll_once().await.failed, 6);
    let (text, values) = scrape(&pipeline);
    assert_eq!(values[&up], 0.0);
    assert!(!text.contains("aliyun_dbs_download_tasks{"), "stale counts must be gone:\n{text}");

    sim.set_fault_rate(0.0, vec![]);
    assert_eq!(pipeline.poll_once().await.failed, 0);
    let (_, values) = scrape(&pipeline);
    assert_eq!(values[&up], 1.0);
    assert_truth(&values, &tasks);
}
