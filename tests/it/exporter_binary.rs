//! The real binary against the simulator: exact values on /metrics for a known data set.

use std::time::Duration;

use crate::support::*;
use dbs_sim::{SimHandle, SimTask, TaskType};

/// rm-a: 12 full tasks over five states plus one in a never-seen state, 3 pitr tasks;
/// rm-b: 4 full tasks, none pitr; pc-denied: RAM forbids it; one task outside the window.
fn data_set() -> Vec<SimTask> {
    let now = now_ms();
    let hour = 3_600_000;
    let mut tasks = Vec::new();
    let mut add = |id: &str,
                   region: &str,
                   instance: &str,
                   t: TaskType,
                   state: &str,
                   export: u64,
                   import: u64,
                   age_h: u64| {
        let mut task = SimTask::new(id, region, instance, t, state, now - age_h * hour);
        task.export_bytes = export;
        task.import_bytes = import;
        tasks.push(task);
    };
    for i in 0..5 {
        add(
            &format!("dt-a-fin-{i}"),
            "cn-hangzhou",
            "rm-a",
            TaskType::Full,
            "finished",
            1_000 * (i + 1),
            100,
            1 + i,
        );
    }
    for i in 0..3 {
        add(&format!("dt-a-fail-{i}"), "cn-hangzhou", "rm-a", TaskType::Full, "failed", 7, 3, 2);
    }
    add("dt-a-q-1", "cn-hangzhou", "rm-a", TaskType::Full, "queuing", 0, 0, 1);
    add("dt-a-q-2", "cn-hangzhou", "rm-a", TaskType::Full, "queueing", 0, 0, 3);
    add("dt-a-run", "cn-hangzhou", "rm-a", TaskType::Full, "running", 500, 250, 1);
    add("dt-a-init", "cn-hangzhou", "rm-a", TaskType::Full, "Initializing", 0, 0, 1);
    add("dt-a-odd", "cn-hangzhou", "rm-a", TaskType::Full, "Paused", 11, 0, 1);
    add("dt-a-old", "cn-hangzhou", "rm-a", TaskType::Full, "finished", 999_999, 0, 24 * 30);
    for i in 0..3 {
        add(&format!("dt-a-pitr-{i}"), "cn-hangzhou", "rm-a", TaskType::Pitr, "expired", 40, 20, 5);
    }
    for i in 0..4 {
        add(&format!("dt-b-{i}"), "cn-hangzhou", "rm-b", TaskType::Full, "finished", 2_500, 0, 2);
    }
    add("dt-denied", "ap-southeast-1", "pc-denied", TaskType::Full, "finished", 1, 1, 1);
    tasks
}

fn config(sim: &SimHandle) -> String {
    let sim_url = sim.url();
    format!(
        "poll_interval: 1s\nlookback: 7d\npage_size: 4\nrequest_timeout: 900ms\n\
         regions:\n  - region_id: cn-hangzhou\n    endpoint: {sim_url}\n    instances:\n\
         \x20     - instance_id: rm-a\n      - instance_id: rm-b\n\
         \x20 - region_id: ap-southeast-1\n    endpoint: {sim_url}\n    instances:\n      - instance_id: pc-denied\n"
    )
}

fn labels<'a>(instance: &'a str, task_type: &'a str, state: &'a str) -> Vec<(&'a str, &'a str)> {
    let region = if instance == "pc-denied" { "ap-southeast-1" } else { "cn-hangzhou" };
    vec![("region_id", region), ("instance_id", instance), ("task_type", task_type), ("state", state)]
}

