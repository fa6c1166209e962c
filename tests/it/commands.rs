//! The subcommands of the real binary: check-config, once, healthcheck, and flag errors.

use std::process::{Command, Output};

use crate::support::*;
use dbs_sim::SimTask;
use dbs_sim::TaskType;

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
    let (ok, out, err) = run(&mut subcommand("check-config", &path));
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
        run(exporter(KEY_ID, SECRET).args(["check-config", "--config.file", "config/example.yaml"]));
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
    let (ok, _, err) = run(binary().args(["check-config", "--config.file", "/nonexistent/dbs.yaml"]));
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
    let sim = TestEstate::new()
        .tasks([SimTask::new("dt-1", "cn-hangzhou", "rm-1", TaskType::Full, "finished", now_ms() - 60_000)])
        .forbidden("cn-hangzhou", "rm-denied")
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let good = format!(
        "task_types: [full]\nregions:\n  - region_id: cn-hangzhou\n    endpoint: {}\n    instances:\n      - instance_id: rm-1\n",
        sim.url()
    );
    let path = write_config(dir.path(), &good);
    let output = tokio::task::spawn_blocking(move || run(&mut subcommand("once", &path))).await.unwrap();
    let (ok, out, err) = output;
    assert!(ok, "{err}");
    let line = "aliyun_dbs_download_tasks{region_id=\"cn-hangzhou\",instance_id=\"rm-1\",task_type=\"full\",state=\"finished\"} 1";
    assert!(out.contains(line), "{out}");

    let bad = format!("{good}      - instance_id: rm-denied\n");
    let path = write_config(dir.path(), &bad);
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || run(&mut subcommand("once", &path))).await.unwrap();
    assert!(!ok, "a failed target must fail `once`");
    assert!(out.contains("aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-denied\"} 0"), "{out}");
    assert!(err.contains("1 of 2 listings failed"), "{err}");
    assert!(!err.contains(SECRET) && !out.contains(SECRET));
}

#[test]
fn missing_credentials_are_named_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "regions:\n  - region_id: a\n    instances: [{instance_id: x}]\n");
    // No ALIBABA_CLOUD_ACCESS_KEY_* (hermetic removes every ALIBABA_CLOUD_* variable).
    let (ok, _, err) = run(binary().args(["once", "--config.file", path.to_str().unwrap()]));
    assert!(!ok);
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"), "{err}");
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let (_held, address) = refusing_port();
    let (ok, _, err) = run(binary().args(["healthcheck", "--web.listen-address", &address.to_string()]));
    assert!(!ok);
    assert!(err.contains("/-/healthy"), "{err}");
}

#[tokio::test]
async fn shards_split_the_instances_so_each_is_polled_by_exactly_one() {
    let sim = TestEstate::new().start().await;
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
            run(subcommand("once", &path).args(["--shard.count", "3", "--shard.index", &index.to_string()]))
        })
        .await
        .unwrap();
        assert!(ok, "{err}");
        let shard_series = format!("aliyun_dbs_exporter_shard{{count=\"3\",index=\"{index}\"}} 3\n");
        assert!(out.contains(&shard_series), "each shard says which it is:\n{out}");
        assert_eq!(out.matches("aliyun_dbs_exporter_shard{").count(), 1);
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

/// Runs a command that is expected to exit by itself; kills it (and fails) past `within`.
fn run_bounded(command: &mut Command, within: std::time::Duration) -> (Option<i32>, String, String) {
    let mut child = Running::spawn(command);
    let status = child.wait(within).unwrap_or_else(|| panic!("{command:?} did not exit by itself"));
    (status.code(), child.stdout(), child.stderr())
}

const BOUND: std::time::Duration = std::time::Duration::from_secs(30);

#[test]
fn check_config_builds_each_accounts_credentials_and_names_the_account_that_fails() {
    // The RRSA variables that `source: oidc` falls back on are not set (hermetic removes them).
    let (ok, out, err) =
        run(binary().args(["check-config", "--config.file", "config/example-accounts.yaml"]));
    assert!(!ok, "{out}");
    assert!(err.contains("credentials of account prod"), "{err}");
    assert!(err.contains("ALIBABA_CLOUD_ROLE_ARN"), "{err}");
    assert_eq!(err.matches("ALIBABA_CLOUD_ROLE_ARN is not set").count(), 1, "printed once: {err}");

    // `once` refuses the same file for the same reason, with the same account named.
    let (code, _, err) =
        run_bounded(binary().args(["once", "--config.file", "config/example-accounts.yaml"]), BOUND);
    assert_eq!(code, Some(1));
    assert!(err.contains("credentials of account prod") && err.contains("ALIBABA_CLOUD_ROLE_ARN"), "{err}");
}

