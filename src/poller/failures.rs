//! Logging of failing listings by region and error class, so that one cause shared by many
//! listings (a wrong secret, a missing RAM grant, a region that is down) gives a few lines, not
//! one warning per listing.
//!
//! The first listing of a region to fail with a class is logged at `warn` with its error and
//! a hint; the others that follow it at `debug`. When a round ends, each class that gained
//! listings is summed up in one `warn` line. When the last listing of a class recovers, one
//! `info` line says so.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::api::ApiError;
use crate::rpc::CallFailure;
use crate::store::model::TargetKey;
use crate::store::Transition;

type Group = (Arc<str>, &'static str);

#[derive(Debug, Default)]
struct Tally {
    failing: usize,
    /// Listings that began failing with this class since the last summary.
    new_since_summary: usize,
}

#[derive(Debug, Default)]
struct Failing {
    groups: BTreeMap<Group, Tally>,
    /// The class each failing target fails with, so that a target that leaves the estate
    /// while failing leaves its group too.
    targets: HashMap<TargetKey, &'static str>,
}

#[derive(Debug, Default)]
pub struct FailureLog {
    failing: Mutex<Failing>,
}

impl FailureLog {
    /// Takes the outcome of one listing: `transition` is what the store said of it.
    pub fn failed(&self, key: &TargetKey, endpoint: &str, err: &ApiError, transition: Transition) {
        let Transition::NewFailure { previous } = transition else {
            tracing::debug!(listing = %key, error = %err, "listing still failing");
            return;
        };
        let region = &key.instance.region_id;
        let mut failing = self.lock();
        if let Some(previous) = previous {
            leave(&mut failing.groups, region, previous);
        }
        failing.targets.insert(key.clone(), err.metric_label());
        let tally = failing.groups.entry((Arc::clone(region), err.metric_label())).or_default();
        tally.failing += 1;
        tally.new_since_summary += 1;
        if tally.failing == 1 {
            tracing::warn!(listing = %key, endpoint, code = err.metric_label(), error = %err, hint = %err.hint(), "listing failed; other listings of this region failing the same way are logged at debug and summed up once per round");
        } else {
            tracing::debug!(listing = %key, endpoint, error = %err, "listing failed");
        }
    }

    pub fn succeeded(&self, key: &TargetKey, transition: Transition) {
        let Transition::Recovered { from } = transition else { return };
        tracing::debug!(listing = %key, "listing succeeds again");
        let mut failing = self.lock();
        failing.targets.remove(key);
        if leave(&mut failing.groups, &key.instance.region_id, from) {
            tracing::info!(region_id = %key.instance.region_id, code = from, "every listing of the region that failed with this class succeeds again");
        }
    }

    /// At the end of a round: one line per region and class that gained failing listings.
    pub fn summarise(&self) {
        for ((region, code), tally) in self.lock().groups.iter_mut() {
            if tally.new_since_summary > 1 || (tally.new_since_summary == 1 && tally.failing > 1) {
                tracing::warn!(region_id = %region, code, failing = tally.failing, new = tally.new_since_summary, "listings of the region are failing with this class");
            }
            tally.new_since_summary = 0;
        }
    }

    /// A target left the estate: if it was failing, its group counts it no more.
    pub fn forget(&self, key: &TargetKey) {
        let mut failing = self.lock();
        if let Some(code) = failing.targets.remove(key) {
            leave(&mut failing.groups, &key.instance.region_id, code);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failing> {
        crate::util::lock(&self.failing)
    }
}

/// One listing of the group no longer fails with it; true when it was the last one.
fn leave(groups: &mut BTreeMap<Group, Tally>, region: &Arc<str>, label: &'static str) -> bool {
    let group = (Arc::clone(region), label);
    let Some(tally) = groups.get_mut(&group) else { return false };
    tally.failing = tally.failing.saturating_sub(1);
    if tally.failing > 0 {
        return false;
    }
    groups.remove(&group);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TaskType;
    use crate::rpc::RpcError;
    use crate::store::model::InstanceKey;

    fn key(instance: &str) -> TargetKey {
        TargetKey { instance: InstanceKey::new("cn-hangzhou", instance), task_type: TaskType::Full }
    }

    fn failing(log: &FailureLog) -> Vec<(String, &'static str, usize)> {
        log.lock().groups.iter().map(|((r, c), t)| (r.to_string(), *c, t.failing)).collect()
    }

    #[test]
    fn listings_are_tallied_by_region_and_class_and_leave_on_recovery() {
        let log = FailureLog::default();
        let err = ApiError::PageCap { cap: 1, total_pages: 2 };
        log.failed(&key("a"), "e", &err, Transition::NewFailure { previous: None });
        log.failed(&key("b"), "e", &err, Transition::NewFailure { previous: None });
        log.failed(&key("b"), "e", &err, Transition::Steady);
        assert_eq!(failing(&log), [("cn-hangzhou".to_string(), "page_cap", 2)]);
        log.summarise();
        log.succeeded(&key("a"), Transition::Recovered { from: "page_cap" });
        log.succeeded(&key("b"), Transition::Recovered { from: "page_cap" });
        assert!(failing(&log).is_empty());
    }

    #[test]
    fn a_listing_that_changes_class_moves_between_groups() {
        let log = FailureLog::default();
        let cap = ApiError::PageCap { cap: 1, total_pages: 2 };
        log.failed(&key("a"), "e", &cap, Transition::NewFailure { previous: None });
        let server =
            ApiError::Rpc(RpcError::Decode { status: 200, request_id: String::new(), detail: "x".into() });
        log.failed(&key("a"), "e", &server, Transition::NewFailure { previous: Some("page_cap") });
        assert_eq!(failing(&log), [("cn-hangzhou".to_string(), server.metric_label(), 1)]);
    }

    #[test]
    fn a_failing_listing_that_leaves_the_estate_leaves_its_group() {
        let log = FailureLog::default();
        let cap = ApiError::PageCap { cap: 1, total_pages: 2 };
        log.failed(&key("a"), "e", &cap, Transition::NewFailure { previous: None });
        log.failed(&key("b"), "e", &cap, Transition::NewFailure { previous: None });
        log.forget(&key("a"));
        log.forget(&key("never-failed"));
        assert_eq!(failing(&log), [("cn-hangzhou".to_string(), "page_cap", 1)]);
        log.forget(&key("b"));
        assert!(failing(&log).is_empty());
    }
}
