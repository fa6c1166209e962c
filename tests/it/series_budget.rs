//! The number of series an instance costs, as README's table says, read from the exposition of
//! an instance with a task in every state for both task types.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use dbs_exporter::app::Pipeline;
use dbs_exporter::config;
use dbs_exporter::credentials::{Credentials, StaticCredentials};
use dbs_sim::TaskType;
use dbs_sim::{SimHandle, SimTask, Simulator};

const KEY_ID: &str = "LTAI5tBudget";
const SECRET: &str = "budget-secret";
const STATES: [&str; 6] = ["initializing", "queueing", "running", "failed", "finished", "expired"];

async fn simulator() -> SimHandle {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    let tasks = TaskType::ALL.into_iter().flat_map(|task_type| {
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
    });
    Simulator::new()
        .with_access_key(KEY_ID, SECRET)
        .with_tasks(tasks)
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

/// The series of the exposition that belong to the instance.
async fn series_of_the_instance(metrics_block: &str) -> Vec<String> {
    let sim = simulator().await;
    let text = format!(
        "{metrics_block}regions:\n  - region_id: cn-hangzhou\n    endpoint: {}\n    instances:\n      - instance_id: rm-budget\n",
        sim.url()
    );
    let config = config::parse(&text, "budget.yaml").unwrap();
    let credentials = Arc::new(StaticCredentials::new(Credentials::new(KEY_ID, SECRET)));
    let pipeline = Pipeline::build(&config, credentials).unwrap();
    assert_eq!(pipeline.poll_once().await.failed, 0);
    let body = String::from_utf8(pipeline.exposition.body()).unwrap();
    body.lines()
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
