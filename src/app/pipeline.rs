//! The poller and everything it feeds, built from a configuration, and rebuilt when a reload
//! or a discovery refresh changes the instances to poll.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::AccountCredentials;
use crate::api::{ClientOptions, DbsClient};
use crate::config::{self, Config};
use crate::discovery::{DiscoveryClient, Engine};
use crate::inventory::{Discoverer, Inventory, PolledInstance, Refresh};
use crate::metrics::ExporterMetrics;
use crate::model::{InstanceKey, TargetKey};
use crate::pacing::Pacer;
use crate::poller::{targets_of, CycleReport, PollSettings, Poller, Shard};
use crate::render::{Exposition, InstanceRow, InstanceTable, Layout};
use crate::state::Store;
use crate::status::{Catalog, StatusBoard, Summary};
use crate::Error;

/// The poller and everything it feeds, without the HTTP server (used alone by `once`).
#[derive(Debug)]
pub struct Pipeline {
    pub poller: Arc<Poller>,
    pub exposition: Arc<Exposition>,
    pub status: Arc<StatusBoard>,
    pub(super) store: Arc<Store>,
    pub(super) metrics: ExporterMetrics,
    credentials: AccountCredentials,
    shard: Shard,
    setup: Setup,
    inventory: Inventory,
    /// What the poller polls now.
    polled: Vec<PolledInstance>,
}

/// What a configuration needs before it runs: each account's clients, the pacer that its API
/// calls share, and the discoverer. Built whole before anything running is touched, so a
/// configuration that cannot be built is refused without a stop.
#[derive(Debug)]
pub(super) struct Setup {
    config: Config,
    dbs_clients: HashMap<String, DbsClient>,
    pacer: Arc<Pacer>,
    discoverer: Option<Arc<Discoverer>>,
}

impl Pipeline {
    /// Every account with the same credentials, every instance: for tests and tools.
    pub fn build(
        config: &Config,
        credentials: Arc<dyn crate::credentials::CredentialsProvider>,
    ) -> Result<Self, Error> {
        Self::build_with(config, AccountCredentials::Shared(credentials), Shard::default())
    }

    /// A pipeline that polls the instances of `shard`, each account with its credentials. With
    /// discovery, only listed instances are polled until [`Pipeline::discover`] has run.
    pub fn build_with(config: &Config, credentials: AccountCredentials, shard: Shard) -> Result<Self, Error> {
        let metrics = ExporterMetrics::new(config.regions.iter().map(|r| r.region_id.as_str()));
        metrics.set_shard(shard.index(), shard.count());
        let store = Arc::new(Store::new());
        let setup = Setup::build(config, &credentials, &metrics)?;
        let inventory = Inventory::new(config);
        let polled = inventory.instances(config);
        let poller = setup.poller(&polled, shard, &store, &metrics);
        let exposition = Arc::new(Exposition::new(
            store.clone(),
            metrics.clone(),
            layout(config, &poller, &polled, shard),
        ));
        let status = Arc::new(StatusBoard::new(store.clone(), catalog(config, &poller, &polled, shard)));
        Ok(Pipeline {
            poller,
            exposition,
            status,
            store,
            metrics,
            credentials,
            shard,
            setup,
            inventory,
            polled,
        })
    }

    /// One pass over every target, as fast as the pacing allows: for `once` and tests.
    pub async fn poll_once(&self) -> CycleReport {
        self.poller.poll_cycle().await
    }

    /// Refreshes discovery now and applies what it found; true when the instances to poll
    /// changed (the poller is then a new one, not yet running). False without discovery.
    pub async fn discover(&mut self) -> bool {
        match self.discoverer() {
            Some(discoverer) => {
                let refresh = discoverer.refresh().await;
                self.apply(refresh)
            }
            None => false,
        }
    }

    pub fn discoverer(&self) -> Option<Arc<Discoverer>> {
        self.setup.discoverer.clone()
    }

    /// What discovery's last good lists hold.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    pub fn config(&self) -> &Config {
        &self.setup.config
    }

    /// Takes a refresh's lists; when the instances to poll changed, builds the poller for them
    /// (not running) and drops the series of targets that went. True when it changed.
    pub fn apply(&mut self, refresh: Refresh) -> bool {
        for (key, outcome) in &refresh.outcomes {
            self.inventory.apply(key, outcome.as_deref());
        }
        let polled = self.inventory.instances(&self.setup.config);
        tracing::debug!(
            seconds = refresh.took.as_secs_f64(),
            instances = polled.len(),
            "discovery refresh done"
        );
        if polled == self.polled {
            return false;
        }
        let poller = self.setup.poller(&polled, self.shard, &self.store, &self.metrics);
        self.polled = polled;
        self.switch_to_poller(poller);
        true
    }

    /// The setup of `config`, built (credentials included) without touching the running one.
    pub(super) fn prepare(&self, config: &Config) -> Result<Setup, Error> {
        Setup::build(config, &self.credentials, &self.metrics)
    }

    /// Switches to a prepared configuration: discovery's lists are carried over where its
    /// filters did not change; the series of removed targets go at once.
    pub(super) fn switch_to(&mut self, setup: Setup) {
        let config = &setup.config;
        self.metrics.add_regions(config.regions.iter().map(|r| r.region_id.as_str()));
        self.inventory = std::mem::take(&mut self.inventory).carried_into(config);
        self.polled = self.inventory.instances(config);
        let poller = setup.poller(&self.polled, self.shard, &self.store, &self.metrics);
        self.setup = setup;
        self.switch_to_poller(poller);
    }

    fn switch_to_poller(&mut self, poller: Arc<Poller>) {
        let config = &self.setup.config;
        let keep: HashSet<TargetKey> = poller.targets().iter().map(|t| t.key.clone()).collect();
        self.store.retain_targets(&|target| keep.contains(target));
        self.exposition.set_layout(layout(config, &poller, &self.polled, self.shard));
        self.status.set_catalog(catalog(config, &poller, &self.polled, self.shard));
        self.poller = poller;
    }
}

