//! `dbs-exporter simulate`: the built-in DBS simulator alone, on a loopback port, so that a
//! configuration of one's own can be tried end to end (signatures, paging, the daemon, the
//! dashboards) before it meets a real account.
//!
//! The simulator accepts one AccessKey, printed at start. Its instances have download tasks that
//! come and go (as in `demo`): the demo's instances always, and with `--config.file` every
//! instance of that configuration too, so pointing that file's regions at the simulator shows
//! live data for each of them. The discovery APIs (RDS, PolarDB, MongoDB) list the same
//! instances, each as the engine its id's prefix names, beside the demo's estate, so a
//! configuration with `discovery:` works against it too.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::Error;
use crate::config::Config;
use crate::http::parse_listen_address;
use dbs_sim::sample::{demo_instances, living_simulator, LivingInstance};
use dbs_sim::{demo_db_instances, SimCa, SimDbInstance, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET};

/// Next to the exporter's 19680, on loopback.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:19681";

/// `--tls`: HTTPS under a CA made at start, its certificate written to `ca_file` (by default
/// [`default_ca_file`]).
#[derive(Clone, Debug, Default)]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
}

/// `dbs-exporter-simulator-PORT-ca.pem` in the temporary directory: one file per port, so two
/// simulators never overwrite each other's CA.
pub fn default_ca_file(address: SocketAddr) -> PathBuf {
    std::env::temp_dir().join(format!("dbs-exporter-simulator-{}-ca.pem", address.port()))
}

/// The instances served: the demo's, then those of `config` that are not among them.
pub fn instances(config: Option<&Config>) -> Vec<LivingInstance> {
    let mut instances = demo_instances();
    let configured = config.into_iter().flat_map(|config| {
        config.regions.iter().flat_map(|region| {
            region.instances.iter().map(|instance| {
                LivingInstance::new(&region.region_id, &instance.instance_id, instance.cluster_name.clone())
            })
        })
    });
    for instance in configured {
        if !instances.iter().any(|i| i.region == instance.region && i.instance == instance.instance) {
            instances.push(instance);
        }
    }
    instances
}

/// What the discovery APIs list: the demo's estate, then each of `instances` not in it as an
/// instance of the engine its id's prefix names (`rm-` RDS MySQL, `pgm-` RDS PostgreSQL, `pc-`
/// PolarDB MySQL, `dds-` a MongoDB replica set, or a sharded cluster when its cluster name is its
/// own id; RDS MySQL otherwise).
pub fn discovered(instances: &[LivingInstance]) -> Vec<SimDbInstance> {
    let mut estate = demo_db_instances();
    for living in instances {
        if estate.iter().any(|i| i.region == living.region && i.id == living.instance) {
            continue;
        }
        let instance = if living.cluster.as_deref() == Some(living.instance.as_str()) {
            SimDbInstance::mongo_sharding(&living.region, &living.instance)
        } else {
            SimDbInstance::by_id_prefix(&living.region, &living.instance)
        };
        estate.push(instance);
    }
    estate
}

