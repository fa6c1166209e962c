//! The subcommands of the real binary: check-config, once, healthcheck, and flag errors.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::SystemTime;

use dbs_exporter::api::TaskType;
use dbs_exporter::sim::{SimTask, Simulator};
use support::*;

const KEY_ID: &str = "LTAI5tCommandTest";
const SECRET: &str = "canary-command-secret-8";

fn run(command: &mut Command) -> (bool, String, String) {
    let Output { status, stdout, stderr } = command.output().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn check_config(text: &str) -> (bool, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), text);
    let (ok, out, err) =
        run(Command::new(BIN).args(["check-config", "--config.file", path.to_str().unwrap()]));
    (ok, out, err, path.display().to_string())
}

#[test]
fn check_config_summarises_a_valid_file() {
    let (ok, out, _, path) = check_config(
        "regions:\n  - region_id: cn-hangzhou\n    instances:\n      - instance_id: rm-1\n      - instance_id: rm-2\n",
    );
    assert!(ok);
    assert!(out.starts_with(&format!("{path}: valid")), "{out}");
    assert!(out.contains("instances: 2"));
    assert!(out.contains("listings per cycle: 4"), "{out}");
}

#[test]
fn check_config_accepts_the_shipped_example() {
    let (ok, out, err) =
        run(Command::new(BIN).args(["check-config", "--config.file", "config/example.yaml"]));
    assert!(ok, "{out}{err}");
}

#[test]
fn check_config_names_file_line_column_and_field_of_each_bad_config() {
    let cases = [
        ("poll_interval: 60s\nbogus_key: 1\nregions: []\n", ":2:", "bogus_key"),
        (
            "page_size: lots\nregions:\n  - region_id: a\n    instances: [{instance_id: x}]\n",
            ":1:",
            "page_size",
        ),
        (
            "page_size: 1000\nregions:\n  - region_id: a\n    instances: [{instance_id: x}]\n",
            ":1:",
            "page_size",
        ),
        ("regions:\n  - region_id: cn-hangzhou\n    instances: []\n", ":3:", "instances"),
        (
            "poll_interval: soon\nregions:\n  - region_id: a\n    instances: [{instance_id: x}]\n",
            ":1:",
            "poll_interval",
        ),
        (
            "regions:\n  - region_id: a\n    instances:\n      - instance_id: x\n        colour: red\n",
            ":5:",
            "colour",
        ),
    ];
    for (text, line, field) in cases {
        let (ok, _, err, path) = check_config(text);
        assert!(!ok, "{text} should be refused");
        assert!(err.contains(&format!("{path}{line}")), "file and line missing for {text:?}: {err}");
        assert!(err.contains(field), "field {field} missing for {text:?}: {err}");
    }
}

#[test]
fn a_missing_config_file_is_named() {
    let (ok, _, err) =
        run(Command::new(BIN).args(["check-config", "--config.file", "/nonexistent/dbs.yaml"]));
    assert!(!ok);
    assert!(err.contains("/nonexistent/dbs.yaml"), "{err}");
}

#[test]
fn serving_without_a_config_file_says_what_is_missing() {
    let (ok, _, err) = run(exporter(KEY_ID, SECRET).args(["--web.listen-address", "127.0.0.1:0"]));
    assert!(!ok);
    assert!(err.contains("--config.file"), "{err}");
}

#[tokio::test]
async fn once_prints_the_exposition_and_fails_when_a_target_fails() {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    let sim = Simulator::new()
        .with_access_key(KEY_ID, SECRET)
        .with_tasks([SimTask::new("dt-1", "cn-hangzhou", "rm-1", TaskType::Full, "finished", now - 60_000)])
        .with_forbidden_instance("cn-hangzhou", "rm-denied")
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = format!(
        "task_types: [full]\nregions:\n  - region_id: cn-hangzhou\n    endpoint: {}\n    instances:\n      - instance_id: rm-1\n",
        sim.url()
    );
    let path = write_config(dir.path(), &good);
    let output = tokio::task::spawn_blocking(move || {
        run(exporter(KEY_ID, SECRET).args(["once", "--config.file", path.to_str().unwrap()]))
    })
    .await
    .unwrap();
    let (ok, out, err) = output;
    assert!(ok, "{err}");
    let line = "aliyun_dbs_download_tasks{region_id=\"cn-hangzhou\",instance_id=\"rm-1\",task_type=\"full\",state=\"finished\"} 1";
    assert!(out.contains(line), "{out}");

    let bad = format!("{good}      - instance_id: rm-denied\n");
    let path = write_config(dir.path(), &bad);
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        run(exporter(KEY_ID, SECRET).args(["once", "--config.file", path.to_str().unwrap()]))
    })
    .await
    .unwrap();
    assert!(!ok, "a failed target must fail `once`");
    assert!(out.contains("aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-denied\"} 0"), "{out}");
    assert!(err.contains("1 of 2 listings failed"), "{err}");
    assert!(!err.contains(SECRET) && !out.contains(SECRET));
}

#[test]
fn missing_credentials_are_named_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "regions:\n  - region_id: a\n    instances: [{instance_id: x}]\n");
    let (ok, _, err) = run(hermetic(&mut Command::new(BIN))
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .args(["once", "--config.file", path.to_str().unwrap()]));
    assert!(!ok);
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"), "{err}");
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let port = free_port();
    let (ok, _, err) =
        run(Command::new(BIN).args(["healthcheck", "--web.listen-address", &format!("127.0.0.1:{port}")]));
    assert!(!ok);
    assert!(err.contains("/-/healthy"), "{err}");
}

#[tokio::test]
async fn shards_split_the_instances_so_each_is_polled_by_exactly_one() {
    let sim = Simulator::new()
        .with_access_key(KEY_ID, SECRET)
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let instances: Vec<String> = (0..40).map(|n| format!("rm-shard{n:03}")).collect();
    let list: String = instances.iter().map(|i| format!("      - instance_id: {i}\n")).collect();
    let text = format!(
        "task_types: [full]\nregions:\n  - region_id: cn-hangzhou\n    endpoint: {}\n    instances:\n{list}",
        sim.url()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &text);
    let mut polled_per_shard = Vec::new();
    for index in 0..3 {
        let path = path.clone();
        let (ok, out, err) = tokio::task::spawn_blocking(move || {
            run(exporter(KEY_ID, SECRET).args(["once", "--config.file", path.to_str().unwrap()]).args([
                "--shard.count",
                "3",
                "--shard.index",
                &index.to_string(),
            ]))
        })
        .await
        .unwrap();
        assert!(ok, "{err}");
        polled_per_shard.push(out.matches("aliyun_dbs_up{").count());
    }
    for instance in &instances {
        assert_eq!(
            sim.calls_for("cn-hangzhou", instance),
            1,
            "{instance} must be polled by exactly one shard"
        );
    }
    assert_eq!(polled_per_shard.iter().sum::<usize>(), 40);
    assert!(polled_per_shard.iter().all(|&n| n > 0), "{polled_per_shard:?}");
}

#[test]
fn a_shard_index_beyond_the_count_is_refused() {
    let (ok, _, err) = run(exporter(KEY_ID, SECRET).args([
        "once",
        "--config.file",
        "config/example.yaml",
        "--shard.count",
        "2",
        "--shard.index",
        "2",
    ]));
    assert!(!ok);
    assert!(err.contains("--shard.index must be below --shard.count"), "{err}");
}