impl Setup {
    /// One pair of clients (connection pools, one credentials provider) per account.
    fn build(
        config: &Config,
        credentials: &AccountCredentials,
        metrics: &ExporterMetrics,
    ) -> Result<Self, Error> {
        let options = ClientOptions { timeout: config.request_timeout, ..ClientOptions::default() };
        let mut dbs_clients = HashMap::new();
        let mut discovery_clients = HashMap::new();
        let mut providers = Vec::new();
        for account in &config.accounts {
            let provider = credentials.for_account(account)?;
            tracing::info!(account = %account.name, source = provider.describe(), "credentials found");
            providers.push(Arc::clone(&provider));
            dbs_clients.insert(account.name.clone(), DbsClient::new(options.clone(), Arc::clone(&provider))?);
            if config.discovery.is_some() {
                let client = DiscoveryClient::new(options.clone(), provider).map_err(Error::Discovery)?;
                discovery_clients.insert(account.name.clone(), client);
            }
        }
        metrics.watch_credentials(providers);
        let regions = config.regions.iter().map(|r| r.region_id.as_str());
        let pacer = Arc::new(Pacer::new(regions, config.rate_limit_per_region, config.concurrency));
        let client_of = |account: &str| discovery_clients[account].clone();
        let discoverer =
            Discoverer::new(config, &client_of, Arc::clone(&pacer), metrics.clone()).map(Arc::new);
        Ok(Setup { config: config.clone(), dbs_clients, pacer, discoverer })
    }

    fn poller(
        &self,
        polled: &[PolledInstance],
        shard: Shard,
        store: &Arc<Store>,
        metrics: &ExporterMetrics,
    ) -> Arc<Poller> {
        let targets = targets_of(polled, &self.config, shard, &|account| self.dbs_clients[account].clone());
        let settings = PollSettings::from_config(&self.config);
        Arc::new(Poller::new(targets, settings, Arc::clone(store), metrics.clone(), Arc::clone(&self.pacer)))
    }

    pub(super) fn config(&self) -> &Config {
        &self.config
    }
}

fn layout(config: &Config, poller: &Poller, polled: &[PolledInstance], shard: Shard) -> Layout {
    Layout {
        task_types: config.task_types.clone(),
        target_count: poller.targets().len(),
        metrics: config.metrics.clone(),
        instances: Arc::new(instance_table(config, polled, shard)),
    }
}

/// `aliyun_dbs_instance_info` of the instances this shard polls.
fn instance_table(config: &Config, polled: &[PolledInstance], shard: Shard) -> InstanceTable {
    let tag_keys = config.discovery.as_ref().map(|d| d.tag_labels.clone()).unwrap_or_default();
    let rows = polled
        .iter()
        .filter(|p| shard.owns(&p.region_id, &p.instance.instance_id))
        .map(|p| InstanceRow {
            instance: p.key(config.labels_accounts()),
            engine: p.engine.map(Engine::as_str),
            tag_values: p.tag_values(&tag_keys),
        })
        .collect();
    InstanceTable { tag_labels: tag_keys.iter().map(|key| config::tag_label_name(key)).collect(), rows }
}

/// What the status page says of the configuration, and the targets it lists.
fn catalog(config: &Config, poller: &Poller, polled: &[PolledInstance], shard: Shard) -> Catalog {
    let targets: Vec<_> = poller.targets().iter().map(|t| t.key.clone()).collect();
    let mut instances: Vec<_> = targets.iter().map(|key| &key.instance).collect();
    instances.dedup();
    let engines: HashMap<InstanceKey, &'static str> =
        polled.iter().filter_map(|p| Some((p.key(config.labels_accounts()), p.engine?.as_str()))).collect();
    let summary = Summary {
        version: env!("CARGO_PKG_VERSION"),
        accounts: config.accounts.iter().map(|account| account.name.clone()).collect(),
        regions: config.regions.len(),
        instances: instances.len(),
        task_types: config.task_types.iter().map(|t| t.as_str()).collect(),
        shard: shard.to_string(),
        poll_interval: config::format_duration(config.poll_interval),
        lookback: config::format_duration(config.lookback),
        discovery: config.discovery.as_ref().map(|d| config::format_duration(d.refresh_interval)),
    };
    Catalog { summary, targets, engines }
}
