//! The running simulator: the DBS product's state, and the handle tests hold (its discovery
//! methods are in `discovery/handle.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::discovery::Estate;
use super::gateway::{Fault, Gateway};
use super::{SimTask, TaskSource};
use crate::util::lock;

/// What the builder fixed: never changes while serving.
pub(crate) struct Config {
    pub source: Option<TaskSource>,
    pub forbidden: HashSet<(String, String)>,
    pub max_page_size: u64,
}

/// DBS as the gateway serves it: the tasks, and the requests each instance drew.
pub(crate) struct Dbs {
    pub config: Config,
    /// Static tasks by (region, instance): a listing only ever reads one instance's tasks.
    tasks: Mutex<HashMap<(String, String), Vec<SimTask>>>,
    calls_by_target: Mutex<HashMap<(String, String), u64>>,
}

impl Dbs {
    pub fn new(config: Config, tasks: Vec<SimTask>) -> Self {
        Dbs { config, tasks: Mutex::new(index(tasks)), calls_by_target: Mutex::new(HashMap::new()) }
    }

    /// Counts one request for its `RegionCode` and `InstanceName`.
    pub fn count(&self, params: &BTreeMap<String, String>) {
        let field = |name: &str| params.get(name).cloned().unwrap_or_default();
        *lock(&self.calls_by_target).entry((field("RegionCode"), field("InstanceName"))).or_insert(0) += 1;
    }

    /// The static tasks of one instance plus what the dynamic source yields for it at `now_ms`.
    pub fn tasks_of(&self, region: &str, instance: &str, now_ms: u64) -> Vec<SimTask> {
        let key = (region.to_string(), instance.to_string());
        let mut tasks = lock(&self.tasks).get(&key).cloned().unwrap_or_default();
        if let Some(source) = &self.config.source {
            let generated = source(now_ms, region, instance);
            tasks.extend(generated.into_iter().filter(|t| t.region == region && t.instance == instance));
        }
        tasks
    }

    fn replace_tasks(&self, tasks: Vec<SimTask>) {
        *lock(&self.tasks) = index(tasks);
    }

    fn push_task(&self, task: SimTask) {
        lock(&self.tasks).entry((task.region.clone(), task.instance.clone())).or_default().push(task);
    }
}

fn index(tasks: Vec<SimTask>) -> HashMap<(String, String), Vec<SimTask>> {
    let mut by_instance: HashMap<(String, String), Vec<SimTask>> = HashMap::new();
    for task in tasks {
        by_instance.entry((task.region.clone(), task.instance.clone())).or_default().push(task);
    }
    by_instance
}

/// A running simulator. Clones share one server; dropping the last clone stops it (unless the
/// [`Gateway`] it is mounted on is held elsewhere).
#[derive(Clone)]
pub struct SimHandle {
    gateway: Gateway,
    dbs: Arc<Dbs>,
    /// The instances the discovery APIs list.
    estate: Arc<Estate>,
}

impl SimHandle {
    pub(crate) fn new(gateway: Gateway, dbs: Arc<Dbs>, estate: Arc<Estate>) -> Self {
        SimHandle { gateway, dbs, estate }
    }

    pub(crate) fn estate(&self) -> &Estate {
        &self.estate
    }

    /// `http://127.0.0.1:PORT`, ready to be used as an endpoint override.
    pub fn url(&self) -> String {
        self.gateway.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.gateway.addr()
    }

    /// The gateway the simulator is mounted on, for mounting other products beside it.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Every HTTP request received, whatever was answered.
    pub fn calls(&self) -> u64 {
        self.gateway.calls()
    }

    /// Requests whose `RegionCode` and `InstanceName` were these.
    pub fn calls_for(&self, region: &str, instance: &str) -> u64 {
        let calls = lock(&self.dbs.calls_by_target);
        calls.get(&(region.to_string(), instance.to_string())).copied().unwrap_or(0)
    }

    /// Parameters of each received request (query and form body, `Signature` removed), oldest
    /// first; only the latest 10 000 are kept.
    pub fn requests(&self) -> Vec<BTreeMap<String, String>> {
        let mut requests: Vec<_> = self.gateway.log().into_iter().map(|logged| logged.params).collect();
        for params in &mut requests {
            params.remove("Signature");
        }
        requests
    }

    /// Serves `fault` to the next `times` requests, after any faults queued before.
    pub fn inject(&self, fault: Fault, times: u32) {
        self.gateway.inject(fault, times);
    }

    /// When no queued fault is pending, serves a fault picked uniformly from `kinds` with this
    /// probability (clamped to 0..=1); 0 or an empty list disables random faults.
    pub fn set_fault_rate(&self, probability: f64, kinds: Vec<Fault>) {
        self.gateway.set_fault_rate(probability, kinds);
    }

    /// How many faults of each kind ([`Fault::kind`]) were served so far.
    pub fn injected(&self) -> BTreeMap<&'static str, u64> {
        self.gateway.injected()
    }

    /// Replaces the static tasks (the dynamic source, if any, is unaffected).
    pub fn set_tasks(&self, tasks: Vec<SimTask>) {
        self.dbs.replace_tasks(tasks);
    }

    pub fn push_task(&self, task: SimTask) {
        self.dbs.push_task(task);
    }

    /// Moves a stored task to `state` with `progress` ("exported/total tables"), as DBS does
    /// while it runs a download; false when no stored task has that id.
    pub fn move_task(&self, task_id: &str, state: &str, progress: &str) -> bool {
        let mut tasks = lock(&self.dbs.tasks);
        let Some(task) = tasks.values_mut().flatten().find(|task| task.task_id == task_id) else {
            return false;
        };
        task.state = state.to_string();
        task.progress = progress.to_string();
        true
    }

    /// Stops accepting, drops open connections and waits for the server to finish. Other clones
    /// of this handle then point at a stopped server.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("addr", &self.addr()).finish_non_exhaustive()
    }
}
