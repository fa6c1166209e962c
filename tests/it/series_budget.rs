//! The number of series an instance costs, as README's table says, read from the exposition of
//! an instance with a task in every state for both task types.

use crate::support::{metrics_of, now_ms, pipeline, simulator};
use dbs_sim::SimTask;
use dbs_sim::TaskType;

const STATES: [&str; 6] = ["initializing", "queueing", "running", "failed", "finished", "expired"];

/// A task in every state for both task types, of one instance.
fn tasks() -> impl Iterator<Item = SimTask> {
    let now = now_ms();
    TaskType::ALL.into_iter().flat_map(move |task_type| {
        STATES.iter().enumerate().map(move |(n, state)| {
            let mut task = SimTask::new(
                format!("dt-{task_type}-{state}"),
                "cn-hangzhou",
                "rm-budget",
                task_type,
                *state,
                now - 60_000 * (n as u64 + 1),
            );
            task.progress = "2/5".into();
            task.export_bytes = 1_000;
            task
        })
    })
}

/// The series of the exposition that belong to the instance.
async fn series_of_the_instance(metrics_block: &str) -> Vec<String> {
    let sim = simulator(tasks()).await;
    let text = format!(
        "{metrics_block}regions:\n  - region_id: cn-hangzhou\n    endpoint: {}\n    instances:\n      - instance_id: rm-budget\n",
        sim.url()
    );
    let pipeline = pipeline(&text);
    assert_eq!(pipeline.poll_once().await.failed, 0);
    metrics_of(&pipeline)
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains("instance_id=\"rm-budget\""))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn an_instance_costs_59_series_by_default_and_7_at_the_smallest_setting() {
    let default = series_of_the_instance("").await;
    let count = |family: &str| default.iter().filter(|s| s.starts_with(&format!("{family}{{"))).count();
    assert_eq!(count("aliyun_dbs_download_tasks"), 12, "six states x two task types");
    assert_eq!(count("aliyun_dbs_download_export_bytes"), 8, "no bytes for tasks that have not started");
    assert_eq!(count("aliyun_dbs_download_import_bytes"), 8);
    assert_eq!(count("aliyun_dbs_download_oldest_task_created_timestamp_seconds"), 12);
    assert_eq!(count("aliyun_dbs_download_task_transitions_total"), 12);
    assert_eq!(count("aliyun_dbs_download_running_tables"), 4);
    assert_eq!(count("aliyun_dbs_instance_info"), 1, "one info series per instance");
    assert_eq!(default.len(), 59, "README's figure for the default:\n{}", default.join("\n"));

    let smallest = series_of_the_instance(
        "metrics:\n  disable: [export_bytes, import_bytes, oldest_task_timestamps, transitions, running_tables]\n  states: [failed]\n",
    )
    .await;
    assert_eq!(smallest.len(), 7, "README's figure for the smallest setting:\n{}", smallest.join("\n"));
    assert!(
        smallest.iter().any(|s| s.contains("state=\"other\"} 5")),
        "the other five states summed:\n{}",
        smallest.join("\n")
    );
}
