//! Shared helpers for the tests that run the real binary.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_dbs-exporter");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Keeps the credential chain of a spawned binary on this machine: no ECS metadata service
/// (a real address, never to be called from a test), no profiles from the real home.
pub fn hermetic(command: &mut Command) -> &mut Command {
    for variable in [
        "ALIBABA_CLOUD_ROLE_ARN",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
        "ALIBABA_CLOUD_CREDENTIALS_FILE",
        "ALIBABA_CLOUD_PROFILE",
        "ALIBABA_CLOUD_ECS_METADATA",
    ] {
        command.env_remove(variable);
    }
    command
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("HOME", "/nonexistent/dbs-exporter-test-home")
}

/// The binary with credentials in its environment and nothing else inherited that matters.
pub fn exporter(key_id: &str, secret: &str) -> Command {
    let mut command = Command::new(BIN);
    hermetic(&mut command);
    command
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", key_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret)
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .stdin(Stdio::null());
    command
}

/// Kills the child on drop, so a failing test leaves no process behind.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

pub async fn get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::Client::new().get(url).timeout(Duration::from_secs(5)).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Polls `url` until it answers 200, up to `within`.
pub async fn wait_ok(url: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if matches!(get(url).await, Some((200, _))) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Samples of an exposition: `name{labels}` exactly as printed, to value.
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((normalize(series), value.parse().ok()?))
        })
        .collect()
}

/// `name{b="2",a="1"}` -> `name{a="1",b="2"}`: label order is not part of a series' identity.
/// (Test data has no `",` inside label values.)
fn normalize(series: &str) -> String {
    let Some((name, rest)) = series.split_once('{') else { return series.to_string() };
    let inner = rest.trim_end_matches('}');
    let mut labels: Vec<String> = inner
        .split("\",")
        .filter(|l| !l.is_empty())
        .map(|l| if l.ends_with('"') { l.to_string() } else { format!("{l}\"") })
        .collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

pub fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    normalize(&format!("{name}{{{}}}", inner.join(",")))
}
