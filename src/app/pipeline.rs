//! The poller and everything it feeds, built from a configuration. A reload or a discovery
//! refresh that changes the instances to poll publishes a new generation: the store, the
//! renderer and the status page take it in one step, and the poller gets the new target set.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Error;
use super::{trust, AccountCredentials};
use crate::api::{ClientOptions, DbsClient};
use crate::config::{self, Config};
use crate::discovery::{DiscoveryClient, Engine};
use crate::http::status::StatusBoard;
use crate::inventory::{Discoverer, Inventory, PolledInstance, Refresh};
use crate::metrics::ExporterMetrics;
use crate::pacing::{LaneKey, Pacer};
use crate::poller::{
    endpoints_of, instance_targets, CycleReport, ListTasks, PollSettings, Poller, SetChange, Shard, Target,
    TargetSet,
};
use crate::render::Exposition;
use crate::store::model::{InstanceKey, TargetKey};
use crate::store::{Generation, InstanceRow, InstanceTable, Layout, Store, Summary, TargetChange};
use crate::util::WallClock;

/// The poller and everything it feeds, without the HTTP server (used alone by `once`).
#[derive(Debug)]
pub struct Pipeline {
    pub exposition: Arc<Exposition>,
    pub status: Arc<StatusBoard>,
    pub(super) poller: Arc<Poller>,
    pub(super) store: Arc<Store>,
    pub(super) metrics: ExporterMetrics,
    credentials: AccountCredentials,
    shard: Shard,
    clock: WallClock,
    setup: Setup,
    inventory: Inventory,
    /// The instances of this shard that are polled now.
    polled: Vec<PolledInstance>,
    /// What was published of each of `polled`, in the same order.
    published: Vec<Published>,
    /// What the poller polls now.
    targets: Arc<TargetSet>,
}

/// What a generation holds of one polled instance: its targets and its `instance_info` row,
/// kept so that a change of other instances reuses them as they are.
#[derive(Debug, Default)]
struct Published {
    targets: Vec<Arc<Target>>,
    row: Option<InstanceRow>,
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
    /// A pipeline that polls the instances of `shard`, each account with its credentials,
    /// stamping its listings with `clock`. With discovery, only listed instances are polled
    /// until [`Pipeline::discover`] has run.
    pub fn build_with(
        config: &Config,
        credentials: AccountCredentials,
        shard: Shard,
        clock: WallClock,
    ) -> Result<Self, Error> {
        let metrics = ExporterMetrics::new(config.regions.iter().map(|r| r.region_id.as_str()));
        metrics.set_shard(shard.index(), shard.count());
        let store = Arc::new(Store::new());
        let setup = Setup::build(config, &credentials, &metrics, clock)?;
        let inventory = Inventory::new(config);
        let poller = Arc::new(Poller::new(Arc::clone(&store), metrics.clone(), clock));
        let exposition = Arc::new(Exposition::new(Arc::clone(&store), metrics.clone()));
        let status = Arc::new(StatusBoard::new(Arc::clone(&store)));
        let mut pipeline = Pipeline {
            exposition,
            status,
            poller,
            store,
            metrics,
            credentials,
            shard,
            clock,
            setup,
            inventory,
            polled: Vec::new(),
            published: Vec::new(),
            targets: Arc::new(TargetSet::empty()),
        };
        pipeline.polled = pipeline.polled_now();
        pipeline.publish(None);
        Ok(pipeline)
    }

    /// One pass over every target, as fast as the pacing allows: for `once` and tests.
    pub async fn poll_once(&self) -> CycleReport {
        self.poller.poll_cycle(Arc::clone(&self.targets)).await
    }

    /// What the poller polls now.
    pub fn target_set(&self) -> Arc<TargetSet> {
        Arc::clone(&self.targets)
    }

    pub fn targets(&self) -> &[Arc<Target>] {
        &self.targets.targets
    }

    /// Refreshes discovery now and applies what it found; true when the instances to poll
    /// changed. False without discovery.
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

    /// Takes a refresh's lists; when the instances to poll changed, publishes the generation
    /// of the new ones. True when it changed.
    pub fn apply(&mut self, refresh: Refresh) -> bool {
        let mut listed_anew = false;
        for (key, outcome) in &refresh.outcomes {
            listed_anew |= !self.inventory.apply(key, outcome.as_deref()).is_unchanged();
        }
        tracing::debug!(
            seconds = refresh.took.as_secs_f64(),
            changed = listed_anew,
            "discovery refresh done"
        );
        // Lists as they were leave the polled instances as they were: nothing to compare.
        if !listed_anew {
            return false;
        }
        let polled = self.polled_now();
        if polled == self.polled {
            return false;
        }
        let previous = std::mem::replace(&mut self.polled, polled);
        self.publish(Some(previous));
        true
    }