/// What `simulate` prints once the simulator listens: its endpoint and key, what it serves,
/// and a configuration that uses it (the regions of `config` when given, else a demo region).
pub fn instructions(
    url: &str,
    ca_file: Option<&Path>,
    instances: &[LivingInstance],
    config: Option<&Config>,
) -> String {
    let served: Vec<String> = instances.iter().map(|i| format!("{} ({})", i.instance, i.region)).collect();
    let mut example = String::new();
    let mut ca_line = String::new();
    if let Some(ca_file) = ca_file {
        ca_line =
            format!("  CA certificate:    {} (trust it with tls: {{ca_file: ...}})\n", ca_file.display());
        example.push_str(&format!("tls:\n  ca_file: {}\n", ca_file.display()));
    }
    match config {
        Some(config) => {
            if config.discovery.is_some() {
                example.push_str("discovery: {}\n");
            }
            example.push_str("regions:\n");
            for region in &config.regions {
                example.push_str(&format!("  - region_id: {}\n    endpoint: {url}\n", region.region_id));
                if config.discovery.is_some() {
                    example.push_str(&format!(
                        "    discovery_endpoints: {{rds: {url}, polardb: {url}, mongodb: {url}}}\n"
                    ));
                }
                if !region.instances.is_empty() {
                    example.push_str("    instances:\n");
                }
                for instance in region.instances.iter() {
                    example.push_str(&format!("      - instance_id: {}\n", instance.instance_id));
                    if let Some(cluster) = &instance.cluster_name {
                        example.push_str(&format!("        cluster_name: {cluster}\n"));
                    }
                }
            }
        }
        None => {
            let first = instances.first().map(|i| i.region.clone()).unwrap_or_default();
            example.push_str(&format!(
                "regions:\n  - region_id: {first}\n    endpoint: {url}\n    instances:\n"
            ));
            for instance in instances.iter().filter(|i| i.region == first) {
                example.push_str(&format!("      - instance_id: {}\n", instance.instance));
            }
        }
    }
    format!(
        "dbs-exporter simulate: a DBS simulator listens on {url} (Ctrl-C to stop)\n\
         \n  endpoint:          {url}\n  \
         access key id:     {DEMO_ACCESS_KEY_ID}\n  \
         access key secret: {DEMO_ACCESS_KEY_SECRET}\n\
         {ca_line}\
         \n\
         The key is a fixed test key published with this program; the simulator accepts no other,\n\
         in any region. Instances with download tasks that come and go ({count}):\n  {served}\n\
         Any other instance id is listed with no tasks. The discovery APIs (RDS, PolarDB, MongoDB)\n\
         list these instances too, each as the engine its id's prefix names (rm- RDS MySQL, pgm- RDS\n\
         PostgreSQL, pc- PolarDB MySQL, dds- MongoDB), beside a few that discovery passes over. To\n\
         try discovery, give each region\n  \
         discovery_endpoints: {{rds: {url}, polardb: {url}, mongodb: {url}}}\n\
         \n\
         To poll it, give every region of your configuration `endpoint: {url}` (with `accounts:`,\n\
         give each account `credentials: {{source: environment}}`) and run the exporter with the key:\n\
         \n  export ALIBABA_CLOUD_ACCESS_KEY_ID={DEMO_ACCESS_KEY_ID}\n  \
         export ALIBABA_CLOUD_ACCESS_KEY_SECRET={DEMO_ACCESS_KEY_SECRET}\n  \
         dbs-exporter --config.file my-dbs.yaml\n\
         \n\
         with, for example, this my-dbs.yaml:\n\
         \n{example}",
        count = instances.len(),
        served = served.join(", "),
    )
}

