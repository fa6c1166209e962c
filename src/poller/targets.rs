//! The targets the poller lists: one per polled instance and task type, built from the
//! instances of a configuration, and the set of them handed to the poller at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::PollSettings;
use crate::api::{
    ApiError, CallObserver, DbsClient, DownloadTaskQuery, ListOptions, Listing, Page, TaskSummary,
};
use crate::config::Config;
use crate::inventory::PolledInstance;
use crate::pacing::{LaneKey, Pacer};
use crate::store::model::{InstanceKey, QueryId, TargetKey};

/// Lists the tasks of one query, every page: the DBS client, or a fake in the poller's tests
/// (which run on tokio's paused clock, where no real I/O may wait).
pub trait ListTasks: std::fmt::Debug + Send + Sync {
    fn list<'a>(
        &'a self,
        endpoint: &'a str,
        query: &'a DownloadTaskQuery,
        options: ListOptions,
        observer: &'a dyn CallObserver<Page<TaskSummary>, ApiError>,
    ) -> ListFuture<'a>;
}

pub type ListFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Listing<TaskSummary>, ApiError>> + Send + 'a>>;

impl ListTasks for DbsClient {
    fn list<'a>(
        &'a self,
        endpoint: &'a str,
        query: &'a DownloadTaskQuery,
        options: ListOptions,
        observer: &'a dyn CallObserver<Page<TaskSummary>, ApiError>,
    ) -> ListFuture<'a> {
        Box::pin(self.list_task_summaries(endpoint, query, options, observer))
    }
}

/// One listing to run every poll interval, with the client of its account.
#[derive(Debug)]
pub struct Target {
    pub key: TargetKey,
    /// Shared by the targets of a region: one copy, not one per target.
    pub endpoint: Arc<str>,
    /// The instance's own filters; boxed, since most instances have none and a poller holds
    /// a target for every instance and task type.
    filters: Option<Box<ListingFilters>>,
    /// What the listing asks, lookback included: its task history belongs to this query.
    pub asked: QueryId,
    pub(super) client: Arc<dyn ListTasks>,
}

/// What a listing asks besides its region, instance, task type and creation-time window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ListingFilters {
    pub cluster_name: Option<String>,
    pub datasource_id: Option<String>,
    pub backup_set_id: Option<String>,
}

impl Target {
    pub fn new(
        key: TargetKey,
        endpoint: Arc<str>,
        filters: ListingFilters,
        lookback: Duration,
        client: Arc<dyn ListTasks>,
    ) -> Self {
        let asked = QueryId::of(&(&key, lookback, &filters));
        let filters = (filters != ListingFilters::default()).then(|| Box::new(filters));
        Target { key, endpoint, filters, asked, client }
    }

    /// The DescribeDownloadTask query of a poll over the tasks created from `start_ms` to
    /// `end_ms` (Unix ms).
    pub fn query(&self, start_ms: u64, end_ms: u64) -> DownloadTaskQuery {
        let filters = self.filters.as_deref().cloned().unwrap_or_default();
        let instance = &self.key.instance;
        DownloadTaskQuery {
            cluster_name: filters.cluster_name,
            datasource_id: filters.datasource_id,
            backup_set_id: filters.backup_set_id,
            task_type: Some(self.key.task_type),
            start_time_ms: Some(start_ms),
            end_time_ms: Some(end_ms),
            ..DownloadTaskQuery::new(Arc::clone(&instance.region_id), Arc::clone(&instance.instance_id))
        }
    }

    /// Its token bucket and request lane: its account's region.
    pub(super) fn lane(&self) -> LaneKey {
        LaneKey {
            account: Arc::clone(&self.key.instance.account),
            region_id: Arc::clone(&self.key.instance.region_id),
        }
    }
}

/// What the poller polls: one generation of targets, with the settings and the pacer they run
/// under.
#[derive(Debug)]
pub struct TargetSet {
    pub generation: u64,
    pub targets: Vec<Arc<Target>>,
    pub settings: PollSettings,
    pub pacer: Arc<Pacer>,
    /// How it differs from the set of generation `from`, when only targets changed (a
    /// discovery refresh): a poller on that generation applies just this.
    pub change: Option<SetChange>,
}

/// The targets that left, joined or were rebuilt (same key, another query) since generation
/// `from`; every other target of the set is the very `Arc<Target>` of that generation.
#[derive(Debug, Default)]
pub struct SetChange {
    pub from: u64,
    pub left: Vec<TargetKey>,
    pub joined: Vec<Arc<Target>>,
    pub rebuilt: Vec<Arc<Target>>,
}

impl TargetSet {
    /// No targets: what a pipeline holds before its first generation.
    pub fn empty() -> Self {
        let settings = PollSettings {
            interval: Duration::from_secs(60),
            lookback: Duration::from_secs(86_400),
            list: Default::default(),
            concurrency: 1,
            rate_limit_per_region: 1.0,
            max_staleness: Duration::from_secs(180),
        };
        let pacer = Arc::new(Pacer::new([], 1.0, 1));
        TargetSet { generation: 0, targets: Vec::new(), settings, pacer, change: None }
    }
}

/// The DBS endpoint of each (account, region) of a configuration.
pub fn endpoints_of(config: &Config) -> HashMap<(&str, &str), Arc<str>> {
    config
        .accounts
        .iter()
        .flat_map(|a| {
            a.regions
                .iter()
                .map(move |r| ((a.name.as_str(), r.region_id.as_str()), Arc::from(r.endpoint_or_default())))
        })
        .collect()
}

/// The targets of `instances` (already those of this shard): each instance x task type, in
/// order. `client_of` gives the client of an account by name.
pub fn targets_of(
    instances: &[PolledInstance],
    config: &Config,
    client_of: &dyn Fn(&str) -> DbsClient,
) -> Vec<Arc<Target>> {
    let endpoints = endpoints_of(config);
    instances
        .iter()
        .flat_map(|polled| {
            let client: Arc<dyn ListTasks> = Arc::new(client_of(&polled.account));
            instance_targets(polled, &polled.key(), config, &endpoints, &client)
        })
        .collect()
}

/// The targets of one instance, one per task type; none when its account has no such region.
pub fn instance_targets(
    polled: &PolledInstance,
    instance_key: &InstanceKey,
    config: &Config,
    endpoints: &HashMap<(&str, &str), Arc<str>>,
    client: &Arc<dyn ListTasks>,
) -> Vec<Arc<Target>> {
    let Some(endpoint) = endpoints.get(&(polled.account.as_str(), polled.region_id.as_str())) else {
        return Vec::new();
    };
    config
        .task_types
        .iter()
        .map(|task_type| {
            let filters = filters_of(polled);
            let key = TargetKey { instance: instance_key.clone(), task_type: *task_type };
            Arc::new(Target::new(key, Arc::clone(endpoint), filters, config.lookback, Arc::clone(client)))
        })
        .collect()
}

fn filters_of(polled: &PolledInstance) -> ListingFilters {
    let instance = &polled.instance;
    ListingFilters {
        cluster_name: instance.cluster_name.clone(),
        datasource_id: instance.datasource_id.clone(),
        backup_set_id: instance.backup_set_id.clone(),
    }
}
