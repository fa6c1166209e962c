//! The simulated account's database instances, shared by the three list APIs and the handle;
//! with the `testing` feature, the RAM denials and the request counts of each action too.

use std::collections::BTreeMap;
#[cfg(feature = "testing")]
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::SimDbInstance;
#[cfg(feature = "testing")]
use crate::gateway::GatewayError;
use crate::gateway::{Call, Reply};
use crate::util::lock;

/// (region, id): a `BTreeMap` keyed so keeps each region's instances sorted by id.
type Key = (String, String);

/// (Action, Version).
#[cfg(feature = "testing")]
type ActionKey = (String, String);

#[derive(Default)]
pub(crate) struct Estate {
    instances: Mutex<BTreeMap<Key, SimDbInstance>>,
    #[cfg(feature = "testing")]
    denied: Mutex<HashSet<ActionKey>>,
    #[cfg(feature = "testing")]
    calls: Mutex<HashMap<ActionKey, u64>>,
    /// RDS answers as a service that predates `MaxResults`/`NextToken`: by page number only.
    #[cfg(feature = "testing")]
    numbered_only: std::sync::atomic::AtomicBool,
}

fn key_of(instance: &SimDbInstance) -> Key {
    (instance.region.clone(), instance.id.clone())
}

impl Estate {
    pub fn new(instances: impl IntoIterator<Item = SimDbInstance>) -> Self {
        let estate = Estate::default();
        estate.replace(instances);
        estate
    }

    /// The instances of `region`, sorted by id.
    pub fn in_region(&self, region: &str) -> Vec<SimDbInstance> {
        let instances = lock(&self.instances);
        let from = (region.to_string(), String::new());
        instances.range(from..).take_while(|((r, _), _)| r == region).map(|(_, i)| i.clone()).collect()
    }

    /// Replaces every instance; a later duplicate of a region and id wins.
    pub fn replace(&self, instances: impl IntoIterator<Item = SimDbInstance>) {
        *lock(&self.instances) = instances.into_iter().map(|i| (key_of(&i), i)).collect();
    }
}

/// What a test reads and changes (the `testing` feature).
#[cfg(feature = "testing")]
impl Estate {
    pub fn set_numbered_only(&self, numbered_only: bool) {
        self.numbered_only.store(numbered_only, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn numbered_only(&self) -> bool {
        self.numbered_only.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every instance, by region then id.
    pub fn all(&self) -> Vec<SimDbInstance> {
        lock(&self.instances).values().cloned().collect()
    }

    /// Adds `instance`, replacing one with the same region and id.
    pub fn insert(&self, instance: SimDbInstance) {
        lock(&self.instances).insert(key_of(&instance), instance);
    }

    pub fn remove(&self, region: &str, id: &str) -> bool {
        lock(&self.instances).remove(&(region.to_string(), id.to_string())).is_some()
    }

    pub fn set_status(&self, region: &str, id: &str, status: &str) -> bool {
        let mut instances = lock(&self.instances);
        let Some(instance) = instances.get_mut(&(region.to_string(), id.to_string())) else {
            return false;
        };
        instance.status = status.to_string();
        true
    }

    pub fn deny(&self, action: &str, version: &str, denied: bool) {
        let key = (action.to_string(), version.to_string());
        let mut set = lock(&self.denied);
        if denied {
            set.insert(key);
        } else {
            set.remove(&key);
        }
    }

    /// Counts a request routed to one of the list APIs, whatever it is answered.
    pub fn received(&self, call: &Call) {
        let key = (call.param("Action").to_string(), call.param("Version").to_string());
        *lock(&self.calls).entry(key).or_insert(0) += 1;
    }

    pub fn calls(&self, action: &str, version: &str) -> u64 {
        lock(&self.calls).get(&(action.to_string(), version.to_string())).copied().unwrap_or(0)
    }

    /// HTTP 403 `Forbidden.RAM` while the call's action is denied, as DBS answers a key whose
    /// RAM policy lacks the action.
    pub fn refusal(&self, call: &Call) -> Option<Reply> {
        let key = (call.param("Action").to_string(), call.param("Version").to_string());
        lock(&self.denied).contains(&key).then(|| Reply::Gateway(GatewayError::ram_denied()))
    }
}

/// Without the `testing` feature nothing is counted or denied, and RDS pages by token.
#[cfg(not(feature = "testing"))]
impl Estate {
    pub fn numbered_only(&self) -> bool {
        false
    }

    pub fn refusal(&self, _call: &Call) -> Option<Reply> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_lists_its_own_instances_sorted_by_id() {
        let estate = Estate::new([
            SimDbInstance::rds_mysql("cn-hangzhou", "rm-b"),
            SimDbInstance::rds_mysql("cn-hangzhou-finance", "rm-c"),
            SimDbInstance::rds_mysql("cn-hangzhou", "rm-a"),
            SimDbInstance::rds_mysql("ap-southeast-1", "rm-d"),
        ]);
        let ids: Vec<String> = estate.in_region("cn-hangzhou").into_iter().map(|i| i.id).collect();
        assert_eq!(ids, ["rm-a", "rm-b"]);
        assert!(estate.in_region("us-east-1").is_empty());
    }

    #[test]
    fn instances_are_replaced_by_region_and_id() {
        let estate = Estate::new([SimDbInstance::rds_mysql("cn-hangzhou", "rm-a")]);
        estate.insert(SimDbInstance::rds_mysql("cn-hangzhou", "rm-a").with_status("Deleting"));
        assert_eq!(estate.all().len(), 1);
        assert!(estate.set_status("cn-hangzhou", "rm-a", "Running"));
        assert_eq!(estate.all()[0].status, "Running");
        assert!(!estate.set_status("cn-shanghai", "rm-a", "Running"));
        assert!(estate.remove("cn-hangzhou", "rm-a"));
        assert!(!estate.remove("cn-hangzhou", "rm-a"));
    }
}
