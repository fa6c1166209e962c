//! Scrape cost: `/metrics` of an exporter holding DBS_BENCH_INSTANCES instances' series (default
//! 10,000, two task types) against a static HTTP server sending the very same bytes, both loaded
//! by `wrk` side by side, with and without `Accept-Encoding: gzip`.
//!
//! `cargo bench --bench scrape` (needs `wrk`: `apt-get install wrk`); DBS_BENCH_SECONDS sets
//! the length of each run (default 5), DBS_BENCH_CONNECTIONS the connections (default 8).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use dbs_exporter::api::{DownloadState, DownloadTask, TaskSummary, TaskType};
use dbs_exporter::http::status::StatusBoard;
use dbs_exporter::http::{Routes, Server};
use dbs_exporter::metrics::ExporterMetrics;
use dbs_exporter::render::Exposition;
use dbs_exporter::store::model::{InstanceKey, QueryId, TargetKey, TaskAggregate};
use dbs_exporter::store::{Attempt, Generation, RoundReport, Store};
use http_body_util::Full;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn task(state: DownloadState, n: u64) -> TaskSummary {
    DownloadTask {
        export_bytes: 1_000_000 + n * 7,
        import_bytes: 500_000 + n * 3,
        created_at_ms: Some(1_764_000_000_000 + n * 1000),
        ..DownloadTask::new(format!("dt-{n}"), Some(TaskType::Full), state)
    }
    .summary()
}

/// A store as a poll of `instances` instances over 20 regions would leave it.
fn populated_store(instances: u64) -> Arc<Store> {
    let mut generation = Generation::of_targets(1, targets(instances));
    generation.layout.task_types = TaskType::ALL.to_vec();
    let store = Arc::new(Store::with_generation(generation));
    for key in targets(instances) {
        let i = key.instance.instance_id.trim_start_matches("rm-bench").parse::<u64>().unwrap();
        let tasks: Vec<TaskSummary> =
            (0..25).map(|n| task(DownloadState::KNOWN[(n % 6) as usize].clone(), i * 100 + n)).collect();
        let attempt = Attempt { key: &key, generation: 1, asked: QueryId::default() };
        store.record_success(&attempt, TaskAggregate::from_tasks(&tasks), SystemTime::now());
    }
    store.record_round(RoundReport { duration_seconds: 1.0, api_calls: instances * 2, lag_seconds: 0.0 });
    store
}

/// The physical limit: a server that answers every request with the same prepared bytes.
async fn static_server(body: Bytes, gzip: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    let mut response = hyper::Response::new(Full::new(body.clone()));
                    response
                        .headers_mut()
                        .insert("content-type", "text/plain; version=0.0.4; charset=utf-8".parse().unwrap());
                    if gzip {
                        response.headers_mut().insert("content-encoding", "gzip".parse().unwrap());
                    }
                    async move { Ok::<_, Infallible>(response) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    addr
}

struct WrkResult {
    requests_per_second: f64,
    p99_ms: f64,
}

fn wrk(url: &str, gzip: bool, seconds: u64, connections: u64) -> WrkResult {
    let mut command = Command::new("wrk");
    command.args(["-t", "2", "-c", &connections.to_string(), "-d", &format!("{seconds}s"), "--latency"]);
    if gzip {
        command.args(["-H", "Accept-Encoding: gzip"]);
    }
    let output = command.arg(url).output().expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let requests_per_second = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let p99 = text.lines().find_map(|l| l.trim().strip_prefix("99%")).map(str::trim).unwrap_or("0ms");
    WrkResult { requests_per_second, p99_ms: duration_ms(p99) }
}

fn duration_ms(text: &str) -> f64 {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().unwrap_or(0.0);
    match unit {
        "us" => value / 1000.0,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => value,
    }
}

/// Every target of `instances` instances over 20 regions.
fn targets(instances: u64) -> Vec<TargetKey> {
    (0..instances)
        .flat_map(|i| {
            let instance =
                InstanceKey::new(&format!("bench-region-{:02}", i % 20), &format!("rm-bench{i:08}"));
            TaskType::ALL.map(|task_type| TargetKey { instance: instance.clone(), task_type })
        })
        .collect()
}

/// Size and time of the status page and its JSON, loaded one after the other.
async fn status_page_cost(exporter: SocketAddr) {
    let client = reqwest::Client::new();
    for path in ["/", "/api/v1/targets"] {
        let loads = 5;
        let started = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..loads {
            let body =
                client.get(format!("http://{exporter}{path}")).send().await.unwrap().bytes().await.unwrap();
            bytes = body.len();
        }
        let per_load = started.elapsed().as_secs_f64() * 1000.0 / f64::from(loads);
        println!("status {path}: {bytes} bytes, {per_load:.1} ms per load (mean of {loads}, one at a time)");
    }
}

fn main() {
    let instances = setting("DBS_BENCH_INSTANCES", 10_000);
    let seconds = setting("DBS_BENCH_SECONDS", 5);
    let connections = setting("DBS_BENCH_CONNECTIONS", 8);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = populated_store(instances);
        let regions: Vec<String> = (0..20).map(|r| format!("bench-region-{r:02}")).collect();
        let metrics = ExporterMetrics::new(regions.iter().map(String::as_str));
        let board = Arc::new(StatusBoard::new(Arc::clone(&store)));
        let exposition = Arc::new(Exposition::new(store, metrics));

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let exporter = listener.local_addr().unwrap();
        let routes = Arc::new(Routes::new(Arc::clone(&exposition), "/metrics").with_status(board));
        tokio::spawn(Server::new(listener, routes).run(CancellationToken::new()));
        status_page_cost(exporter).await;

        println!("scrape: {instances} instances x 2 task types; wrk -t2 -c{connections} -d{seconds}s");
        println!(
            "{:<6} {:>12} {:>14} {:>12} {:>14} {:>12} {:>8}",
            "body", "bytes", "exporter rps", "p99 ms", "static rps", "p99 ms", "ratio"
        );
        for gzip in [false, true] {
            let body = Bytes::from(exposition.scrape(gzip).concat());
            let fixed = static_server(body.clone(), gzip).await;
            let ours = tokio::task::spawn_blocking(move || {
                wrk(&format!("http://{exporter}/metrics"), gzip, seconds, connections)
            });
            let ours = ours.await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let limit = tokio::task::spawn_blocking(move || {
                wrk(&format!("http://{fixed}/metrics"), gzip, seconds, connections)
            });
            let limit = limit.await.unwrap();
            println!(
                "{:<6} {:>12} {:>14.1} {:>12.2} {:>14.1} {:>12.2} {:>7.2}x",
                if gzip { "gzip" } else { "plain" },
                body.len(),
                ours.requests_per_second,
                ours.p99_ms,
                limit.requests_per_second,
                limit.p99_ms,
                ours.requests_per_second / limit.requests_per_second
            );
        }
    });
}