#[test]
fn check_config_names_each_accounts_credential_source_when_all_can_be_built() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "a-service-account-token").unwrap();
    let (ok, out, err) = run(binary()
        .env("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1234567890123456:role/dbs-exporter")
        .env("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1")
        .env("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &token)
        .env("LEGACY_ACCESS_KEY_ID", "LTAI5tLegacyKey")
        .env("LEGACY_ACCESS_KEY_SECRET", SECRET)
        .args(["check-config", "--config.file", "config/example-accounts.yaml"]));
    assert!(ok, "{err}");
    assert!(
        out.contains("credentials of account prod: oidc:acs:ram::1234567890123456:role/dbs-exporter"),
        "{out}"
    );
    assert!(out.contains("credentials of account analytics: assume-role:"), "{out}");
    assert!(out.contains("credentials of account legacy: environment:LEGACY_ACCESS_KEY_ID"), "{out}");
    assert!(!out.contains(SECRET) && !err.contains(SECRET) && !out.contains("a-service-account-token"));
}

#[test]
fn check_config_prints_durations_as_they_are_written() {
    let (ok, out, err, _) = check_config(
        "poll_interval: 90s\nlookback: 7d\nregions:\n  - region_id: cn-hangzhou\n    instances: [{instance_id: rm-1}]\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("poll interval: 1m30s, lookback: 7d,"), "{out}");
    let (ok, out, _, _) =
        check_config("regions:\n  - region_id: cn-hangzhou\n    instances: [{instance_id: rm-1}]\n");
    assert!(ok);
    assert!(out.contains("poll interval: 1m, lookback: 7d,"), "the defaults too: {out}");
}

#[test]
fn a_shard_index_at_or_past_the_count_is_refused_by_every_subcommand() {
    let shard = ["--shard.index", "7", "--shard.count", "3"];
    for subcommand in [
        &["check-config", "--config.file", "config/example.yaml"][..],
        &["once", "--config.file", "config/example.yaml"],
        &["--config.file", "config/example.yaml", "--web.listen-address", "127.0.0.1:0"],
    ] {
        let (code, out, err) = run_bounded(exporter(KEY_ID, SECRET).args(subcommand).args(shard), BOUND);
        assert_eq!(code, Some(1), "{subcommand:?}: {out}{err}");
        assert!(
            err.contains("--shard.index must be below --shard.count (3), got 7"),
            "{subcommand:?}: {err}"
        );
    }
    // The subcommands that poll no shard refuse the flags outright, as any bad flag (status 2).
    for subcommand in [["demo"], ["simulate"], ["healthcheck"]] {
        let (code, out, err) = run_bounded(exporter(KEY_ID, SECRET).args(subcommand).args(shard), BOUND);
        assert_eq!(code, Some(2), "{subcommand:?}: {out}{err}");
        assert!(err.contains("--shard.index does not apply to"), "{subcommand:?}: {err}");
    }
}

#[test]
fn flags_a_subcommand_would_ignore_are_refused_with_a_usage_error() {
    let cases: [(&[&str], &str); 7] = [
        (&["demo", "--config.file", "config/example.yaml"], "--config.file does not apply to `demo`"),
        // Global flags count wherever they are written.
        (&["--config.file", "config/example.yaml", "demo"], "--config.file does not apply to `demo`"),
        (&["demo", "--shard.count", "3"], "--shard.count does not apply to `demo`"),
        (
            &["once", "--config.file", "config/example.yaml", "--web.listen-address", ":9999"],
            "--web.listen-address does not apply to `once`",
        ),
        (
            &["healthcheck", "--config.file", "config/example.yaml"],
            "--config.file does not apply to `healthcheck`",
        ),
        (
            &["simulate", "--web.listen-address", "127.0.0.1:0"],
            "--web.listen-address does not apply to `simulate`",
        ),
        (
            &["once", "--config.file", "config/example.yaml", "--web.enable-lifecycle"],
            "--web.enable-lifecycle does not apply to `once`",
        ),
    ];
    for (args, message) in cases {
        let (code, out, err) = run_bounded(exporter(KEY_ID, SECRET).args(args), BOUND);
        assert_eq!(code, Some(2), "{args:?}: {out}{err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(err.contains("Usage:"), "{args:?}: {err}");
    }
}

#[test]
fn check_config_checks_the_web_flags_the_daemon_would_be_given() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n  extra: [1]\n").unwrap();
    let (ok, _, err) = run(binary().args([
        "check-config",
        "--config.file",
        "config/example.yaml",
        "--web.config.file",
        web.to_str().unwrap(),
    ]));
    assert!(!ok);
    assert!(err.contains(&web.display().to_string()), "{err}");

    let (ok, _, err) = run(binary().args([
        "check-config",
        "--config.file",
        "config/example.yaml",
        "--web.telemetry-path",
        "metrics",
    ]));
    assert!(!ok);
    assert!(err.contains("--web.telemetry-path must start with '/'"), "{err}");

    for built_in in ["/", "/-/ready", "/-/reload", "/api/v1/targets"] {
        let (ok, _, err) = run(binary().args([
            "check-config",
            "--config.file",
            "config/example.yaml",
            "--web.telemetry-path",
            built_in,
        ]));
        assert!(!ok, "{built_in} accepted as the telemetry path");
        assert!(err.contains("is a path the exporter serves itself"), "{built_in}: {err}");
    }
}

#[test]
fn an_error_that_stops_a_command_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "poll_interval: soon\nregions: []\n");
    let path = path.to_str().unwrap();
    for args in [
        vec!["check-config", "--config.file", path],
        vec!["once", "--config.file", path],
        vec!["--config.file", path],
    ] {
        let (code, _, err) = run_bounded(exporter(KEY_ID, SECRET).args(&args), BOUND);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert_eq!(err.matches("invalid duration").count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn version_says_what_was_built_as_prometheus_binaries_do() {
    let (ok, out, _) = run(binary().arg("--version"));
    assert!(ok);
    let mut lines = out.lines();
    let first = lines.next().unwrap();
    let expected_start = format!("dbs-exporter {} (branch: ", env!("CARGO_PKG_VERSION"));
    assert!(first.starts_with(&expected_start) && first.contains(", revision: "), "{out}");
    for (line, label) in lines.zip(["build date:", "rust version:", "platform:"]) {
        assert!(line.trim_start().starts_with(label), "{label} in {out}");
        assert!(!line.trim_end().ends_with(':'), "a value after {label}");
    }
    let date = out.lines().nth(1).unwrap().split_whitespace().last().unwrap().to_string();
    assert_eq!(date.len(), "20261204-17:22:59".len(), "{date}");
    assert_eq!(&date[8..9], "-");
}

#[test]
fn a_subcommands_help_lists_only_the_flags_it_takes() {
    let flags_of = |subcommand: &str| {
        let (ok, out, _) = run(binary().args([subcommand, "--help"]));
        assert!(ok, "{subcommand} --help");
        let mut flags: Vec<String> = out
            .split_whitespace()
            .filter(|word| word.starts_with("--"))
            .map(|word| word.trim_end_matches([',', '.']).split('=').next().unwrap().to_string())
            .collect();
        flags.sort();
        flags.dedup();
        flags
    };
    let expected = |flags: &[&str]| flags.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    assert_eq!(
        flags_of("simulate"),
        expected(&[
            "--config.file",
            "--help",
            "--log.format",
            "--log.level",
            "--simulator.ca-file",
            "--simulator.listen-address",
            "--tls"
        ])
    );
    assert_eq!(
        flags_of("once"),
        expected(&[
            "--config.file",
            "--help",
            "--log.format",
            "--log.level",
            "--shard.count",
            "--shard.index"
        ])
    );
    assert_eq!(
        flags_of("healthcheck"),
        expected(&["--help", "--log.format", "--log.level", "--web.config.file", "--web.listen-address"])
    );
    let check_config = flags_of("check-config");
    for flag in ["--web.listen-address", "--web.telemetry-path", "--shard.index", "--web.config.file"] {
        assert!(
            check_config.contains(&flag.to_string()),
            "check-config checks what the daemon is given: {flag}"
        );
    }
}
