//! Operating the real binary: reload on SIGHUP, shutdown mid-poll, and secrets that never leak.

use std::time::{Duration, Instant};

use crate::support::*;
use dbs_sim::TaskType;
use dbs_sim::{Fault, SimHandle, SimTask};

const REGION: &str = "cn-hangzhou";

/// The simulator, accepting the shared STS key, with a task for each of `instances`.
async fn sts_sim(instances: &[&str]) -> SimHandle {
    let tasks = instances
        .iter()
        .map(|i| SimTask::new(format!("dt-{i}"), REGION, *i, TaskType::Full, "finished", now_ms() - 60_000));
    TestEstate::new().sts().tasks(tasks).forbidden(REGION, "rm-denied").start().await
}

fn config_text(sim: &SimHandle, instances: &[&str]) -> String {
    let list: String = instances.iter().map(|i| format!("      - instance_id: {i}\n")).collect();
    format!(
        "poll_interval: 1s\nrequest_timeout: 500ms\ntask_types: [full]\nretry: {{max_attempts: 2, base_delay: 1ms}}\n\
         regions:\n  - region_id: {REGION}\n    endpoint: {}\n    instances:\n{list}",
        sim.url()
    )
}

/// The binary signing with the shared STS key and its token, logging at debug.
fn debug_exporter() -> Exporter {
    Exporter::binary().sts().args(&["--log.level", "debug"])
}

fn has_instance(text: &str, instance: &str) -> bool {
    text.contains(&format!("aliyun_dbs_up{{region_id=\"{REGION}\",instance_id=\"{instance}\"}}"))
}

/// Everything the exporter wrote, once stopped.
async fn output_of(mut exporter: TestExporter) -> String {
    exporter.stop().await;
    exporter.log() + &exporter.process().stdout()
}

#[tokio::test]
async fn sighup_applies_a_valid_config_and_refuses_an_invalid_one() {
    let sim = sts_sim(&["rm-a", "rm-b", "rm-c"]).await;
    let mut exporter = debug_exporter().start(&config_text(&sim, &["rm-a", "rm-b"])).await;
    exporter
        .metrics_until("rm-a and rm-b polled", |t| has_instance(t, "rm-a") && has_instance(t, "rm-b"))
        .await;

    exporter.write_config(&config_text(&sim, &["rm-a", "rm-c"]));
    exporter.signal("HUP");
    let text = exporter
        .metrics_until("rm-b replaced by rm-c", |t| has_instance(t, "rm-c") && !has_instance(t, "rm-b"))
        .await;
    assert!(!text.contains("instance_id=\"rm-b\""), "a removed instance leaves no series:\n{text}");
    assert!(text.contains("aliyun_dbs_exporter_config_last_reload_successful 1"));

    exporter.write_config("regions: [not valid\n");
    exporter.signal("HUP");
    exporter
        .metrics_until("the refused reload", |t| {
            t.contains("aliyun_dbs_exporter_config_last_reload_successful 0")
        })
        .await;
    let calls_before = sim.calls_for(REGION, "rm-c");
    wait_for("the old config polling on after a refused reload", || {
        sim.calls_for(REGION, "rm-c") > calls_before
    })
    .await;
    let log = output_of(exporter).await;
    assert!(log.contains("configuration reload refused"), "{log}");
    assert!(log.contains("config.yaml:2:1: invalid YAML"), "the refused file is named with its line:\n{log}");
}