/// Serves the simulator on `listen_address` (loopback only) until `shutdown`.
pub async fn run(
    listen_address: &str,
    tls: Option<Tls>,
    config: Option<&Config>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let address = parse_listen_address(listen_address)
        .map_err(|err| Error::Usage(format!("--simulator.listen-address: {err}")))?;
    if !address.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "--simulator.listen-address must be a loopback address (127.0.0.1, [::1]), got {listen_address}: \
             the simulator accepts a published key"
        )));
    }
    let instances = instances(config);
    let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let ca = match &tls {
        Some(_) => Some(SimCa::generate().map_err(Error::Usage)?),
        None => None,
    };
    let simulator = living_simulator(now_ms, instances.clone())
        .with_db_instances(discovered(&instances))
        .start_with(address, ca.as_ref())
        .await
        .map_err(|source| Error::Bind { address, source })?;
    let url = simulator.url();
    let ca_file = match (&tls, &ca) {
        (Some(tls), Some(ca)) => {
            let path = tls.ca_file.clone().unwrap_or_else(|| default_ca_file(simulator.addr()));
            ca.write_ca(&path).map_err(|err| {
                Error::Usage(format!(
                    "cannot write the simulator's CA certificate to {}: {err}",
                    path.display()
                ))
            })?;
            Some(path)
        }
        _ => None,
    };
    tracing::info!(endpoint = %url, instances = instances.len(), "DBS simulator started");
    println!("{}", instructions(&url, ca_file.as_deref(), &instances, config));
    shutdown.await;
    simulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn a_configuration_adds_its_instances_once() {
        let text = "regions:\n  - region_id: eu-central-1\n    instances:\n      - instance_id: rm-mine\n  - region_id: cn-hangzhou\n    instances:\n      - instance_id: rm-bp1demo7x2k9m4q\n";
        let config = config::parse(text, "mine.yaml").unwrap();
        let demo = demo_instances().len();
        let served = instances(Some(&config));
        assert_eq!(served.len(), demo + 1, "the demo instance listed in the file is not served twice");
        assert!(served.iter().any(|i| i.region == "eu-central-1" && i.instance == "rm-mine"));
        assert_eq!(instances(None).len(), demo);
    }

    #[test]
    fn configured_instances_are_discovered_by_their_prefix() {
        let text = "regions:\n  - region_id: eu-central-1\n    instances:\n      - instance_id: pgm-mine\n      - instance_id: pc-mine\n      - instance_id: dds-rs\n      - instance_id: dds-sh\n        cluster_name: dds-sh\n      - instance_id: mine\n";
        let config = config::parse(text, "mine.yaml").unwrap();
        let estate = discovered(&instances(Some(&config)));
        let kind = |id: &str| {
            estate.iter().find(|i| i.region == "eu-central-1" && i.id == id).map(|i| i.kind.clone())
        };
        assert_eq!(kind("pgm-mine"), Some(SimDbInstance::rds_postgresql("r", "i").kind));
        assert_eq!(kind("pc-mine"), Some(SimDbInstance::polardb_mysql("r", "i").kind));
        assert_eq!(kind("dds-rs"), Some(SimDbInstance::mongo_replicate("r", "i").kind));
        assert_eq!(kind("dds-sh"), Some(SimDbInstance::mongo_sharding("r", "i").kind));
        assert_eq!(kind("mine"), Some(SimDbInstance::rds_mysql("r", "i").kind));
        assert_eq!(estate.len(), demo_db_instances().len() + 5, "demo instances are not listed twice");
    }

    #[test]
    fn the_instructions_give_endpoint_key_and_a_config_that_uses_them() {
        let text = instructions("http://127.0.0.1:19681", None, &demo_instances(), None);
        assert!(text.contains("endpoint: http://127.0.0.1:19681\n"));
        assert!(text.contains(&format!("export ALIBABA_CLOUD_ACCESS_KEY_ID={DEMO_ACCESS_KEY_ID}")));
        assert!(text.contains(&format!("export ALIBABA_CLOUD_ACCESS_KEY_SECRET={DEMO_ACCESS_KEY_SECRET}")));
        let example = text.split("this my-dbs.yaml:\n").nth(1).unwrap();
        let config = config::parse(example, "my-dbs.yaml").unwrap();
        assert_eq!(config.regions[0].endpoint.as_deref(), Some("http://127.0.0.1:19681"));
    }

    #[test]
    fn over_tls_the_banner_names_the_ca_file_and_the_example_trusts_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("sim-ca.pem");
        SimCa::generate().unwrap().write_ca(&ca_file).unwrap();
        let text = instructions("https://127.0.0.1:19681", Some(&ca_file), &demo_instances(), None);
        assert!(text.contains(&format!("  CA certificate:    {} (", ca_file.display())), "{text}");
        let example = text.split("this my-dbs.yaml:\n").nth(1).unwrap();
        let config = config::parse(example, "my-dbs.yaml").unwrap();
        assert_eq!(config.tls.ca_file.as_ref().map(|ca| ca.path()), Some(ca_file.as_path()));
        assert_eq!(config.regions[0].endpoint.as_deref(), Some("https://127.0.0.1:19681"));
    }

    #[test]
    fn the_example_is_the_given_configuration_pointed_at_the_simulator() {
        let text = "regions:\n  - region_id: eu-central-1\n    instances:\n      - instance_id: rm-mine\n      - instance_id: dds-mine\n        cluster_name: dds-cluster\n";
        let mine = config::parse(text, "mine.yaml").unwrap();
        let printed = instructions("http://127.0.0.1:1", None, &instances(Some(&mine)), Some(&mine));
        let example = config::parse(printed.split("this my-dbs.yaml:\n").nth(1).unwrap(), "x").unwrap();
        assert_eq!(example.regions.len(), 1);
        assert_eq!(example.regions[0].endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(example.regions[0].instances, mine.regions[0].instances);
    }

    #[test]
    fn a_discovery_configuration_is_printed_with_discovery_pointed_at_the_simulator() {
        let text = "discovery: {tags: {env: prod}}\nregions:\n  - region_id: cn-hangzhou\n  - region_id: ap-southeast-1\n    instances:\n      - instance_id: dds-mine\n";
        let mine = config::parse(text, "mine.yaml").unwrap();
        let printed = instructions("http://127.0.0.1:1", None, &instances(Some(&mine)), Some(&mine));
        let example = config::parse(printed.split("this my-dbs.yaml:\n").nth(1).unwrap(), "x").unwrap();
        assert!(example.discovery.is_some());
        assert_eq!(example.regions.len(), 2);
        assert!(example.regions[0].instances.is_empty());
        let endpoints = &example.regions[0].discovery_endpoints;
        assert_eq!(endpoints.rds.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(endpoints.mongodb.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(example.regions[1].instances.len(), 1);
    }
}
