//! The handle a test or the demo holds on a running simulator: what DBS served, and the estate
//! the discovery APIs list, changed while it runs.

#[cfg(feature = "testing")]
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::dbs::Dbs;
use crate::estate::Estate;
#[cfg(feature = "testing")]
use crate::estate::SimDbInstance;
#[cfg(feature = "testing")]
use crate::gateway::Fault;
use crate::gateway::Gateway;
#[cfg(feature = "testing")]
use crate::SimTask;

/// A running simulator. Clones share one server; dropping the last clone stops it (unless the
/// [`Gateway`] it is mounted on is held elsewhere).
#[derive(Clone)]
pub struct SimHandle {
    gateway: Gateway,
    /// The products, for a test to read and change (the gateway keeps them serving either way).
    #[cfg(feature = "testing")]
    dbs: Arc<Dbs>,
    #[cfg(feature = "testing")]
    estate: Arc<Estate>,
}

impl SimHandle {
    pub(crate) fn new(gateway: Gateway, dbs: Arc<Dbs>, estate: Arc<Estate>) -> Self {
        #[cfg(not(feature = "testing"))]
        let _ = (dbs, estate);
        SimHandle {
            gateway,
            #[cfg(feature = "testing")]
            dbs,
            #[cfg(feature = "testing")]
            estate,
        }
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

    /// Stops accepting, drops open connections and waits for the server to finish. Other clones
    /// of this handle then point at a stopped server.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
    }
}

/// What a test reads of the simulator and changes while it runs (the `testing` feature).
#[cfg(feature = "testing")]
impl SimHandle {
    fn estate(&self) -> &Estate {
        &self.estate
    }

    /// Every HTTP request received, whatever was answered.
    pub fn calls(&self) -> u64 {
        self.gateway.calls()
    }

    /// Requests whose `RegionCode` and `InstanceName` were these.
    pub fn calls_for(&self, region: &str, instance: &str) -> u64 {
        self.dbs.calls_for(region, instance)
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
        self.dbs.move_task(task_id, state, progress)
    }

    /// Adds an instance, replacing one with the same region and id.
    pub fn add_db_instance(&self, instance: SimDbInstance) {
        self.estate().insert(instance);
    }

    /// False when no instance has this region and id.
    pub fn remove_db_instance(&self, region: &str, id: &str) -> bool {
        self.estate().remove(region, id)
    }

    /// Moves an instance to `status` (`Running`, `Deleting`, ...); false when there is none.
    pub fn set_db_instance_status(&self, region: &str, id: &str, status: &str) -> bool {
        self.estate().set_status(region, id, status)
    }

    /// Replaces every instance.
    pub fn set_db_instances(&self, instances: Vec<SimDbInstance>) {
        self.estate().replace(instances);
    }

    /// Every instance, sorted by region then id.
    pub fn db_instances(&self) -> Vec<SimDbInstance> {
        self.estate().all()
    }

    /// While denied, the list API `action` of `version` answers HTTP 403 `Forbidden.RAM`, as for
    /// a key whose RAM policy lacks it (only the discovery APIs: DBS denies by instance,
    /// [`Simulator::with_forbidden_instance`](crate::Simulator::with_forbidden_instance)).
    pub fn deny_action(&self, action: &str, version: &str, denied: bool) {
        self.estate().deny(action, version, denied);
    }

    /// Requests routed to the list API `action` of `version`, failed ones included.
    pub fn discovery_calls(&self, action: &str, version: &str) -> u64 {
        self.estate().calls(action, version)
    }

    /// Whether RDS `DescribeDBInstances` pages by `MaxResults`/`NextToken` (the default); when
    /// not, it answers like a service that predates them: by page number, `PageSize` 30 unless
    /// given, with no `NextToken` member.
    pub fn set_rds_token_paging(&self, supported: bool) {
        self.estate().set_numbered_only(!supported);
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("addr", &self.addr()).finish_non_exhaustive()
    }
}
