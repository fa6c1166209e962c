//! The targets the poller lists: one per polled instance and task type, built from the
//! instances of a configuration, and the set of them handed to the poller at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::PollSettings;
use crate::api::{
    ApiError, CallObserver, DbsClient, DownloadTaskQuery, ListOptions, Listing, Page, TaskSummary, TaskType,
};
use crate::config::Config;
use crate::inventory::PolledInstance;
use crate::model::{InstanceKey, QueryId, TargetKey};
use crate::pacing::{LaneKey, Pacer};

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
    /// The filters of the listing; the creation-time window is filled in at each poll.
    pub query: DownloadTaskQuery,
    /// What the listing asks, lookback included: its task history belongs to this query.
    pub asked: QueryId,
    pub(super) client: Arc<dyn ListTasks>,
}

impl Target {
    pub fn new(
        key: TargetKey,
        endpoint: Arc<str>,
        query: DownloadTaskQuery,
        lookback: Duration,
        client: Arc<dyn ListTasks>,
    ) -> Self {
        let asked = QueryId::of(&(
            &key,
            lookback,
            &query.cluster_name,
            &query.datasource_id,
            &query.backup_set_id,
            &query.state,
        ));
        Target { key, endpoint, query, asked, client }
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
            let query = query_of(polled, instance_key, *task_type);
            let key = TargetKey { instance: instance_key.clone(), task_type: *task_type };
            Arc::new(Target::new(key, Arc::clone(endpoint), query, config.lookback, Arc::clone(client)))
        })
        .collect()
}

fn query_of(polled: &PolledInstance, key: &InstanceKey, task_type: TaskType) -> DownloadTaskQuery {
    let instance = &polled.instance;
    DownloadTaskQuery {
        cluster_name: instance.cluster_name.clone(),
        datasource_id: instance.datasource_id.clone(),
        backup_set_id: instance.backup_set_id.clone(),
        task_type: Some(task_type),
        ..DownloadTaskQuery::new(Arc::clone(&key.region_id), Arc::clone(&key.instance_id))
    }
}
