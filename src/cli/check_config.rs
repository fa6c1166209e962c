//! `check-config`'s summary: what a configuration asks of the API, in a few lines.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{load_config, shard, web_options, Cli, Error};
use crate::config::{format_duration, Config};
use crate::credentials::CredentialEnv;
use crate::credentials::CredentialsProvider;
use crate::discovery::Product;
use crate::poller::Shard;

/// What a configuration asks of the API, in a few lines.
pub fn summary(
    path: &Path,
    config: &Config,
    shard: Shard,
    credentials: &[(&str, Arc<dyn CredentialsProvider>)],
) -> String {
    let listings = config.target_count();
    let discovering = config.discovery.is_some();
    let calls_per_hour = listings as f64 * 3600.0 / config.poll_interval.as_secs_f64().max(0.001);
    let mut text = format!(
        "{}: valid\n  regions: {}\n  instances: {}{}\n  task types: {}\n  listings per cycle: {}{} (at least one API call each; one more per extra page of {} tasks)\n  poll interval: {}, lookback: {}, concurrency: {}\n  API calls per hour, at least: {:.0}",
        path.display(),
        config.regions.len(),
        config.instance_count(),
        if discovering { " listed, plus what discovery finds" } else { "" },
        config.task_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
        listings,
        if discovering { " for the listed instances" } else { "" },
        config.page_size,
        format_duration(config.poll_interval),
        format_duration(config.lookback),
        config.concurrency,
        calls_per_hour,
    );
    if shard.count() > 1 {
        let owned = config
            .regions
            .iter()
            .flat_map(|region| region.instances.iter().map(move |i| (&region.region_id, &i.instance_id)))
            .filter(|(region, instance)| shard.owns(region, instance))
            .count();
        text.push_str(&format!(
            "\n  shard {shard}: polls {owned} of the {} instances (the figures above are for all shards)",
            config.instance_count()
        ));
    }
    if let Some(discovery) = &config.discovery {
        text.push_str(&discovery_summary(config, discovery));
    }
    let metrics = &config.metrics;
    if metrics != &crate::config::MetricsOptions::default() {
        let disabled: Vec<&str> = metrics.disabled.iter().map(|f| f.as_str()).collect();
        let states = match &metrics.states {
            Some(states) => {
                let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
                format!("{} (the rest as other)", names.join(", "))
            }
            None => "every state".to_string(),
        };
        let disabled = if disabled.is_empty() { "none".to_string() } else { disabled.join(", ") };
        text.push_str(&format!(
            "\n  metrics: families turned off: {disabled}; states with series of their own: {states}"
        ));
    }
    for (account, provider) in credentials {
        text.push_str(&format!("\n  credentials of account {account}: {}", provider.describe()));
    }
    text
}

/// Discovery's settings and the endpoints it would list each region at.
fn discovery_summary(config: &Config, discovery: &crate::config::DiscoveryConfig) -> String {
    let engines: Vec<&str> = discovery.engines.iter().map(|e| e.as_str()).collect();
    let mut text = format!(
        "\n  discovery: on, engines: {}, refresh every {}",
        engines.join(", "),
        format_duration(discovery.refresh_interval)
    );
    if !discovery.tags.is_empty() {
        let tags: Vec<String> = discovery.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text.push_str(&format!("\n    instances must carry every tag of: {}", tags.join(", ")));
    }
    if !discovery.tag_labels.is_empty() {
        text.push_str(&format!(
            "\n    tag labels of aliyun_dbs_instance_info: {}",
            discovery.label_names().join(", ")
        ));
    }
    if !discovery.exclude_instances.is_empty() {
        text.push_str(&format!("\n    excluded: {}", discovery.exclude_instances.join(", ")));
    }
    let mut products: Vec<Product> = discovery.engines.iter().map(|e| e.product()).collect();
    products.sort();
    products.dedup();
    for account in &config.accounts {
        for region in &account.regions {
            let endpoints: Vec<String> = products
                .iter()
                .map(|p| format!("{p} {}", region.discovery_endpoints.endpoint(*p, &region.region_id)))
                .collect();
            let owner = if config.accounts.len() > 1 { format!("{} ", account.name) } else { String::new() };
            text.push_str(&format!("\n    {owner}{}: {}", region.region_id, endpoints.join(", ")));
        }
    }
    let actions: Vec<&str> = products.iter().map(|p| p.ram_action()).collect();
    text.push_str(&format!(
        "\n    RAM actions needed besides dbs:DescribeDownloadTask: {}",
        actions.join(", ")
    ));
    if (discovery.reads_tags() || discovery.tags.len() > 1) && products.contains(&Product::Rds) {
        text.push_str(" and rds:ListTagResources (tags of RDS instances)");
    }
    text
}

/// Everything the daemon would refuse at startup, short of binding the port: the file, the
/// flags (listen address, telemetry path, shard, web config) and each account's credential
/// source, built as the daemon builds it (nothing is fetched from the network).
pub(super) fn run(cli: &Cli) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    let shard = shard(cli)?;
    web_options(cli)?;
    if let Some(path) = &cli.web_config_file {
        crate::http::WebSettings::load(path)?;
    }
    let ca_bundle = crate::app::ca_bundle_from_process(&config)?;
    let env = CredentialEnv::from_process().trusting(ca_bundle.clone());
    let mut sources = Vec::new();
    for account in &config.accounts {
        let provider = crate::app::account_provider(account, &env)?;
        sources.push((account.name.as_str(), provider));
    }
    let path = cli.config_file.as_deref().unwrap_or(Path::new("?"));
    println!("{}", summary(path, &config, shard, &sources));
    let trusted = crate::app::describe_trust(ca_bundle.as_ref(), config.tls.ca_file.is_some());
    println!("  API calls (DBS, discovery, STS) trust {trusted}");
    Ok(ExitCode::SUCCESS)
}
