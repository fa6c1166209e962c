//! Operating the real binary: reload on SIGHUP, shutdown mid-poll, and secrets that never leak.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::support::*;
use dbs_sim::TaskType;
use dbs_sim::{Fault, SimHandle, SimTask, Simulator};

const KEY_ID: &str = "STS.OperationsKey";
const SECRET: &str = "canary-ops-secret-5c1e";
const TOKEN: &str = "canary-ops-sts-token/CAIS+x=";
const REGION: &str = "cn-hangzhou";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn sts_sim(instances: &[&str]) -> SimHandle {
    let tasks: Vec<SimTask> = instances
        .iter()
        .map(|i| SimTask::new(format!("dt-{i}"), REGION, *i, TaskType::Full, "finished", now_ms() - 60_000))
        .collect();
    Simulator::new()
        .with_sts_credentials(KEY_ID, SECRET, TOKEN, SystemTime::now() + Duration::from_secs(3600))
        .with_tasks(tasks)
        .with_forbidden_instance(REGION, "rm-denied")
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

fn config_text(sim: &SimHandle, instances: &[&str]) -> String {
    let list: String = instances.iter().map(|i| format!("      - instance_id: {i}\n")).collect();
    format!(
        "poll_interval: 1s\nrequest_timeout: 500ms\ntask_types: [full]\nretry: {{max_attempts: 2, base_delay: 1ms}}\n\
         regions:\n  - region_id: {REGION}\n    endpoint: {}\n    instances:\n{list}",
        sim.url()
    )
}

/// The exporter on a loopback port of its choosing, and its base URL.
async fn start(config: &std::path::Path, secret: &str) -> (Running, String) {
    start_with(config, secret, &[]).await
}

async fn start_with(config: &std::path::Path, secret: &str, extra: &[&str]) -> (Running, String) {
    let child = Running::spawn(
        exporter(KEY_ID, secret)
            .env("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
            .args(["--config.file", config.to_str().unwrap(), "--web.listen-address", "127.0.0.1:0"])
            .args(["--log.level", "debug"])
            .args(extra),
    );
    let base = format!("http://{}", child.listening().await);
    (child, base)
}

fn hang_up(child: &Running) {
    child.signal("HUP");
}

/// Scrapes until `check` holds, for at most 20 s.
async fn metrics_until(base: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = get(&format!("{base}/metrics")).await.map(|(_, t)| t).unwrap_or_default();
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "condition never held; last scrape:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn has_instance(text: &str, instance: &str) -> bool {
    text.contains(&format!("aliyun_dbs_up{{region_id=\"{REGION}\",instance_id=\"{instance}\"}}"))
}

fn output_of(mut child: Running) -> String {
    let status = child.terminate(Duration::from_secs(10)).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    child.stderr() + &child.stdout()
}

#[tokio::test]
async fn sighup_applies_a_valid_config_and_refuses_an_invalid_one() {
    let sim = sts_sim(&["rm-a", "rm-b", "rm-c"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &config_text(&sim, &["rm-a", "rm-b"]));
    let (child, base) = start(&path, SECRET).await;
    metrics_until(&base, |t| has_instance(t, "rm-a") && has_instance(t, "rm-b")).await;

    write_config(dir.path(), &config_text(&sim, &["rm-a", "rm-c"]));
    hang_up(&child);
    let text = metrics_until(&base, |t| has_instance(t, "rm-c") && !has_instance(t, "rm-b")).await;
    assert!(!text.contains("instance_id=\"rm-b\""), "a removed instance leaves no series:\n{text}");
    assert!(text.contains("aliyun_dbs_exporter_config_last_reload_successful 1"));

    write_config(dir.path(), "regions: [not valid\n");
    hang_up(&child);
    metrics_until(&base, |t| t.contains("aliyun_dbs_exporter_config_last_reload_successful 0")).await;
    let calls_before = sim.calls_for(REGION, "rm-c");
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.calls_for(REGION, "rm-c") == calls_before {
        assert!(Instant::now() < deadline, "the old config must keep polling after a refused reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = output_of(child);
    assert!(log.contains("configuration reload refused"), "{log}");
    assert!(log.contains("config.yaml:2:1: invalid YAML"), "the refused file is named with its line:\n{log}");
}

#[tokio::test]
async fn sigterm_mid_poll_with_a_slow_api_exits_cleanly_and_promptly() {
    let sim = sts_sim(&["rm-a"]).await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(&sim, &["rm-a"])
        .replace("poll_interval: 1s\nrequest_timeout: 500ms", "poll_interval: 60s\nrequest_timeout: 30s");
    let path = write_config(dir.path(), &text);
    sim.set_fault_rate(1.0, vec![Fault::Latency(Duration::from_secs(25))]);
    let (mut child, base) = start(&path, SECRET).await;
    assert!(wait_ok(&format!("{base}/-/healthy"), Duration::from_secs(20)).await);
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.calls() == 0 {
        assert!(Instant::now() < deadline, "the first poll never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let signalled = Instant::now();
    let status = child.terminate(Duration::from_secs(10)).expect("must exit well before the slow answer");
    assert!(status.success(), "{status:?}");
    // Not a speed assertion: the slow answer takes 25 s, so exiting inside the 10 s bound
    // proves the poll was abandoned rather than awaited.
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn no_secret_or_token_appears_in_logs_metrics_or_pages_through_success_failure_and_reload() {
    let sim = sts_sim(&["rm-a", "rm-denied"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &config_text(&sim, &["rm-a", "rm-denied"]));
    let (child, base) = start(&path, SECRET).await;
    metrics_until(&base, |t| has_instance(t, "rm-a") && has_instance(t, "rm-denied")).await;
    sim.inject(Fault::ServerError(503), 3);
    sim.inject(Fault::Malformed, 1);
    write_config(dir.path(), &config_text(&sim, &["rm-a"]));
    hang_up(&child);
    metrics_until(&base, |t| !has_instance(t, "rm-denied")).await;

    let mut pages = String::new();
    for path in ["/metrics", "/", "/-/healthy", "/-/ready", "/nope"] {
        pages.push_str(&get(&format!("{base}{path}")).await.unwrap().1);
    }
    let log = output_of(child);
    assert!(log.contains("level=debug"), "the run must have logged at debug");
    assert!(log.contains("Forbidden.RAM"));
    for (name, text) in [("log", &log), ("HTTP answers", &pages)] {
        for secret in [SECRET, TOKEN, "canary"] {
            assert!(!text.contains(secret), "{secret} leaked into the {name}");
        }
    }

    // A wrong secret makes the service quote its string-to-sign, STS token included.
    let (child, base) = start(&path, "wrong-canary-secret").await;
    let auth_errors =
        series("aliyun_dbs_api_request_errors_total", &[("region_id", REGION), ("code", "auth")]);
    metrics_until(&base, |t| samples(t).get(&auth_errors).is_some_and(|v| *v >= 1.0)).await;
    let log = output_of(child);
    assert!(log.contains("SignatureDoesNotMatch"), "{log}");
    let encoded_token = "canary-ops-sts-token%2FCAIS%2Bx%3D";
    assert!(
        !log.contains(TOKEN) && !log.contains(encoded_token) && !log.contains("canary-ops-sts-token"),
        "{log}"
    );
}

#[tokio::test]
async fn without_web_enable_lifecycle_post_reload_is_forbidden_and_sighup_still_reloads() {
    let sim = sts_sim(&["rm-a", "rm-b"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &config_text(&sim, &["rm-a"]));
    let (child, base) = start(&path, SECRET).await;
    metrics_until(&base, |t| has_instance(t, "rm-a")).await;

    write_config(dir.path(), &config_text(&sim, &["rm-b"]));
    let answer = reqwest::Client::new().post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    assert_eq!(answer.text().await.unwrap(), "Lifecycle API is not enabled.\n");
    let text = get(&format!("{base}/metrics")).await.unwrap().1;
    assert!(has_instance(&text, "rm-a") && !has_instance(&text, "rm-b"), "a refused POST reloads nothing");
    assert!(text.contains("aliyun_dbs_exporter_config_last_reload_successful 1"), "{text}");

    hang_up(&child);
    metrics_until(&base, |t| has_instance(t, "rm-b") && !has_instance(t, "rm-a")).await;
    output_of(child);
}

#[tokio::test]
async fn post_reload_answers_with_the_outcome() {
    let sim = sts_sim(&["rm-a", "rm-b"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &config_text(&sim, &["rm-a"]));
    let (child, base) = start_with(&path, SECRET, &["--web.enable-lifecycle"]).await;
    metrics_until(&base, |t| has_instance(t, "rm-a")).await;

    write_config(dir.path(), &config_text(&sim, &["rm-b"]));
    let answer = reqwest::Client::new().post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    metrics_until(&base, |t| has_instance(t, "rm-b") && !has_instance(t, "rm-a")).await;

    write_config(dir.path(), "poll_interval: never\nregions: []\n");
    let answer = reqwest::Client::new().post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 500);
    let text = answer.text().await.unwrap();
    assert!(text.contains("config.yaml:1:"), "the refusal names the file and line: {text}");
    assert!(
        has_instance(&get(&format!("{base}/metrics")).await.unwrap().1, "rm-b"),
        "the old config keeps running"
    );
    output_of(child);
}