    /// The setup of `config`, built (credentials included) without touching the running one.
    pub(super) fn prepare(&self, config: &Config) -> Result<Setup, Error> {
        Setup::build(config, &self.credentials, &self.metrics, self.clock)
    }

    /// Switches to a prepared configuration: discovery's lists are carried over where its
    /// filters did not change, and the new generation is published.
    pub(super) fn switch_to(&mut self, setup: Setup) {
        let config = &setup.config;
        self.metrics.add_regions(config.regions.iter().map(|r| r.region_id.as_str()));
        self.inventory = std::mem::take(&mut self.inventory).carried_into(config);
        self.setup = setup;
        self.polled = self.polled_now();
        // New clients (credentials, timeouts) and settings: every target is built anew.
        self.publish(None);
    }

    /// The instances of this shard that the inventory says to poll now.
    fn polled_now(&self) -> Vec<PolledInstance> {
        let mut polled = self.inventory.instances(&self.setup.config);
        polled.retain(|p| self.shard.owns(&p.region_id, &p.instance.instance_id));
        polled
    }

    /// Publishes the generation of the polled instances: the store, renderer and status page
    /// take it in one step, then it is the target set the poller is handed. With the
    /// `previous` instances of the same setup (a discovery refresh), what is published of each
    /// unchanged instance is reused, and the store and the poller are told only the change.
    fn publish(&mut self, previous: Option<Vec<PolledInstance>>) {
        let number = self.targets.generation + 1;
        let (published, change) = match &previous {
            Some(previous) => self.published_after(previous),
            None => (self.published_anew(), None),
        };
        self.published = published;
        let config = &self.setup.config;
        let targets: Vec<Arc<Target>> =
            self.published.iter().flat_map(|p| p.targets.iter().cloned()).collect();
        let rows = self.published.iter().filter_map(|p| p.row.clone()).collect();
        let generation = Generation {
            number,
            targets: targets.iter().map(|t| t.key.clone()).collect(),
            layout: layout(config, rows),
            summary: summary(config, &self.polled, self.shard),
            events_keep: config.events_keep,
        };
        let change = change.map(|mut change| {
            change.from = self.targets.generation;
            change
        });
        match &change {
            Some(change) => self.store.publish_change(generation, &target_change(change)),
            None => self.store.publish(generation),
        }
        self.targets = Arc::new(TargetSet {
            generation: number,
            targets,
            settings: PollSettings::from_config(config),
            pacer: Arc::clone(&self.setup.pacer),
            change,
        });
    }

    /// Every polled instance's targets and row, built anew.
    fn published_anew(&self) -> Vec<Published> {
        let endpoints = endpoints_of(&self.setup.config);
        let clients = self.list_clients();
        self.polled.iter().map(|p| self.published_of(p, &endpoints, &clients)).collect()
    }

    /// What is published of the polled instances after `previous`: an unchanged instance's
    /// targets and row are taken over, the others built; and the change of targets.
    fn published_after(&mut self, previous: &[PolledInstance]) -> (Vec<Published>, Option<SetChange>) {
        let mut old = std::mem::take(&mut self.published);
        let index: HashMap<(&str, &str, &str), usize> =
            previous.iter().enumerate().map(|(i, p)| (identity(p), i)).collect();
        let endpoints = endpoints_of(&self.setup.config);
        let clients = self.list_clients();
        let mut change = SetChange::default();
        let mut taken = vec![false; old.len()];
        let mut built: Vec<Arc<Target>> = Vec::new();
        let published = self
            .polled
            .iter()
            .map(|p| match index.get(&identity(p)) {
                Some(&i) if previous[i] == *p => {
                    taken[i] = true;
                    std::mem::take(&mut old[i])
                }
                _ => {
                    let new = self.published_of(p, &endpoints, &clients);
                    built.extend(new.targets.iter().cloned());
                    new
                }
            })
            .collect();
        let left: HashSet<&TargetKey> = old
            .iter()
            .zip(&taken)
            .filter(|(_, taken)| !**taken)
            .flat_map(|(p, _)| p.targets.iter().map(|t| &t.key))
            .collect();
        for target in built {
            match left.contains(&target.key) {
                true => change.rebuilt.push(target),
                false => change.joined.push(target),
            }
        }
        let rebuilt: HashSet<&TargetKey> = change.rebuilt.iter().map(|t| &t.key).collect();
        change.left = left.into_iter().filter(|key| !rebuilt.contains(key)).cloned().collect();
        (published, Some(change))
    }