#[tokio::test]
async fn metrics_carry_exact_counts_and_sums_and_a_denied_instance_is_down_alone() {
    let (_sim, mut exporter) = TestEstate::new()
        .tasks(data_set())
        .forbidden("ap-southeast-1", "pc-denied")
        .spawn(Exporter::binary().args(&["--log.level", "debug"]), config)
        .await;
    assert!(exporter.wait_ready().await, "exporter never became ready");
    let (status, text) = exporter.get("/metrics").await.unwrap();
    assert_eq!(status, 200);
    let values = samples(&text);
    let value = |name: &str, l: Vec<(&str, &str)>| {
        let key = series(name, &l);
        *values.get(&key).unwrap_or_else(|| panic!("missing {key} in\n{text}"))
    };

    let tasks = "aliyun_dbs_download_tasks";
    assert_eq!(value(tasks, labels("rm-a", "full", "finished")), 5.0);
    assert_eq!(value(tasks, labels("rm-a", "full", "failed")), 3.0);
    assert_eq!(value(tasks, labels("rm-a", "full", "queueing")), 2.0, "queuing and queueing are one state");
    assert_eq!(value(tasks, labels("rm-a", "full", "running")), 1.0);
    assert_eq!(value(tasks, labels("rm-a", "full", "initializing")), 1.0);
    assert_eq!(value(tasks, labels("rm-a", "full", "expired")), 0.0);
    assert_eq!(value(tasks, labels("rm-a", "full", "paused")), 1.0, "an unknown state keeps its own name");
    assert_eq!(value(tasks, labels("rm-a", "pitr", "expired")), 3.0);
    assert_eq!(value(tasks, labels("rm-a", "pitr", "finished")), 0.0);
    assert_eq!(value(tasks, labels("rm-b", "full", "finished")), 4.0);
    for state in ["initializing", "queueing", "running", "failed", "finished", "expired"] {
        assert_eq!(value(tasks, labels("rm-b", "pitr", state)), 0.0, "zero present for {state}");
    }
    assert_eq!(value("aliyun_dbs_download_export_bytes", labels("rm-a", "full", "finished")), 15_000.0);
    assert_eq!(value("aliyun_dbs_download_import_bytes", labels("rm-a", "full", "finished")), 500.0);
    assert_eq!(value("aliyun_dbs_download_export_bytes", labels("rm-a", "full", "failed")), 21.0);
    assert_eq!(value("aliyun_dbs_download_export_bytes", labels("rm-b", "full", "finished")), 10_000.0);
    assert_eq!(value("aliyun_dbs_download_import_bytes", labels("rm-a", "pitr", "expired")), 60.0);

    let instance = |i: &'static str, r: &'static str| vec![("region_id", r), ("instance_id", i)];
    assert_eq!(value("aliyun_dbs_up", instance("rm-a", "cn-hangzhou")), 1.0);
    assert_eq!(value("aliyun_dbs_up", instance("rm-b", "cn-hangzhou")), 1.0);
    assert_eq!(value("aliyun_dbs_up", instance("pc-denied", "ap-southeast-1")), 0.0);
    assert!(
        !text.lines().any(|line| line.starts_with("aliyun_dbs_download") && line.contains("\"pc-denied\"")),
        "no task series for an instance never listed"
    );
    let error_info = |t: &'static str| {
        vec![
            ("region_id", "ap-southeast-1"),
            ("instance_id", "pc-denied"),
            ("task_type", t),
            ("code", "forbidden"),
        ]
    };
    assert_eq!(value("aliyun_dbs_listing_error_info", error_info("full")), 1.0, "and why it is down");
    assert!(
        !text.contains("aliyun_dbs_listing_error_info{region_id=\"cn-hangzhou\""),
        "none for a listing that works"
    );
    let last_success = value("aliyun_dbs_last_success_timestamp_seconds", instance("rm-a", "cn-hangzhou"));
    assert!((last_success - now_ms() as f64 / 1000.0).abs() < 120.0, "{last_success}");
    assert!(
        value(
            "aliyun_dbs_api_request_errors_total",
            vec![("region_id", "ap-southeast-1"), ("code", "forbidden")]
        ) >= 2.0
    );
    assert_eq!(
        value(
            "aliyun_dbs_api_request_errors_total",
            vec![("region_id", "cn-hangzhou"), ("code", "forbidden")]
        ),
        0.0
    );
    // rm-a full: 13 tasks in the window at 4 per page = 4 pages; everything else one page.
    assert!(value("aliyun_dbs_api_requests_total", vec![("region_id", "cn-hangzhou")]) >= 4.0 + 1.0 + 2.0);
    assert_eq!(values.get("aliyun_dbs_targets"), Some(&6.0));
    assert!(text.contains("# TYPE aliyun_dbs_api_request_duration_seconds histogram"));
    assert!(text.contains("aliyun_dbs_exporter_build_info{"));
    assert!(text.contains("process_resident_memory_bytes"));

    // Let a few more cycles run: a failure that persists must not be logged again.
    let cycles_before = value("aliyun_dbs_api_requests_total", vec![("region_id", "ap-southeast-1")]);
    let calls = series("aliyun_dbs_api_requests_total", &[("region_id", "ap-southeast-1")]);
    let _ =
        eventually(LONG_PATIENCE, || async { exporter.samples().await[&calls] >= cycles_before + 4.0 }).await;

    let status = exporter.process().terminate(Duration::from_secs(10)).expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    let stderr = exporter.log();
    assert!(!stderr.contains(SECRET), "the secret leaked into the log");
    assert!(stderr.contains("Forbidden.RAM"), "the denied instance is logged with its code:\n{stderr}");
    assert_eq!(
        stderr.matches("level=warn").count(),
        2,
        "one warning per failing listing (full and pitr of pc-denied), not one per cycle:\n{stderr}"
    );
}

#[tokio::test]
async fn http_routes_answer_as_documented() {
    let custom_path = Exporter::binary().args(&["--web.telemetry-path", "/custom-metrics"]);
    let (_sim, exporter) = TestEstate::new().spawn(custom_path, config).await;
    let base = &exporter.base;
    assert!(wait_ok(&format!("{base}/-/healthy"), Duration::from_secs(20)).await);
    assert!(exporter.wait_ready().await);
    let (status, body) = get(&format!("{base}/")).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("href=\"/custom-metrics\""));
    assert_eq!(get(&format!("{base}/custom-metrics")).await.unwrap().0, 200);
    assert_eq!(get(&format!("{base}/metrics")).await.unwrap().0, 404);
    assert_eq!(get(&format!("{base}/nope")).await.unwrap().0, 404);
    let post = reqwest::Client::new().post(format!("{base}/custom-metrics")).send().await.unwrap();
    assert_eq!(post.status().as_u16(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    let scrape = reqwest::Client::new().get(format!("{base}/custom-metrics")).send().await.unwrap();
    assert_eq!(scrape.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
}
