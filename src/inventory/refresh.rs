//! One refresh: every configured source listed at once, each call paced by its region's token
//! bucket and the shared request slots, like the listings, and counted.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::task::JoinSet;

use super::SourceKey;
use crate::config::{Config, DiscoveryConfig};
use crate::discovery::{DiscoveredInstance, DiscoveryClient, DiscoveryError, DiscoveryRequest};
use crate::metrics::{DiscoverySeries, ExporterMetrics};
use crate::pacing::Pacer;
use crate::rpc::{CallObserver, CallSlot, RetryPolicy};
use crate::util::WallClock;

/// A source and how to list it.
#[derive(Debug)]
struct Plan {
    key: SourceKey,
    endpoint: String,
    client: DiscoveryClient,
}

/// Lists every source of a configuration with discovery.
#[derive(Debug)]
pub struct Discoverer {
    plans: Vec<Plan>,
    settings: DiscoveryConfig,
    retry: RetryPolicy,
    pacer: Arc<Pacer>,
    metrics: DiscoverySeries,
    /// Stamps each good list (its last-success timestamp), as the poller's listings are.
    clock: WallClock,
}

/// What one refresh found, source by source, in plan order.
#[derive(Debug)]
pub struct Refresh {
    pub outcomes: Vec<(SourceKey, Result<Vec<DiscoveredInstance>, DiscoveryError>)>,
    pub took: Duration,
}

impl Discoverer {
    /// `None` without `discovery:`. `client_of` gives each account's list client. Takes the
    /// discovery series of this configuration from `metrics` (with `account` when it labels
    /// accounts), which drops those of another label set at once: build the discoverer of a
    /// configuration that is about to run.
    pub fn new(
        config: &Config,
        client_of: &dyn Fn(&str) -> DiscoveryClient,
        pacer: Arc<Pacer>,
        metrics: ExporterMetrics,
        clock: WallClock,
    ) -> Option<Self> {
        let settings = config.discovery.clone()?;
        let mut plans = Vec::new();
        for account in &config.accounts {
            let client = client_of(&account.name);
            for region in &account.regions {
                for engine in &settings.engines {
                    let key = SourceKey {
                        account: account.name.clone(),
                        region_id: region.region_id.clone(),
                        engine: *engine,
                    };
                    let endpoint = region.discovery_endpoints.endpoint(engine.product(), &region.region_id);
                    plans.push(Plan { key, endpoint, client: client.clone() });
                }
            }
        }
        let sources = plans.iter().map(|p| (p.key.account.as_str(), p.key.region_id.as_str(), p.key.engine));
        let metrics = metrics.discovery_series(config.labels_accounts(), sources);
        Some(Discoverer { plans, settings, retry: config.retry, pacer, metrics, clock })
    }

    pub fn refresh_interval(&self) -> Duration {
        self.settings.refresh_interval
    }

    /// Each source with the endpoint it is listed at.
    pub fn sources(&self) -> impl Iterator<Item = (&SourceKey, &str)> {
        self.plans.iter().map(|plan| (&plan.key, plan.endpoint.as_str()))
    }

    /// Lists every source, all at once: the pacer decides how fast.
    pub async fn refresh(self: Arc<Self>) -> Refresh {
        let started = Instant::now();
        let mut lists = JoinSet::new();
        for index in 0..self.plans.len() {
            let this = Arc::clone(&self);
            lists.spawn(async move { (index, this.list(&this.plans[index]).await) });
        }
        let mut outcomes: Vec<Option<Result<Vec<DiscoveredInstance>, DiscoveryError>>> =
            (0..self.plans.len()).map(|_| None).collect();
        while let Some(joined) = lists.join_next().await {
            match joined {
                Ok((index, outcome)) => outcomes[index] = Some(outcome),
                Err(err) => tracing::error!(error = %err, "a discovery list ended abnormally"),
            }
        }
        let took = started.elapsed();
        self.metrics.record_refresh(took);
        let outcomes = self
            .plans
            .iter()
            .zip(outcomes)
            .filter_map(|(plan, outcome)| Some((plan.key.clone(), outcome?)))
            .collect();
        Refresh { outcomes, took }
    }

    async fn list(&self, plan: &Plan) -> Result<Vec<DiscoveredInstance>, DiscoveryError> {
        let request = DiscoveryRequest {
            region_id: &plan.key.region_id,
            endpoint: &plan.endpoint,
            tags: &self.settings.tags,
            read_tags: self.settings.reads_tags(),
            retry: self.retry,
        };
        let observer = PacedDiscovery { discoverer: self, key: &plan.key };
        let outcome = plan.client.discover(plan.key.engine, &request, &observer).await;
        if let Ok(found) = &outcome {
            let SourceKey { account, region_id, engine } = &plan.key;
            self.metrics.record_list(account, region_id, *engine, found.len(), self.clock.now());
        }
        outcome
    }
}

/// Paces each list call by its region and counts it.
struct PacedDiscovery<'a> {
    discoverer: &'a Discoverer,
    key: &'a SourceKey,
}

impl CallObserver<(), DiscoveryError> for PacedDiscovery<'_> {
    fn before_call(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = CallSlot> + Send + '_>> {
        Box::pin(async move {
            Some(Box::new(self.discoverer.pacer.call_slot(&self.key.lane()).await) as Box<dyn Send>)
        })
    }

    fn on_call(&self, _elapsed: Duration, outcome: Result<&(), &DiscoveryError>) {
        let SourceKey { account, region_id, engine } = self.key;
        self.discoverer.metrics.observe_call(account, region_id, *engine, outcome.err());
    }
}
