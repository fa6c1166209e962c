//! Time from the start of the real binary to a complete `/metrics` (every target listed,
//! `/-/ready` 200), for an estate with a long `poll_interval`, against the pacing bound.
//!
//! `cargo bench --bench startup` (defaults: 10 regions x 100 instances x 2 task types, 20 tasks
//! each, 20 ms latency, `poll_interval: 10m`, every other setting at its default); override
//! with DBS_BENCH_REGIONS, DBS_BENCH_INSTANCES, DBS_BENCH_TASKS, DBS_BENCH_LATENCY_MS.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dbs_exporter::config;
use support::*;

const PORT: u16 = 19_699;

fn main() {
    serve_if_simulator();
    let estate = Estate::from_env(Estate {
        regions: 10,
        instances: 100,
        tasks: 20,
        latency: Duration::from_millis(20),
    });
    let sim = SimProcess::start(estate);
    let dir = std::env::temp_dir().join(format!("dbs-exporter-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("dbs.yaml");
    std::fs::write(&config_path, format!("poll_interval: 10m\n{}", estate.regions_yaml(&sim.url))).unwrap();

    let (region_bound, latency_bound) =
        pacing_bound(estate, 2, config::DEFAULT_RATE_LIMIT_PER_REGION, config::DEFAULT_CONCURRENCY as u64);
    let bound = region_bound.max(latency_bound);
    println!(
        "startup: {} regions x {} instances x 2 types, latency {:?}, poll_interval 10m, defaults otherwise",
        estate.regions, estate.instances, estate.latency
    );
    println!("bound = max({region_bound:.2} s per region, {latency_bound:.2} s of latency) = {bound:.2} s");

    let started = Instant::now();
    let mut exporter = Command::new(env!("CARGO_BIN_EXE_dbs-exporter"))
        .args(["--config.file", config_path.to_str().unwrap()])
        .args(["--web.listen-address", &format!("127.0.0.1:{PORT}"), "--log.level", "error"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .spawn()
        .expect("the exporter starts");
    let ready = wait_until(started, Duration::from_secs(900), || {
        http_status(&format!("http://127.0.0.1:{PORT}/-/ready")) == Some(200)
    });
    let body = http_body(&format!("http://127.0.0.1:{PORT}/metrics")).unwrap_or_default();
    let up = body.lines().filter(|l| l.starts_with("aliyun_dbs_up{") && l.ends_with(" 1")).count();
    let _ = exporter.kill();
    let _ = exporter.wait();
    let _ = std::fs::remove_dir_all(&dir);
    match ready {
        Some(elapsed) => println!(
            "ready after {:.2} s = {:.3} x bound; instances up in /metrics: {up} of {}",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() / bound,
            estate.regions * estate.instances
        ),
        None => println!("not ready after 900 s"),
    }
}

/// A plain HTTP/1.0 GET (the server answers it unchunked and closes): status and body.
fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_string();
    Some((status, body))
}

fn http_status(url: &str) -> Option<u16> {
    http_get(url).map(|(status, _)| status)
}

fn http_body(url: &str) -> Option<String> {
    http_get(url).map(|(_, body)| body)
}

fn wait_until(started: Instant, limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
