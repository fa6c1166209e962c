//! One pass over a large estate at the pacing a user runs: the exporter lists REGIONS x
//! INSTANCES x 2 task types against the simulator in a child process with a fixed added
//! latency, and reports the time against the bound
//! `max(calls per region / rate_limit_per_region, calls x latency / concurrency)`, CPU seconds
//! and the exporter's resident memory after polling, after a gzip scrape and after a plain one.
//!
//! `cargo bench --bench poll_cycle` (defaults: 20 regions x 500 instances x 50 tasks, 20 ms,
//! and the configuration's defaults: `concurrency: 8`, `rate_limit_per_region: 10`); override
//! with DBS_BENCH_REGIONS, DBS_BENCH_INSTANCES, DBS_BENCH_TASKS, DBS_BENCH_LATENCY_MS,
//! DBS_BENCH_CONCURRENCY, DBS_BENCH_RATE, DBS_BENCH_CYCLES.
//!
//! Each scheme of DBS_BENCH_SCHEMES (default `http https`) runs in a process of its own (this
//! binary again), so that neither inherits the other's memory: over HTTPS the simulator serves
//! TLS under a CA it makes, trusted with `tls.ca_file`, as a real endpoint is reached. A table of
//! the schemes side by side ends the run.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dbs_exporter::app::Pipeline;
use dbs_exporter::config::{self, TlsConfig};
use dbs_exporter::credentials::{Credentials, StaticCredentials};
use support::*;

/// The same allocator as the binary (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set in the child that measures one scheme.
const SCHEME: &str = "DBS_BENCH_SCHEME";
/// What a child's last line starts with: its figures, for the table.
const RESULT: &str = "RESULT";

fn main() {
    serve_if_simulator();
    match std::env::var(SCHEME) {
        Ok(scheme) => measure(&scheme),
        Err(_) => compare(),
    }
}

/// Runs each scheme in a child, echoing its report, then prints the figures side by side.
fn compare() {
    let schemes = std::env::var("DBS_BENCH_SCHEMES").unwrap_or_else(|_| "http https".to_string());
    let mut rows = Vec::new();
    for scheme in schemes.split_whitespace() {
        println!("--- {scheme} ---");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SCHEME, scheme)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the measuring process starts");
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            match line.strip_prefix(RESULT) {
                Some(figures) => rows.push(format!("| {scheme} |{figures}")),
                None => println!("{line}"),
            }
        }
        assert!(child.wait().unwrap().success(), "the {scheme} run failed");
    }
    println!("\n| scheme | cycle (s) | CPU per cycle (s) | RSS after polling (MiB) | after a gzip scrape | after a plain scrape | peak (MiB) |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
}

/// One scheme's figures, in this process.
fn measure(scheme: &str) {
    let tls = scheme == "https";
    let estate = Estate::from_env(Estate {
        regions: 20,
        instances: 500,
        tasks: 50,
        latency: Duration::from_millis(20),
    });
    let concurrency = setting("DBS_BENCH_CONCURRENCY", config::DEFAULT_CONCURRENCY as u64);
    let rate = setting("DBS_BENCH_RATE", config::DEFAULT_RATE_LIMIT_PER_REGION as u64);
    let cycles = setting("DBS_BENCH_CYCLES", 1);
    let sim = SimProcess::start_with(estate, tls);

    let yaml = format!(
        "poll_interval: 10m\nrequest_timeout: 30s\nconcurrency: {concurrency}\nrate_limit_per_region: {rate}\n\
         lookback: 30d\npage_size: 100\n{}",
        estate.regions_yaml(&sim.url)
    );
    let mut config = config::parse(&yaml, "bench.yaml").unwrap();
    if let Some(ca_file) = &sim.ca_file {
        config.tls = TlsConfig::with_ca_file(ca_file).unwrap();
    }
    let (region_bound, latency_bound) = pacing_bound(estate, 2, rate as f64, concurrency);
    let bound = region_bound.max(latency_bound);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let pipeline = Pipeline::build_with(
        &config,
        dbs_exporter::app::AccountCredentials::Shared(Arc::new(StaticCredentials::new(Credentials::new(
            KEY_ID, SECRET,
        )))),
        dbs_exporter::poller::Shard::default(),
        dbs_exporter::util::WallClock::System,
    )
    .unwrap();

    println!(
        "poll cycle over {scheme}: {} regions x {} instances x 2 types, {} tasks per instance, latency {:?}, \
         concurrency {concurrency}, rate_limit_per_region {rate}",
        estate.regions, estate.instances, estate.tasks, estate.latency
    );
    println!(
        "bound = max(calls per region after the burst / rate = {region_bound:.2} s, \
         calls x latency / concurrency = {latency_bound:.2} s) = {bound:.2} s"
    );
    let mut figures = (0.0, 0.0);
    for cycle in 1..=cycles {
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let report = runtime.block_on(pipeline.poll_once());
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_before;
        assert_eq!(report.failed, 0, "every listing must succeed");
        let tasks = (estate.regions * estate.instances * estate.tasks) as f64;
        println!(
            "cycle {cycle}: {elapsed:.2} s = {:.3} x bound; CPU {cpu:.2} s ({:.2} CPU-s per 500k tasks); listings ok {}",
            elapsed / bound,
            cpu * 500_000.0 / tasks,
            report.succeeded
        );
        figures = (elapsed, cpu);
    }
    let memory = || format!("RSS {:.1} MiB (peak so far {:.1} MiB)", rss_mib(), peak_rss_mib());
    let polled = rss_mib();
    println!("exporter process after polling: {}", memory());
    let zipped = pipeline.exposition.scrape(true).len();
    let gzip = rss_mib();
    println!("after a gzip scrape ({zipped} bytes, what Prometheus asks for): {}", memory());
    let plain: usize = pipeline.exposition.scrape(false).map(|chunk| chunk.len()).sum();
    println!("after a plain scrape ({plain} bytes, sent as it is inflated): {}", memory());
    let (elapsed, cpu) = figures;
    println!(
        "{RESULT} {elapsed:.1} | {cpu:.2} | {polled:.1} | {gzip:.1} | {:.1} | {:.1} |",
        rss_mib(),
        peak_rss_mib()
    );
}
