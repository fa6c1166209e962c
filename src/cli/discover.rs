//! `dbs-exporter discover`: one discovery refresh, printed region by region and engine by
//! engine, then what would be polled; DBS is not called.

use std::fmt::Write as _;
use std::process::ExitCode;

use super::Error;
use crate::app::{AccountCredentials, Pipeline};
use crate::config::Config;
use crate::discovery::DiscoveredInstance;
use crate::inventory::Refresh;
use crate::poller::Shard;
use crate::rpc::CallFailure;
use crate::util::WallClock;

pub async fn run(config: &Config, credentials: AccountCredentials, shard: Shard) -> Result<ExitCode, Error> {
    let mut pipeline = Pipeline::build_with(config, credentials, shard, WallClock::System)?;
    let Some(discoverer) = pipeline.discoverer() else {
        return Err(Error::Usage(
            "the configuration has no `discovery:` block, so there is nothing to discover".into(),
        ));
    };
    let endpoints: Vec<(String, String)> =
        discoverer.sources().map(|(key, endpoint)| (key.to_string(), endpoint.to_string())).collect();
    let refresh = discoverer.refresh().await;
    let failed = refresh.outcomes.iter().filter(|(_, outcome)| outcome.is_err()).count();
    let mut text = report(&refresh, &endpoints, config.accounts.len() > 1);
    pipeline.apply(refresh);
    let polled = pipeline.targets().len() / config.task_types.len().max(1);
    let _ = write!(text, "\npolled: {polled} instances x {} task types", config.task_types.len());
    if shard.count() > 1 {
        let _ = write!(text, " (shard {shard})");
    }
    println!("{text}");
    if failed > 0 {
        eprintln!("dbs-exporter: {failed} discovery list(s) failed (see above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// One block per source: its endpoint, then each instance found, or the error with its hint.
fn report(refresh: &Refresh, endpoints: &[(String, String)], with_account: bool) -> String {
    let mut text = String::new();
    for (key, outcome) in &refresh.outcomes {
        let name = key.to_string();
        let endpoint = endpoints.iter().find(|(k, _)| *k == name).map_or("", |(_, e)| e.as_str());
        let source = if with_account {
            format!("{} {} {}", key.account, key.region_id, key.engine)
        } else {
            format!("{} {}", key.region_id, key.engine)
        };
        match outcome {
            Ok(found) => {
                let _ = writeln!(text, "{source} ({endpoint}): {} instances", found.len());
                for instance in found {
                    let _ = writeln!(text, "  {}", describe(instance));
                }
            }
            Err(err) => {
                let _ = writeln!(
                    text,
                    "{source} ({endpoint}): FAILED ({}) {err}\n  hint: {}",
                    err.metric_label(),
                    err.hint()
                );
            }
        }
    }
    let _ = write!(text, "refresh took {:.1} s", refresh.took.as_secs_f64());
    text
}

fn describe(instance: &DiscoveredInstance) -> String {
    let mut line = instance.instance_id.clone();
    if let Some(cluster) = &instance.cluster_name {
        let _ = write!(line, " (sharded cluster: ClusterName={cluster})");
    }
    if !instance.tags.is_empty() {
        let tags: Vec<String> = instance.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = write!(line, "  tags: {}", tags.join(","));
    }
    line
}