#[tokio::test]
async fn sigterm_mid_poll_with_a_slow_api_exits_cleanly_and_promptly() {
    let sim = sts_sim(&["rm-a"]).await;
    let text = config_text(&sim, &["rm-a"])
        .replace("poll_interval: 1s\nrequest_timeout: 500ms", "poll_interval: 60s\nrequest_timeout: 30s");
    sim.set_fault_rate(1.0, vec![Fault::Latency(Duration::from_secs(25))]);
    let mut exporter = debug_exporter().start(&text).await;
    assert!(wait_ok(&exporter.url("/-/healthy"), Duration::from_secs(20)).await);
    wait_for("the first poll", || sim.calls() > 0).await;
    let signalled = Instant::now();
    let status =
        exporter.process().terminate(Duration::from_secs(10)).expect("must exit well before the slow answer");
    assert!(status.success(), "{status:?}");
    // Not a speed assertion: the slow answer takes 25 s, so exiting inside the 10 s bound
    // proves the poll was abandoned rather than awaited.
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn no_secret_or_token_appears_in_logs_metrics_or_pages_through_success_failure_and_reload() {
    let sim = sts_sim(&["rm-a", "rm-denied"]).await;
    let mut exporter = debug_exporter().start(&config_text(&sim, &["rm-a", "rm-denied"])).await;
    exporter
        .metrics_until("both instances polled", |t| has_instance(t, "rm-a") && has_instance(t, "rm-denied"))
        .await;
    sim.inject(Fault::ServerError(503), 3);
    sim.inject(Fault::Malformed, 1);
    exporter.write_config(&config_text(&sim, &["rm-a"]));
    exporter.signal("HUP");
    exporter.metrics_until("rm-denied dropped", |t| !has_instance(t, "rm-denied")).await;

    let mut pages = String::new();
    for path in ["/metrics", "/", "/-/healthy", "/-/ready", "/nope"] {
        pages.push_str(&exporter.get(path).await.unwrap().1);
    }
    let log = output_of(exporter).await;
    assert!(log.contains("level=debug"), "the run must have logged at debug");
    assert!(log.contains("Forbidden.RAM"));
    for (name, text) in [("log", &log), ("HTTP answers", &pages)] {
        for secret in [STS_SECRET, STS_TOKEN, "canary"] {
            assert!(!text.contains(secret), "{secret} leaked into the {name}");
        }
    }

    // A wrong secret makes the service quote its string-to-sign, STS token included.
    let wrong_secret = debug_exporter().key(STS_KEY_ID, "wrong-canary-secret");
    let exporter = wrong_secret.start(&config_text(&sim, &["rm-a"])).await;
    let auth_errors =
        series("aliyun_dbs_api_request_errors_total", &[("region_id", REGION), ("code", "auth")]);
    exporter
        .metrics_until("an auth error", |t| samples(t).get(&auth_errors).is_some_and(|v| *v >= 1.0))
        .await;
    let log = output_of(exporter).await;
    assert!(log.contains("SignatureDoesNotMatch"), "{log}");
    let encoded_token = percent_encoded(STS_TOKEN);
    let token_name = STS_TOKEN.split('/').next().unwrap();
    assert!(!log.contains(STS_TOKEN) && !log.contains(&encoded_token) && !log.contains(token_name), "{log}");
}

#[tokio::test]
async fn without_web_enable_lifecycle_post_reload_is_forbidden_and_sighup_still_reloads() {
    let sim = sts_sim(&["rm-a", "rm-b"]).await;
    let mut exporter = debug_exporter().start(&config_text(&sim, &["rm-a"])).await;
    exporter.metrics_until("rm-a polled", |t| has_instance(t, "rm-a")).await;

    exporter.write_config(&config_text(&sim, &["rm-b"]));
    let answer = exporter.reload().await;
    assert_eq!(answer.status().as_u16(), 403);
    assert_eq!(answer.text().await.unwrap(), "Lifecycle API is not enabled.\n");
    let text = exporter.metrics().await;
    assert!(has_instance(&text, "rm-a") && !has_instance(&text, "rm-b"), "a refused POST reloads nothing");
    assert!(text.contains("aliyun_dbs_exporter_config_last_reload_successful 1"), "{text}");

    exporter.signal("HUP");
    exporter
        .metrics_until("rm-a replaced by rm-b", |t| has_instance(t, "rm-b") && !has_instance(t, "rm-a"))
        .await;
    output_of(exporter).await;
}

#[tokio::test]
async fn post_reload_answers_with_the_outcome() {
    let sim = sts_sim(&["rm-a", "rm-b"]).await;
    let exporter = debug_exporter().lifecycle().start(&config_text(&sim, &["rm-a"])).await;
    exporter.metrics_until("rm-a polled", |t| has_instance(t, "rm-a")).await;

    exporter.write_config(&config_text(&sim, &["rm-b"]));
    assert_eq!(exporter.reload().await.status().as_u16(), 200);
    exporter
        .metrics_until("rm-a replaced by rm-b", |t| has_instance(t, "rm-b") && !has_instance(t, "rm-a"))
        .await;

    exporter.write_config("poll_interval: never\nregions: []\n");
    let answer = exporter.reload().await;
    assert_eq!(answer.status().as_u16(), 500);
    let text = answer.text().await.unwrap();
    assert!(text.contains("config.yaml:1:"), "the refusal names the file and line: {text}");
    assert!(has_instance(&exporter.metrics().await, "rm-b"), "the old config keeps running");
    output_of(exporter).await;
}
