//! `dbs-exporter simulate` with the real binary: it prints an endpoint and a key, and the daemon,
//! run on a configuration of one's own pointed at that endpoint, polls it successfully.

use std::time::Duration;

use crate::support::*;

/// The value after `label` on the first line of `text` that starts with it (after spaces).
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
        .trim()
}

/// Everything `simulate` printed up to the end of the example configuration (the first blank
/// line after `regions:`), once it has printed that far.
fn up_to_the_end_of_the_example(stdout: &str) -> Option<String> {
    let mut text = String::new();
    let mut in_example = false;
    for line in stdout.lines() {
        in_example |= line == "regions:";
        if in_example && line.is_empty() {
            return Some(text);
        }
        text.push_str(line);
        text.push('\n');
    }
    None
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

    let mut simulator = Running::spawn(
        binary()
            .args(["simulate", "--simulator.listen-address", "127.0.0.1:0"])
            .args(["--config.file", mine.to_str().unwrap()]),
    );
    let mut printed = None;
    let example_printed = eventually(LONG_PATIENCE, || {
        printed = up_to_the_end_of_the_example(&simulator.stdout());
        std::future::ready(printed.is_some())
    })
    .await;
    assert!(example_printed, "the simulator printed no example configuration:\n{}", simulator.stdout());
    let printed = printed.unwrap();

    let endpoint = field(&printed, "endpoint:");
    let address: std::net::SocketAddr = endpoint.strip_prefix("http://").unwrap().parse().unwrap();
    assert!(address.ip().is_loopback() && address.port() != 0, "the endpoint it listens on: {endpoint}");
    let key_id = field(&printed, "access key id:");
    let secret = field(&printed, "access key secret:");
    let example = printed.split("this my-dbs.yaml:\n").nth(1).expect("an example configuration");
    assert!(example.contains("rm-gw8mine2"), "the example is the given configuration: {example}");
    // A short interval only so that the first cycle, spread over one interval, ends soon.
    let config = format!("poll_interval: 2s\nrequest_timeout: 1s\n{example}");
    let daemon = Exporter::binary().key(key_id, secret).start(&config).await;
    assert!(wait_ok(&daemon.url("/-/ready"), Duration::from_secs(60)).await, "the daemon never became ready");

    // Ready means one cycle finished; every instance of the file must have been listed well,
    // with tasks (the simulator gives each of them a few dozen at any time).
    let text = daemon
        .metrics_until("every instance of the configuration polled well", |text| {
            let metrics = samples(text);
            let up = |instance: &str| {
                metrics
                    .get(&series(
                        "aliyun_dbs_up",
                        &[("region_id", "eu-central-1"), ("instance_id", instance)],
                    ))
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
            ["rm-gw8mine1", "rm-gw8mine2"].iter().all(|i| up(i) == Some(1.0) && tasks(i) > 0.0)
        })
        .await;
    let auth_errors = samples(&text)
        .iter()
        .filter(|(name, _)| name.starts_with("aliyun_dbs_api_request_errors_total{"))
        .map(|(_, value)| value)
        .sum::<f64>();
    assert_eq!(auth_errors, 0.0, "{text}");
}

#[test]
fn the_simulator_listens_on_loopback_only() {
    let output = binary().args(["simulate", "--simulator.listen-address", "0.0.0.0:0"]).output().unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("must be a loopback address"), "{err}");
}
