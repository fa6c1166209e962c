//! What happened and why: state-change counters, durations, progress of running downloads,
//! the reason a listing fails, and the status page with its JSON, against the simulator with
//! tasks moved between polls as DBS moves them.

use std::time::Duration;

use crate::support::{metrics_of, now_ms, samples, series, Exporter, TestEstate, SECRET};
use dbs_exporter::app::Pipeline;
use dbs_sim::TaskType;
use dbs_sim::{Fault, SimHandle, SimTask};

const REGION: &str = "cn-hangzhou";

fn task(id: &str, instance: &str, state: &str, progress: &str, age_minutes: u64) -> SimTask {
    let mut task = SimTask::new(id, REGION, instance, TaskType::Full, state, now_ms() - age_minutes * 60_000);
    task.progress = progress.to_string();
    task
}

fn estate(tasks: Vec<SimTask>) -> TestEstate {
    TestEstate::new().tasks(tasks).forbidden(REGION, "rm-denied")
}

fn config_text(sim: &SimHandle, instances: &[&str]) -> String {
    let list: String = instances.iter().map(|i| format!("      - instance_id: {i}\n")).collect();
    format!(
        "task_types: [full]\nretry: {{max_attempts: 1}}\nregions:\n  - region_id: {REGION}\n    endpoint: {}\n    instances:\n{list}",
        sim.url()
    )
}

fn pipeline(sim: &SimHandle, instances: &[&str]) -> Pipeline {
    crate::support::pipeline(&config_text(sim, instances))
}

/// The exposition, once the exporter's own metrics (where the duration histogram lives) have
/// been encoded again.
async fn scrape(pipeline: &Pipeline) -> (String, std::collections::BTreeMap<String, f64>) {
    // The cache of the own metrics runs on tokio's clock: moved past its age, not slept through.
    tokio::time::pause();
    tokio::time::advance(dbs_exporter::render::OWN_METRICS_MAX_AGE + Duration::from_millis(50)).await;
    tokio::time::resume();
    let text = metrics_of(pipeline);
    let values = samples(&text);
    (text, values)
}

fn transitions(instance: &str, state: &str) -> String {
    let labels = [("region_id", REGION), ("instance_id", instance), ("task_type", "full"), ("state", state)];
    series("aliyun_dbs_download_task_transitions_total", &labels)
}

fn tables(instance: &str, kind: &str) -> String {
    let labels = [("region_id", REGION), ("instance_id", instance), ("task_type", "full"), ("kind", kind)];
    series("aliyun_dbs_download_running_tables", &labels)
}

fn duration(suffix: &str, state: &str) -> String {
    let labels = [("region_id", REGION), ("task_type", "full"), ("state", state)];
    series(&format!("aliyun_dbs_download_task_duration_seconds_{suffix}"), &labels)
}

fn error_info(instance: &str, code: &str) -> String {
    let labels = [("region_id", REGION), ("instance_id", instance), ("task_type", "full"), ("code", code)];
    series("aliyun_dbs_listing_error_info", &labels)
}

