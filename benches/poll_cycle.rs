//! Poll cycle at scale: the exporter lists REGIONS x INSTANCES x 2 task types against the
//! simulator running in a child process with a fixed added latency, and reports the cycle time
//! against the bound `calls x latency / concurrency`, CPU seconds and peak RSS of the exporter.
//!
//! `cargo bench --bench poll_cycle` (defaults: 20 regions x 500 instances x 50 tasks, 20 ms,
//! concurrency 64); override with DBS_BENCH_REGIONS, DBS_BENCH_INSTANCES, DBS_BENCH_TASKS,
//! DBS_BENCH_LATENCY_MS, DBS_BENCH_CONCURRENCY, DBS_BENCH_CYCLES.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dbs_exporter::api::TaskType;
use dbs_exporter::app::Pipeline;
use dbs_exporter::config;
use dbs_exporter::credentials::{Credentials, StaticCredentials};
use dbs_exporter::sim::{Fault, SimTask, Simulator};

/// The same allocator as the binary (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEY_ID: &str = "LTAI5tBench";
const SECRET: &str = "bench-secret";
const STATES: [&str; 6] = ["initializing", "queueing", "running", "failed", "finished", "expired"];

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn region(r: u64) -> String {
    format!("bench-region-{r:02}")
}

fn instance(r: u64, i: u64) -> String {
    format!("rm-bench{r:02}x{i:05}")
}

fn main() {
    let regions = setting("DBS_BENCH_REGIONS", 20);
    let instances = setting("DBS_BENCH_INSTANCES", 500);
    let tasks = setting("DBS_BENCH_TASKS", 50);
    let latency = Duration::from_millis(setting("DBS_BENCH_LATENCY_MS", 20));
    if std::env::var("DBS_BENCH_ROLE").as_deref() == Ok("simulator") {
        return run_simulator(regions, instances, tasks, latency);
    }
    let concurrency = setting("DBS_BENCH_CONCURRENCY", 64);
    let cycles = setting("DBS_BENCH_CYCLES", 2);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("DBS_BENCH_ROLE", "simulator")
        .stdout(Stdio::piped())
        .spawn()
        .expect("simulator process starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().to_string();

    let mut yaml = format!(
        "poll_interval: 10m\nrequest_timeout: 30s\nconcurrency: {concurrency}\nrate_limit_per_region: 10000\n\
         lookback: 30d\npage_size: 100\nregions:\n"
    );
    for r in 0..regions {
        yaml.push_str(&format!("  - region_id: {}\n    endpoint: {url}\n    instances:\n", region(r)));
        for i in 0..instances {
            yaml.push_str(&format!("      - instance_id: {}\n", instance(r, i)));
        }
    }
    let config = config::parse(&yaml, "bench.yaml").unwrap();
    let calls = config.target_count() as f64;
    let bound = calls * latency.as_secs_f64() / concurrency as f64;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let pipeline =
        Pipeline::build(&config, Arc::new(StaticCredentials::new(Credentials::new(KEY_ID, SECRET)))).unwrap();

    println!(
        "poll cycle: {regions} regions x {instances} instances x 2 types, {tasks} tasks per instance ({} tasks), \
         latency {latency:?}, concurrency {concurrency}",
        regions * instances * tasks
    );
    println!(
        "bound = calls x latency / concurrency = {calls} x {:.3} s / {concurrency} = {bound:.2} s",
        latency.as_secs_f64()
    );
    for cycle in 1..=cycles {
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let report = runtime.block_on(pipeline.poll_once());
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_before;
        assert_eq!(report.failed, 0, "every listing must succeed");
        println!(
            "cycle {cycle}: {elapsed:.2} s = {:.3} x bound; CPU {cpu:.2} s ({:.2} CPU-s per 500k tasks); listings ok {}",
            elapsed / bound,
            cpu * 500_000.0 / (regions * instances * tasks) as f64,
            report.succeeded
        );
    }
    println!("peak RSS of the exporter process after polling: {:.1} MiB", peak_rss_mib());
    let plain = pipeline.exposition.scrape(false).len();
    println!("after rendering the exposition ({plain} bytes): peak RSS {:.1} MiB", peak_rss_mib());
    let zipped = pipeline.exposition.scrape(true).len();
    println!("after gzipping it ({zipped} bytes): peak RSS {:.1} MiB", peak_rss_mib());
    let _ = child.kill();
    let _ = child.wait();
}

fn run_simulator(regions: u64, instances: u64, tasks: u64, latency: Duration) {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut all = Vec::with_capacity((regions * instances * tasks) as usize);
    for r in 0..regions {
        for i in 0..instances {
            for n in 0..tasks {
                let task_type = if n % 2 == 0 { TaskType::Full } else { TaskType::Pitr };
                let id = format!("dt-{r}-{i}-{n}");
                let state = STATES[(n as usize) % STATES.len()];
                let mut task =
                    SimTask::new(id, region(r), instance(r, i), task_type, state, now - 60_000 * (n + 1));
                task.export_bytes = 1_000_000 + n;
                task.import_bytes = 500_000 + n;
                all.push(task);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let sim = Simulator::new()
            .with_access_key(KEY_ID, SECRET)
            .with_tasks(all)
            .start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        sim.set_fault_rate(1.0, vec![Fault::Latency(latency)]);
        println!("{}", sim.url());
        // Runs until the parent kills it.
        std::future::pending::<()>().await;
    });
}

/// User plus system CPU time of this process, from /proc (clock ticks of 1/100 s on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
