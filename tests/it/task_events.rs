//! Which download, and when it ends, in the real binary against the simulator: one event per
//! state change in the log (logfmt and JSON, a failed one at `warn`), none at the start or after a
//! reload, the ring behind `/api/v1/events`, and the tasks in progress with their rate, ETA and
//! stall behind `/api/v1/tasks`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::support::*;
use dbs_sim::TaskType;
use dbs_sim::{SimHandle, SimTask};

const REGION: &str = "cn-hangzhou";
const INSTANCE: &str = "rm-events";

fn task(id: &str, state: &str, progress: &str) -> SimTask {
    let mut task = SimTask::new(id, REGION, INSTANCE, TaskType::Full, state, now_ms() - 600_000);
    task.progress = progress.to_string();
    task.db_list = "[shop,orders]".to_string();
    task.format = "sql".to_string();
    task.target_type = "OSS".to_string();
    task
}

fn config(sim: &SimHandle) -> String {
    format!(
        "poll_interval: 1s\nrequest_timeout: 900ms\ntask_types: [full]\nregions:\n  - region_id: {REGION}\n    endpoint: {}\n    instances:\n      - instance_id: {INSTANCE}\n",
        sim.url()
    )
}

/// A port nobody listens on now (bound, then released), for a daemon whose log cannot say
/// which port it took (`--log.level warn` hides the startup line).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The event lines of a log.
fn event_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|line| line.contains("dbs_exporter::events")).collect()
}

/// The `key=value` fields of a logfmt line (values unquoted).
fn logfmt_fields(line: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut rest = line.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().to_string();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').unwrap_or(quoted.len());
                (quoted[..end].to_string(), quoted.get(end + 1..).unwrap_or(""))
            }
            None => match after.split_once(' ') {
                Some((value, next)) => (value.to_string(), next),
                None => (after.to_string(), ""),
            },
        };
        fields.insert(key, value);
        rest = next.trim_start();
    }
    fields
}

async fn json(url: &str) -> serde_json::Value {
    let (status, body) = get(url).await.expect("the exporter answers");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|err| panic!("{err}: {body}"))
}

