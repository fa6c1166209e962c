//! Shared by the benchmarks that poll: an estate of simulated instances served from a child
//! process (so the exporter's CPU and memory figures are its own), and /proc readings.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use dbs_sim::TaskType;
use dbs_sim::{Fault, SimCa, SimTask, Simulator};

pub const KEY_ID: &str = "LTAI5tBench";
pub const SECRET: &str = "bench-secret";
const STATES: [&str; 6] = ["initializing", "queueing", "running", "failed", "finished", "expired"];
const ROLE: &str = "DBS_BENCH_ROLE";
const TLS: &str = "DBS_BENCH_SIM_TLS";

/// A benchmark setting from the environment, or its default.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn region(r: u64) -> String {
    format!("bench-region-{r:02}")
}

pub fn instance(r: u64, i: u64) -> String {
    format!("rm-bench{r:02}x{i:05}")
}

/// The estate: `regions` x `instances` x `tasks` tasks (half full, half pitr, every state),
/// every answer `latency` late.
#[derive(Clone, Copy, Debug)]
pub struct Estate {
    pub regions: u64,
    pub instances: u64,
    pub tasks: u64,
    pub latency: Duration,
}

impl Estate {
    /// The estate the DBS_BENCH_REGIONS, _INSTANCES, _TASKS and _LATENCY_MS variables describe,
    /// or `defaults` for those not set.
    pub fn from_env(defaults: Estate) -> Self {
        Estate {
            regions: setting("DBS_BENCH_REGIONS", defaults.regions),
            instances: setting("DBS_BENCH_INSTANCES", defaults.instances),
            tasks: setting("DBS_BENCH_TASKS", defaults.tasks),
            latency: Duration::from_millis(setting(
                "DBS_BENCH_LATENCY_MS",
                defaults.latency.as_millis() as u64,
            )),
        }
    }

    /// The configuration's `regions:` list for this estate, all served at `url`.
    pub fn regions_yaml(&self, url: &str) -> String {
        let mut yaml = String::from("regions:\n");
        for r in 0..self.regions {
            yaml.push_str(&format!("  - region_id: {}\n    endpoint: {url}\n    instances:\n", region(r)));
            for i in 0..self.instances {
                yaml.push_str(&format!("      - instance_id: {}\n", instance(r, i)));
            }
        }
        yaml
    }
}

/// The simulator in a child process (this same benchmark binary, in its simulator role).
pub struct SimProcess {
    child: Child,
    pub url: String,
    /// Over HTTPS: the file of the simulator's CA certificate.
    pub ca_file: Option<std::path::PathBuf>,
}

impl SimProcess {
    pub fn start(estate: Estate) -> Self {
        Self::start_with(estate, false)
    }

    /// Over HTTPS with `tls`, under a CA the simulator makes and writes to a file.
    pub fn start_with(estate: Estate, tls: bool) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, "simulator")
            .env(TLS, if tls { "1" } else { "0" })
            .env("DBS_BENCH_REGIONS", estate.regions.to_string())
            .env("DBS_BENCH_INSTANCES", estate.instances.to_string())
            .env("DBS_BENCH_TASKS", estate.tasks.to_string())
            .env("DBS_BENCH_LATENCY_MS", estate.latency.as_millis().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("simulator process starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let mut words = line.split_whitespace();
        let url = words.next().unwrap_or_default().to_string();
        let ca_file = words.next().map(std::path::PathBuf::from);
        SimProcess { child, url, ca_file }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(ca_file) = &self.ca_file {
            let _ = std::fs::remove_file(ca_file);
        }
    }
}

/// When this process was started as the simulator, serves until killed and never returns.
pub fn serve_if_simulator() {
    if std::env::var(ROLE).as_deref() != Ok("simulator") {
        return;
    }
    let estate = Estate::from_env(Estate { regions: 0, instances: 0, tasks: 0, latency: Duration::ZERO });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let ca = (std::env::var(TLS).as_deref() == Ok("1")).then(|| SimCa::generate().unwrap());
        let sim = Simulator::new()
            .with_access_key(KEY_ID, SECRET)
            .with_tasks(tasks(estate))
            .start_with(SocketAddr::from(([127, 0, 0, 1], 0)), ca.as_ref())
            .await
            .unwrap();
        sim.set_fault_rate(1.0, vec![Fault::Latency(estate.latency)]);
        match &ca {
            Some(ca) => {
                let path = std::env::temp_dir().join(format!("dbs-bench-sim-{}-ca.pem", sim.addr().port()));
                ca.write_ca(&path).unwrap();
                println!("{} {}", sim.url(), path.display());
            }
            None => println!("{}", sim.url()),
        }
        std::future::pending::<()>().await;
    });
}

fn tasks(estate: Estate) -> Vec<SimTask> {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut all = Vec::with_capacity((estate.regions * estate.instances * estate.tasks) as usize);
    for r in 0..estate.regions {
        for i in 0..estate.instances {
            for n in 0..estate.tasks {
                let task_type = if n % 2 == 0 { TaskType::Full } else { TaskType::Pitr };
                let state = STATES[(n as usize) % STATES.len()];
                let mut task = SimTask::new(
                    format!("dt-{r}-{i}-{n}"),
                    region(r),
                    instance(r, i),
                    task_type,
                    state,
                    now - 60_000 * (n + 1),
                );
                task.export_bytes = 1_000_000 + n;
                task.import_bytes = 500_000 + n;
                all.push(task);
            }
        }
    }
    all
}

/// User plus system CPU time of this process, from /proc (clock ticks of 1/100 s on Linux).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The peak resident memory of this process so far (VmHWM).
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// The resident memory of this process now (VmRSS).
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The pacing bound of one pass over the estate: the slowest region's calls at its rate
/// (after the first second's burst), or all calls' latency spread over the request slots.
pub fn pacing_bound(estate: Estate, task_types: u64, rate: f64, concurrency: u64) -> (f64, f64) {
    let region_calls = (estate.instances * task_types) as f64;
    let burst = rate.ceil().max(1.0);
    let region_bound = ((region_calls - burst).max(0.0)) / rate;
    let calls = (estate.regions * estate.instances * task_types) as f64;
    let latency_bound = calls * estate.latency.as_secs_f64() / concurrency as f64;
    (region_bound, latency_bound)
}
