//! `dbs-exporter demo`: the exporter against the built-in simulator, over real HTTPS with real
//! signatures, with tasks that move through their states while you watch. The simulator's CA is
//! made at start and written to a file that the demo's configuration names in `tls.ca_file`, as
//! a user behind a TLS-intercepting proxy names the company CA.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Error;
use crate::api::TaskType;
use crate::app::{AccountCredentials, ConfigSource, Daemon, WebOptions};
use crate::config::{
    AccountConfig, Config, DiscoveryConfig, DiscoveryEndpoints, InstanceConfig, RegionConfig, TlsConfig,
};
use crate::credentials::{CredentialSpec, Credentials, StaticCredentials};
use crate::poller::Shard;
use crate::util::unix_ms;
use dbs_sim::sample::{demo_accounts, demo_simulator, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET};
use dbs_sim::SimCa;

/// How often the demo polls: short, so changes show up within seconds (the simulated world's
/// tasks are paced for it, so it is declared with them).
pub use dbs_sim::sample::DEMO_POLL_INTERVAL;

/// The configuration the demo runs with: every simulated region, its instances found by
/// discovery (which passes over the simulator's read-only, local-disk, creating and other
/// engines' instances), in two accounts (so its series carry the `account` label, as with any
/// `accounts:` file of more than one). The sharded MongoDB clusters are listed by hand with
/// their `cluster_name`, as a config would, and discovery adds their engine.
pub fn demo_config(simulator_url: &str) -> Config {
    let endpoints = DiscoveryEndpoints {
        rds: Some(simulator_url.to_string()),
        polardb: Some(simulator_url.to_string()),
        mongodb: Some(simulator_url.to_string()),
    };
    let accounts: Vec<AccountConfig> = demo_accounts()
        .into_iter()
        .map(|(name, regions)| AccountConfig {
            name,
            credentials: CredentialSpec::default(),
            regions: regions
                .into_iter()
                .map(|(region_id, instances)| RegionConfig {
                    region_id,
                    endpoint: Some(simulator_url.to_string()),
                    discovery_endpoints: endpoints.clone(),
                    instances: instances
                        .into_iter()
                        .filter(|(_, cluster_name)| cluster_name.is_some())
                        .map(|(instance_id, cluster_name)| InstanceConfig {
                            instance_id,
                            cluster_name,
                            datasource_id: None,
                            backup_set_id: None,
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let regions = accounts.iter().flat_map(|account| account.regions.iter().cloned()).collect();
    Config {
        poll_interval: DEMO_POLL_INTERVAL,
        lookback: Duration::from_secs(24 * 3600),
        page_size: 20,
        max_pages: 100,
        concurrency: 4,
        request_timeout: Duration::from_secs(3),
        task_types: TaskType::ALL.to_vec(),
        retry: crate::config::DEFAULT_RETRY,
        rate_limit_per_region: 50.0,
        max_staleness: DEMO_POLL_INTERVAL * 3,
        metrics: crate::config::MetricsOptions::default(),
        events_keep: crate::config::DEFAULT_EVENTS_KEEP as usize,
        tls: crate::config::TlsConfig::default(),
        discovery: Some(DiscoveryConfig {
            refresh_interval: DEMO_REFRESH_INTERVAL,
            tag_labels: vec!["env".into(), "team".into()],
            ..DiscoveryConfig::default()
        }),
        accounts,
        regions,
    }
}

/// How often the demo refreshes discovery.
pub const DEMO_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Starts the simulator over HTTPS on a free loopback port and the exporter on `web`, trusting
/// the simulator's CA through `tls.ca_file`, until `shutdown`.
pub async fn run(web: WebOptions, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let now_ms = unix_ms(SystemTime::now());
    let ca = SimCa::generate().map_err(|err| Error::Demo(std::io::Error::other(err)))?;
    let simulator = demo_simulator(now_ms)
        .start_tls(SocketAddr::from(([127, 0, 0, 1], 0)), &ca)
        .await
        .map_err(Error::Demo)?;
    let ca_file = CaFile::write(&ca, simulator.addr().port()).map_err(Error::Demo)?;
    let mut config = demo_config(&simulator.url());
    config.tls = TlsConfig::with_ca_file(ca_file.path()).map_err(Error::Trust)?;
    let credentials = StaticCredentials::new(Credentials::new(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET));
    let daemon = Daemon::build(
        ConfigSource::Fixed(Box::new(config)),
        AccountCredentials::Shared(Arc::new(credentials)),
        &web,
        Shard::default(),
    )
    .await?;
    let address = daemon.local_addr();
    let shown = if address.ip().is_unspecified() {
        format!("localhost:{}", address.port())
    } else {
        address.to_string()
    };
    tracing::info!(simulator = %simulator.url(), ca_file = %ca_file.path().display(), "demo DBS simulator started over HTTPS, its CA trusted with tls.ca_file");
    println!("dbs-exporter demo: open http://{shown}{} (Ctrl-C to stop)", web.telemetry_path);
    daemon.run(shutdown).await;
    simulator.shutdown().await;
    Ok(())
}

/// The simulator's CA certificate in the temporary directory, removed when the demo ends.
struct CaFile(PathBuf);

impl CaFile {
    fn write(ca: &SimCa, port: u16) -> std::io::Result<CaFile> {
        let path = std::env::temp_dir().join(format!("dbs-exporter-demo-{port}-ca.pem"));
        ca.write_ca(&path)?;
        Ok(CaFile(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
