//! One discovery refresh of a large estate at the defaults a user runs (`rate_limit_per_region:
//! 10`, `concurrency: 8`): how many list calls it makes and how long it takes, against the
//! pacing bound. The simulator runs in this process with 20 ms added to every answer.
//!
//! `cargo bench --bench discovery` (20 regions x 500 instances); DBS_BENCH_REGIONS,
//! DBS_BENCH_INSTANCES and DBS_BENCH_LATENCY_MS change the estate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dbs_exporter::app::Pipeline;
use dbs_exporter::config;
use dbs_exporter::credentials::{Credentials, StaticCredentials};
use dbs_sim::{Fault, SimDbInstance, Simulator};

const KEY_ID: &str = "LTAI5tBenchDiscovery";
const SECRET: &str = "bench-discovery-secret";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Instance `i` of a region: 40% RDS MySQL, 20% RDS PostgreSQL, 20% PolarDB MySQL, 20%
/// MongoDB replica sets, every tenth one a read-only RDS replica discovery passes over.
fn instance(region: &str, i: u64) -> SimDbInstance {
    let instance = match i % 10 {
        0 => SimDbInstance::rds(region, format!("rr-{region}-{i:05}"), "MySQL", "Readonly", "cloud_essd"),
        1..=4 => SimDbInstance::rds_mysql(region, format!("rm-{region}-{i:05}")),
        5 | 6 => SimDbInstance::rds_postgresql(region, format!("pgm-{region}-{i:05}")),
        7 | 8 => SimDbInstance::polardb_mysql(region, format!("pc-{region}-{i:05}")),
        _ => SimDbInstance::mongo_replicate(region, format!("dds-{region}-{i:05}")),
    };
    instance.with_tag("team", format!("t{}", i % 7))
}

fn main() {
    let regions = setting("DBS_BENCH_REGIONS", 20);
    let per_region = setting("DBS_BENCH_INSTANCES", 500);
    let latency = Duration::from_millis(setting("DBS_BENCH_LATENCY_MS", 20));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let region_ids: Vec<String> = (0..regions).map(|r| format!("bench-region-{r:02}")).collect();
        let estate = region_ids.iter().flat_map(|region| (0..per_region).map(move |i| instance(region, i)));
        let sim = Simulator::new()
            .with_access_key(KEY_ID, SECRET)
            .with_db_instances(estate)
            .start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        sim.set_fault_rate(1.0, vec![Fault::Latency(latency)]);
        println!(
            "discovery: {regions} regions x {per_region} instances (90% applicable), latency {latency:?}, rate_limit_per_region {}, concurrency {}",
            config::DEFAULT_RATE_LIMIT_PER_REGION,
            config::DEFAULT_CONCURRENCY
        );
        println!("| discovery block | calls | per region | refresh | pacing bound | refresh / bound | instances found |");
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        for block in ["{}", "{tag_labels: [team]}"] {
            let before = sim.calls();
            let (took, found) = refresh(&sim.url(), &region_ids, block).await;
            let calls = sim.calls() - before;
            let per_region = calls / regions.max(1);
            let bound = bound(per_region, regions, latency);
            println!(
                "| `discovery: {block}` | {calls} | {per_region} | {:.2} s | {bound:.2} s | {:.3}x | {found} |",
                took.as_secs_f64(),
                took.as_secs_f64() / bound
            );
        }
    });
}

/// One refresh from a fresh pipeline (fresh token buckets, as at start).
async fn refresh(url: &str, regions: &[String], block: &str) -> (Duration, usize) {
    let mut text = format!("task_types: [full]\ndiscovery: {block}\nregions:\n");
    for region in regions {
        text.push_str(&format!(
            "  - region_id: {region}\n    endpoint: {url}\n    discovery_endpoints: {{rds: {url}, polardb: {url}, mongodb: {url}}}\n"
        ));
    }
    let config = config::parse(&text, "bench.yaml").unwrap();
    let credentials = Arc::new(StaticCredentials::new(Credentials::new(KEY_ID, SECRET)));
    let mut pipeline = Pipeline::build_with(
        &config,
        dbs_exporter::app::AccountCredentials::Shared(credentials),
        dbs_exporter::poller::Shard::default(),
        dbs_exporter::util::WallClock::System,
    )
    .unwrap();
    let started = Instant::now();
    pipeline.discover().await;
    (started.elapsed(), pipeline.targets().len())
}

/// A region's calls beyond its one-second burst at the default rate, or the estate's calls x
/// latency over the request slots, whichever is longer.
fn bound(per_region: u64, regions: u64, latency: Duration) -> f64 {
    let rate = config::DEFAULT_RATE_LIMIT_PER_REGION;
    let burst = rate.ceil() as u64;
    let by_rate = per_region.saturating_sub(burst) as f64 / rate;
    let by_latency =
        (per_region * regions) as f64 * latency.as_secs_f64() / config::DEFAULT_CONCURRENCY as f64;
    by_rate.max(by_latency)
}
