//! What a test or the demo can do to the simulated estate while the simulator runs.

use super::SimDbInstance;
use crate::sim::SimHandle;

impl SimHandle {
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
    /// [`Simulator::with_forbidden_instance`](crate::sim::Simulator::with_forbidden_instance)).
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
