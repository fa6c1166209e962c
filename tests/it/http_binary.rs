//! The real binary with `--web.config.file`: HTTPS and basic auth end to end, a refused web
//! config at startup, and a prompt clean exit on SIGTERM in the middle of scrapes.

use std::process::Command;
use std::time::Duration;

use crate::support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The demo (no account needed) on a loopback port of its choosing, with extra flags.
fn demo(extra: &[&str]) -> Command {
    let mut command = binary();
    command.args(["demo", "--web.listen-address", "127.0.0.1:0", "--log.level", "warn"]).args(extra);
    command
}

#[tokio::test]
async fn the_demo_serves_https_with_basic_auth_from_the_web_config_flag() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("binary test CA");
    ca.server().write(dir.path(), "server");
    let web_config = dir.path().join("web.yml");
    let text = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '{}'\n",
        bcrypt_hash("scrape-me")
    );
    write_web_config(&web_config, &text);
    let exporter = Running::spawn(&mut demo(&["--web.config.file", web_config.to_str().unwrap()]));
    let address = exporter.demo_listening().await;

    let client = https_client(&ca.cert_pem());
    let metrics = format!("https://{address}/metrics");
    let up = eventually(LONG_PATIENCE, || async {
        matches!(client.get(&metrics).basic_auth("prometheus", Some("scrape-me")).send().await, Ok(r) if r.status() == 200)
    })
    .await;
    assert!(up, "the exporter never served authenticated HTTPS");
    let anonymous = client.get(&metrics).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let plain =
        reqwest::Client::new().get(format!("http://{address}/metrics")).timeout(PATIENCE).send().await;
    assert!(plain.map_or(true, |r| r.status() == 400), "plain HTTP was served");

    // The image's HEALTHCHECK: the probe follows the web config to HTTPS and takes 401 as alive.
    let probe = |extra: &[&str]| {
        let mut command = binary();
        command.args(["healthcheck", "--web.listen-address", &address.to_string()]).args(extra);
        command.output().unwrap()
    };
    let with_config = probe(&["--web.config.file", web_config.to_str().unwrap()]);
    assert!(with_config.status.success(), "{}", String::from_utf8_lossy(&with_config.stderr));
    assert!(!probe(&[]).status.success(), "a plain-HTTP probe of a TLS port must fail");
}

#[test]
fn an_invalid_web_config_stops_the_binary_with_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let web_config = dir.path().join("web.yml");
    std::fs::write(&web_config, "basic_auth_users:\n  alice: hunter2\n").unwrap();
    let output = demo(&["--web.config.file", web_config.to_str().unwrap()]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("{}:2:3: basic_auth_users.alice: not a bcrypt hash", web_config.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn sigterm_in_the_middle_of_scrapes_exits_zero_promptly() {
    let mut exporter = Running::spawn(&mut demo(&[]));
    let address = exporter.demo_listening().await;
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let up = eventually(LONG_PATIENCE, || async {
        matches!(client.get(format!("{base}/-/healthy")).send().await, Ok(r) if r.status() == 200)
    })
    .await;
    assert!(up, "the exporter never came up");

    // Scrapes back to back on several connections, and one client stuck halfway through its
    // request head: neither may hold the exit up.
    let scrapers: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{base}/metrics"));
            tokio::spawn(async move {
                let mut scrapes = 0;
                while let Ok(response) = client.get(&url).send().await {
                    if response.status() != 200 || response.bytes().await.is_err() {
                        break;
                    }
                    scrapes += 1;
                }
                scrapes
            })
        })
        .collect();
    let mut stuck = TcpStream::connect(address).await.unwrap();
    stuck.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let status =
        tokio::task::spawn_blocking(move || exporter.terminate(Duration::from_secs(10))).await.unwrap();
    let status = status.expect("the exporter did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    for scraper in scrapers {
        assert!(scraper.await.unwrap() > 0, "a scraper never completed a scrape");
    }
}

#[tokio::test]
async fn build_info_carries_what_version_prints() {
    let version = binary().arg("--version").output().unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    let mut exporter = Running::spawn(&mut demo(&[]));
    let address = exporter.demo_listening().await;
    let metrics = reqwest::get(format!("http://{address}/metrics")).await.unwrap().text().await.unwrap();
    exporter.terminate(PATIENCE);
    let line =
        metrics.lines().find(|l| l.starts_with("aliyun_dbs_exporter_build_info{")).expect("build_info");
    let labels = &line[line.find('{').unwrap() + 1..line.rfind('}').unwrap()];
    let label = |name: &str| {
        let pairs = labels.split("\",").map(|pair| pair.trim_end_matches('"'));
        let value = pairs.filter_map(|pair| pair.split_once("=\"")).find(|(key, _)| *key == name);
        value.unwrap_or_else(|| panic!("{name} in {line}")).1.to_string()
    };
    let first = version.lines().next().unwrap();
    assert!(first.contains(&format!(" {} ", label("version"))), "{first} / {line}");
    assert!(
        first.contains(&format!("(branch: {}, revision: {})", label("branch"), label("revision"))),
        "{first} / {line}"
    );
    assert!(version.contains(&format!("build date:   {}\n", label("build_date"))), "{version} / {line}");
    assert!(version.contains(&format!("rust version: {}\n", label("rustversion"))), "{version} / {line}");
    assert!(line.ends_with(" 1"), "{line}");
}