#[tokio::test]
async fn state_changes_durations_progress_and_reasons_follow_the_tasks() {
    let sim = estate(vec![
        task("dt-a", "rm-1", "queueing", "", 30),
        task("dt-b", "rm-1", "running", "2/5", 90),
        task("dt-c", "rm-1", "finished", "5/5", 120),
    ])
    .start()
    .await;
    let pipeline = pipeline(&sim, &["rm-1"]);

    assert_eq!(pipeline.poll_once().await.failed, 0);
    let (text, values) = scrape(&pipeline).await;
    for state in ["initializing", "queueing", "running", "failed", "finished", "expired"] {
        assert_eq!(
            values.get(&transitions("rm-1", state)),
            Some(&0.0),
            "the first listing only records:\n{text}"
        );
    }
    assert_eq!((values[&tables("rm-1", "exported")], values[&tables("rm-1", "total")]), (2.0, 5.0));
    assert!(!text.contains("aliyun_dbs_listing_error_info{"), "{text}");

    // Between polls: a starts, b ends, d is created; c, already finished, stays.
    assert!(sim.move_task("dt-a", "running", "1/3"));
    assert!(sim.move_task("dt-b", "finished", "5/5"));
    sim.push_task(task("dt-d", "rm-1", "queueing", "", 1));
    let before_poll = now_ms();
    assert_eq!(pipeline.poll_once().await.failed, 0);
    let (text, values) = scrape(&pipeline).await;
    assert_eq!(values[&transitions("rm-1", "running")], 1.0, "{text}");
    assert_eq!(values[&transitions("rm-1", "finished")], 1.0);
    assert_eq!(values[&transitions("rm-1", "queueing")], 1.0, "a new task enters its state");
    assert_eq!(values[&transitions("rm-1", "failed")], 0.0);
    assert_eq!((values[&tables("rm-1", "exported")], values[&tables("rm-1", "total")]), (1.0, 3.0));
    assert_eq!(values[&duration("count", "finished")], 1.0, "b ended; c was never seen running");
    let seconds = values[&duration("sum", "finished")];
    let expected = (before_poll - (now_ms() - 90 * 60_000)) as f64 / 1000.0;
    assert!((seconds - 90.0 * 60.0).abs() < 60.0 && seconds <= expected + 60.0, "{seconds}");

    // A failing poll: the reason shows, and the tasks are not forgotten.
    sim.set_fault_rate(1.0, vec![Fault::ServerError(503)]);
    assert_eq!(pipeline.poll_once().await.failed, 1);
    let (_, values) = scrape(&pipeline).await;
    assert_eq!(values[&error_info("rm-1", "server")], 1.0);
    sim.set_fault_rate(0.0, vec![]);
    assert!(sim.move_task("dt-a", "failed", "1/3"));
    assert_eq!(pipeline.poll_once().await.failed, 0);
    let (text, values) = scrape(&pipeline).await;
    assert!(!values.contains_key(&error_info("rm-1", "server")), "gone when the listing works:\n{text}");
    assert_eq!(values[&transitions("rm-1", "failed")], 1.0, "seen running before the failed poll");
    assert_eq!(values[&transitions("rm-1", "running")], 1.0);
    assert_eq!(values[&duration("count", "failed")], 1.0);
    assert_eq!((values[&tables("rm-1", "exported")], values[&tables("rm-1", "total")]), (0.0, 0.0));

    // A restart (a new pipeline) starts from what it sees: no burst.
    let restarted = self::pipeline(&sim, &["rm-1"]);
    assert_eq!(restarted.poll_once().await.failed, 0);
    let (text, values) = scrape(&restarted).await;
    for state in ["queueing", "running", "failed", "finished"] {
        assert_eq!(values[&transitions("rm-1", state)], 0.0, "{text}");
    }
    assert_eq!(values.get(&duration("count", "finished")), Some(&0.0), "nothing observed yet:\n{text}");
}

#[tokio::test]
async fn the_status_page_and_its_json_say_which_target_fails_and_why() {
    let (_sim, mut exporter) = estate(vec![task("dt-a", "rm-ok", "running", "1/2", 5)])
        .spawn(Exporter::in_process(), |sim| config_text(sim, &["rm-ok", "rm-denied"]))
        .await;
    assert!(exporter.wait_ready().await);

    let (status, body) = exporter.get("/api/v1/targets").await.unwrap();
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[0]["instance_id"], "rm-denied", "failing targets first");
    assert_eq!(targets[0]["up"], false);
    assert_eq!(targets[0]["error"]["code"], "forbidden");
    assert!(targets[0]["error"]["hint"].as_str().unwrap().contains("dbs:DescribeDownloadTask"));
    assert_eq!(targets[0]["last_success"], serde_json::Value::Null);
    assert_eq!(targets[1]["instance_id"], "rm-ok");
    assert_eq!(targets[1]["up"], true);
    assert_eq!(targets[1]["error"], serde_json::Value::Null);
    assert_eq!(targets[1]["tasks"]["running"], 1);
    assert!(targets[1]["last_success"].as_str().unwrap().ends_with('Z'));
    assert_eq!(targets[1]["region_id"], REGION);
    assert_eq!(targets[1]["task_type"], "full");

    let (_, down) = exporter.get("/api/v1/targets?state=down").await.unwrap();
    let down: serde_json::Value = serde_json::from_str(&down).unwrap();
    assert_eq!(down["targets"].as_array().unwrap().len(), 1);

    let (status, page) = exporter.get("/").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(page.matches("<tr class=\"down\"").count(), 1);
    assert_eq!(page.matches("<tr class=\"up\"").count(), 1);
    assert!(page.contains(">forbidden<"));
    assert!(!page.contains(SECRET) && !body.contains(SECRET), "never a secret");
    let (_, filtered) = exporter.get("/?filter=RM-OK").await.unwrap();
    assert_eq!(filtered.matches("<tr class=").count(), 1, "the server filters without JavaScript");

    exporter.stop().await;
}