    /// The targets and row of one polled instance.
    fn published_of(
        &self,
        polled: &PolledInstance,
        endpoints: &HashMap<(&str, &str), Arc<str>>,
        clients: &HashMap<&str, Arc<dyn ListTasks>>,
    ) -> Published {
        let config = &self.setup.config;
        // One key for its targets and its row.
        let key = polled.key();
        let targets = match clients.get(polled.account.as_str()) {
            Some(client) => instance_targets(polled, &key, config, endpoints, client),
            None => Vec::new(),
        };
        Published { targets, row: Some(instance_row(config, polled, key)) }
    }

    /// Each account's DBS client, shared by the targets built in one publish.
    fn list_clients(&self) -> HashMap<&str, Arc<dyn ListTasks>> {
        let clients = self.setup.dbs_clients.iter();
        clients
            .map(|(account, client)| (account.as_str(), Arc::new(client.clone()) as Arc<dyn ListTasks>))
            .collect()
    }
}

/// Which instance a polled instance is, whatever else of it changed.
fn identity(polled: &PolledInstance) -> (&str, &str, &str) {
    (&polled.account, &polled.region_id, &polled.instance.instance_id)
}

/// The store's view of a poller's change: targets rebuilt with another query stay.
fn target_change(change: &SetChange) -> TargetChange {
    TargetChange { left: change.left.clone(), joined: change.joined.iter().map(|t| t.key.clone()).collect() }
}

impl Setup {
    /// One pair of clients (connection pools, one credentials provider) per account.
    fn build(
        config: &Config,
        credentials: &AccountCredentials,
        metrics: &ExporterMetrics,
        clock: WallClock,
    ) -> Result<Self, Error> {
        let ca_bundle = trust::ca_bundle_from_process(config)?;
        let trusted = trust::describe(ca_bundle.as_ref(), config.tls.ca_file.is_some());
        tracing::info!(roots = %trusted, "API calls trust");
        let options =
            ClientOptions { timeout: config.request_timeout, ca_bundle, ..ClientOptions::default() };
        let mut dbs_clients = HashMap::new();
        let mut discovery_clients = HashMap::new();
        let mut providers = Vec::new();
        for account in &config.accounts {
            let provider = credentials.for_account(account, options.ca_bundle.as_ref())?;
            tracing::info!(account = %account.name, source = provider.describe(), "credentials found");
            providers.push(Arc::clone(&provider));
            dbs_clients.insert(account.name.clone(), DbsClient::new(options.clone(), Arc::clone(&provider))?);
            if config.discovery.is_some() {
                let client = DiscoveryClient::new(options.clone(), provider).map_err(Error::Discovery)?;
                discovery_clients.insert(account.name.clone(), client);
            }
        }
        metrics.watch_credentials(providers);
        let lanes = config.accounts.iter().flat_map(|account| {
            account.regions.iter().map(|region| LaneKey::new(&account.name, &region.region_id))
        });
        let pacer = Arc::new(Pacer::new(lanes, config.rate_limit_per_region, config.concurrency));
        let client_of = |account: &str| discovery_clients[account].clone();
        let discoverer =
            Discoverer::new(config, &client_of, Arc::clone(&pacer), metrics.clone(), clock).map(Arc::new);
        Ok(Setup { config: config.clone(), dbs_clients, pacer, discoverer })
    }

    pub(super) fn config(&self) -> &Config {
        &self.config
    }
}

fn layout(config: &Config, rows: Vec<InstanceRow>) -> Layout {
    let tag_keys = config.discovery.as_ref().map(|d| d.tag_labels.as_slice()).unwrap_or_default();
    Layout {
        task_types: config.task_types.clone(),
        metrics: config.metrics.clone(),
        labels_accounts: config.labels_accounts(),
        instances: Arc::new(InstanceTable {
            tag_labels: tag_keys.iter().map(|key| config::tag_label_name(key)).collect(),
            rows,
        }),
    }
}

/// The `aliyun_dbs_instance_info` row of a polled instance.
fn instance_row(config: &Config, polled: &PolledInstance, instance: InstanceKey) -> InstanceRow {
    let tag_keys = config.discovery.as_ref().map(|d| d.tag_labels.as_slice()).unwrap_or_default();
    InstanceRow {
        instance,
        engine: polled.engine.map(Engine::as_str),
        tag_values: polled.tag_values(tag_keys).into(),
    }
}

/// What the status page says of the configuration.
fn summary(config: &Config, polled: &[PolledInstance], shard: Shard) -> Summary {
    Summary {
        version: env!("CARGO_PKG_VERSION"),
        accounts: config.accounts.iter().map(|account| account.name.clone()).collect(),
        regions: config.regions.len(),
        instances: polled.len(),
        task_types: config.task_types.iter().map(|t| t.as_str()).collect(),
        shard: shard.to_string(),
        poll_interval: config::format_duration(config.poll_interval),
        lookback: config::format_duration(config.lookback),
        discovery: config.discovery.as_ref().map(|d| config::format_duration(d.refresh_interval)),
    }
}
