//! `dbs-exporter simulate` with the real binary: it prints an endpoint and a key, and the daemon,
//! run on a configuration of one's own pointed at that endpoint, polls it successfully.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// The value after `label` on the first line of `text` that starts with it (after spaces).
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
        .trim()
}

#[tokio::test]
async fn the_daemon_polls_the_simulator_with_a_configuration_of_ones_own() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine.yaml");
    std::fs::write(
        &mine,
        "task_types: [full, pitr]\nregions:\n  - region_id: eu-central-1\n    instances:\n      - instance_id: rm-gw8mine1\n      - instance_id: rm-gw8mine2\n",
    )
    .unwrap();

    let simulator_address = format!("127.0.0.1:{}", free_port());
    let mut simulator = Running(
        Command::new(BIN)
            .args(["simulate", "--simulator.listen-address", &simulator_address])
            .args(["--config.file", mine.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Everything it prints, up to the end of the example configuration (a blank line or EOF).
    let stdout = simulator.0.stdout.take().unwrap();
    let printed = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let mut in_example = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            in_example |= line == "regions:";
            if in_example && line.is_empty() {
                break;
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    })
    .await
    .unwrap();

    let endpoint = field(&printed, "endpoint:");
    assert_eq!(endpoint, format!("http://{simulator_address}"));
    let key_id = field(&printed, "access key id:");
    let secret = field(&printed, "access key secret:");
    let example = printed.split("this my-dbs.yaml:\n").nth(1).expect("an example configuration");
    assert!(example.contains("rm-gw8mine2"), "the example is the given configuration: {example}");
    // A short interval only so that the first cycle, spread over one interval, ends soon.
    let config = write_config(dir.path(), &format!("poll_interval: 2s\nrequest_timeout: 1s\n{example}"));

    let port = free_port();
    let _daemon = Running(
        exporter(key_id, secret)
            .args([
                "--config.file",
                config.to_str().unwrap(),
                "--web.listen-address",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        wait_ok(&format!("{base}/-/ready"), Duration::from_secs(60)).await,
        "the daemon never became ready"
    );

    // Ready means one cycle finished; every instance of the file must have been listed well,
    // with tasks (the simulator gives each of them a few dozen at any time).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = get(&format!("{base}/metrics")).await.map(|(_, text)| text).unwrap_or_default();
        let metrics = samples(&text);
        let up = |instance: &str| {
            metrics
                .get(&series("aliyun_dbs_up", &[("region_id", "eu-central-1"), ("instance_id", instance)]))
                .copied()
        };
        let tasks = |instance: &str| -> f64 {
            metrics
                .iter()
                .filter(|(name, _)| {
                    name.starts_with("aliyun_dbs_download_tasks{")
                        && name.contains(&format!("instance_id=\"{instance}\""))
                })
                .map(|(_, value)| value)
                .sum()
        };
        let good = ["rm-gw8mine1", "rm-gw8mine2"].iter().all(|i| up(i) == Some(1.0) && tasks(i) > 0.0);
        if good {
            let auth_errors = metrics
                .iter()
                .filter(|(name, _)| name.starts_with("aliyun_dbs_api_request_errors_total{"))
                .map(|(_, value)| value)
                .sum::<f64>();
            assert_eq!(auth_errors, 0.0, "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "the configured instances were not polled well:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn the_simulator_listens_on_loopback_only() {
    let output = Command::new(BIN)
        .args(["simulate", "--simulator.listen-address", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("must be a loopback address"), "{err}");
}