#[tokio::test]
async fn each_state_change_is_one_event_in_the_log_and_in_the_ring_and_a_start_or_reload_adds_none() {
    let tasks = [
        task("dt-queued", "queueing", "0/0"),
        task("dt-running", "running", "10/100"),
        task("dt-done", "finished", "40/40"),
    ];
    let (sim, mut exporter) = TestEstate::new().tasks(tasks).spawn(Exporter::binary(), config).await;
    let calls = || sim.calls_for(REGION, INSTANCE);
    wait_for("three listings", || calls() >= 3).await;
    assert!(event_lines(&exporter.log()).is_empty(), "no event at the start:\n{}", exporter.log());
    assert_eq!(json(&exporter.url("/api/v1/events")).await["events"], serde_json::json!([]));

    assert!(sim.move_task("dt-queued", "running", "0/40"));
    assert!(sim.move_task("dt-running", "finished", "100/100"));
    sim.push_task(task("dt-new", "queueing", ""));
    wait_for("three events", || event_lines(&exporter.log()).len() >= 3).await;
    let settled = calls() + 3;
    wait_for("three more listings", || calls() >= settled).await;
    let log = exporter.log();
    let lines = event_lines(&log);
    assert_eq!(lines.len(), 3, "exactly one event per change:\n{log}");
    let by_task: BTreeMap<String, BTreeMap<String, String>> = lines
        .iter()
        .map(|line| logfmt_fields(line))
        .map(|fields| (fields["task_id"].clone(), fields))
        .collect();
    let running = &by_task["dt-queued"];
    assert_eq!((running["from"].as_str(), running["to"].as_str()), ("queueing", "running"));
    assert_eq!(running["level"], "info");
    assert_eq!(running["message"], "download task state changed");
    assert_eq!(running["progress"], "0/40");
    assert!(!running.contains_key("duration_seconds"), "only an ended task has a duration");
    let finished = &by_task["dt-running"];
    assert_eq!((finished["from"].as_str(), finished["to"].as_str()), ("running", "finished"));
    let duration: f64 = finished["duration_seconds"].parse().unwrap();
    assert!((600.0..900.0).contains(&duration), "created ten minutes ago: {duration}");
    for (field, value) in [
        ("region_id", REGION),
        ("instance_id", INSTANCE),
        ("task_type", "full"),
        ("format", "sql"),
        ("db_list", "[shop,orders]"),
        ("target_type", "OSS"),
        ("progress", "100/100"),
    ] {
        assert_eq!(finished.get(field).map(String::as_str), Some(value), "{field} in {finished:?}");
    }
    assert!(finished["created"].ends_with('Z') && finished.contains_key("backup_set_id"), "{finished:?}");
    assert!(!finished.contains_key("account"), "one account: no account field");
    let new = &by_task["dt-new"];
    assert_eq!((new["from"].as_str(), new["to"].as_str()), ("none", "queueing"));

    let events = json(&exporter.url("/api/v1/events")).await;
    let ids: Vec<&str> =
        events["events"].as_array().unwrap().iter().map(|e| e["task_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    let finished = json(&exporter.url("/api/v1/events?to=finished")).await;
    assert_eq!(finished["events"].as_array().unwrap().len(), 1);
    assert_eq!(finished["events"][0]["task_id"], "dt-running");
    assert_eq!(finished["events"][0]["from"], "running");
    assert!(finished["events"][0]["duration_seconds"].as_f64().unwrap() >= 600.0);
    let limited = json(&exporter.url(&format!("/api/v1/events?limit=1&instance_id={INSTANCE}"))).await;
    assert_eq!(limited["events"].as_array().unwrap().len(), 1);
    assert_eq!(limited["events"][0]["task_id"].as_str(), Some(ids[0]), "newest first");
    let elsewhere = json(&exporter.url("/api/v1/events?region_id=cn-beijing")).await;
    assert_eq!(elsewhere["events"], serde_json::json!([]));

    // A reload lists again from the same history: no burst.
    exporter.signal("HUP");
    wait_for("the reload", || exporter.log().contains("configuration reloaded")).await;
    let settled = calls() + 3;
    wait_for("three listings after the reload", || calls() >= settled).await;
    assert_eq!(event_lines(&exporter.log()).len(), 3, "{}", exporter.log());
    exporter.stop().await;
    assert!(!exporter.log().contains(SECRET));
}

#[tokio::test]
async fn a_failed_download_passes_a_warn_filter_as_one_json_record() {
    let tasks = [task("dt-a", "queueing", ""), task("dt-b", "running", "3/9")];
    let warn_as_json =
        Exporter::binary().listen(free_port()).args(&["--log.format", "json", "--log.level", "warn"]);
    let (sim, mut exporter) = TestEstate::new().tasks(tasks).spawn(warn_as_json, config).await;
    wait_for("the daemon ready", || sim.calls_for(REGION, INSTANCE) >= 2).await;
    assert!(sim.move_task("dt-a", "running", "0/5"));
    assert!(sim.move_task("dt-b", "failed", "3/9"));
    wait_for("the failed event", || !event_lines(&exporter.log()).is_empty()).await;
    let settled = sim.calls_for(REGION, INSTANCE) + 2;
    wait_for("two more listings", || sim.calls_for(REGION, INSTANCE) >= settled).await;
    let log = exporter.log();
    let lines = event_lines(&log);
    assert_eq!(lines.len(), 1, "the info event is filtered out, the failed one is not:\n{log}");
    let record: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(record["level"], "WARN", "{record}");
    assert_eq!(record["target"], "dbs_exporter::events");
    assert_eq!(record["message"], "download task state changed");
    assert_eq!(
        (record["task_id"].as_str(), record["from"].as_str(), record["to"].as_str()),
        (Some("dt-b"), Some("running"), Some("failed"))
    );
    assert!(record["duration_seconds"].as_f64().unwrap() >= 600.0, "{record}");
    assert_eq!(record["export_bytes"], 0);
    // Both changes are in the ring, whatever the log level.
    let events = json(&exporter.url("/api/v1/events")).await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2, "{events}");
    exporter.stop().await;
}

/// A running task whose exported tables rise at `per_second` from `start_ms`, out of `total`.
fn steady(id: &str, start_ms: u64, per_second: f64, total: u64, now_ms: u64) -> SimTask {
    let exported = (((now_ms - start_ms) as f64 / 1000.0 * per_second) as u64).min(total);
    task(id, "running", &format!("{exported}/{total}"))
}

#[tokio::test]
async fn a_steady_download_gets_an_eta_within_ten_percent_and_a_stuck_one_is_stalled() {
    let start = now_ms();
    let source = Arc::new(move |now: u64, region: &str, instance: &str| {
        if region != REGION || instance != INSTANCE {
            return Vec::new();
        }
        vec![steady("dt-steady", start, 4.0, 2_000, now), task("dt-stuck", "running", "5/50")]
    });
    let (sim, mut exporter) =
        TestEstate::new().with(|sim| sim.with_task_source(source)).spawn(Exporter::binary(), config).await;
    let calls = || sim.calls_for(REGION, INSTANCE);
    wait_for("five listings", || calls() >= 5).await;
    let tasks = json(&exporter.url("/api/v1/tasks")).await;
    let rows = tasks["tasks"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|t| t["task_id"] == id).unwrap_or_else(|| panic!("{id}: {tasks}"));
    let steady = row("dt-steady");
    assert_eq!(steady["state"], "running");
    let exported = steady["progress"]["exported"].as_f64().unwrap();
    assert_eq!(steady["progress"]["total"], 2_000);
    let truth = (2_000.0 - exported) / 4.0;
    let eta = steady["eta_seconds"].as_f64().unwrap_or_else(|| panic!("no ETA: {steady}"));
    assert!((eta - truth).abs() <= truth * 0.1, "ETA {eta} s against the true {truth} s");
    let rate = steady["tables_per_second"].as_f64().unwrap();
    assert!((rate - 4.0).abs() <= 0.4, "{rate} tables a second");
    assert_eq!(steady["stalled"], false);
    assert_eq!(steady["format"], "sql");
    let stuck = row("dt-stuck");
    assert_eq!(stuck["stalled"], true, "five polls without a table: {stuck}");
    assert_eq!(stuck["eta_seconds"], serde_json::Value::Null);
    let only_running = json(&exporter.url("/api/v1/tasks?state=queueing")).await;
    assert_eq!(only_running["tasks"], serde_json::json!([]));
    exporter.stop().await;
}
