//! The latest result of every target, shared between the poller (writer) and the renderer.
//!
//! A completed listing replaces its target's aggregate in one write, so a scrape sees either
//! the old or the new poll of a target, never half of one. A publication counter tells the
//! renderer when to render again: it moves when a poll cycle completes (and when stale counts
//! expire or a reload drops instances), not at every listing, so a large estate is rendered
//! once per cycle however many listings complete in between.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::SystemTime;

use crate::api::TaskType;
use crate::model::{InstanceKey, TargetKey, TaskAggregate};

/// The last known outcome for one (instance, task type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetState {
    /// The aggregate of the last successful listing, if there ever was one.
    pub aggregate: Option<TaskAggregate>,
    pub last_success: Option<SystemTime>,
    /// Whether the most recent listing succeeded.
    pub healthy: bool,
    /// The metric label of the most recent error, to log a failure once rather than every cycle.
    pub last_error: Option<&'static str>,
}

/// The state of every polled target, by instance then task type.
#[derive(Clone, Debug, Default)]
pub struct StoreView {
    pub instances: BTreeMap<InstanceKey, BTreeMap<TaskType, TargetState>>,
    pub poll_duration_seconds: Option<f64>,
    /// API calls, retries included, made by the last complete cycle.
    pub cycle_api_calls: Option<u64>,
}

impl StoreView {
    /// 1 only when the latest listing of every expected task type succeeded.
    pub fn instance_up(&self, instance: &InstanceKey, expected_types: &[TaskType]) -> Option<bool> {
        let targets = self.instances.get(instance)?;
        Some(expected_types.iter().all(|t| targets.get(t).is_some_and(|s| s.healthy)))
    }

    /// The most recent moment when every listing of the instance had succeeded at least once:
    /// the oldest of the per-type last successes.
    pub fn instance_last_success(
        &self,
        instance: &InstanceKey,
        expected_types: &[TaskType],
    ) -> Option<SystemTime> {
        let targets = self.instances.get(instance)?;
        expected_types.iter().map(|t| targets.get(t).and_then(|s| s.last_success)).min().flatten()
    }
}

#[derive(Debug, Default)]
pub struct Store {
    view: RwLock<StoreView>,
    generation: AtomicU64,
    first_cycle_done: AtomicBool,
}

/// What changed for a target, so the poller can log transitions rather than repetitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// First result, or the same health as before.
    Steady,
    Recovered,
    /// Failed now, or failed with another kind of error than last time.
    NewFailure,
}

impl Store {
    pub fn new() -> Self {
        Store::default()
    }

    pub fn record_success(&self, key: &TargetKey, aggregate: TaskAggregate, at: SystemTime) -> Transition {
        self.update(key, |state| {
            let transition = if state.healthy || state.last_error.is_none() {
                Transition::Steady
            } else {
                Transition::Recovered
            };
            *state = TargetState {
                aggregate: Some(aggregate),
                last_success: Some(at),
                healthy: true,
                last_error: None,
            };
            transition
        })
    }

    /// Marks the target down; its last good aggregate stays until it is replaced.
    pub fn record_failure(&self, key: &TargetKey, error_label: &'static str) -> Transition {
        self.update(key, |state| {
            let transition = if state.last_error == Some(error_label) {
                Transition::Steady
            } else {
                Transition::NewFailure
            };
            state.healthy = false;
            state.last_error = Some(error_label);
            transition
        })
    }

    pub fn record_cycle(&self, duration_seconds: f64, api_calls: u64) {
        let mut view = self.view.write().expect("store lock poisoned");
        view.poll_duration_seconds = Some(duration_seconds);
        view.cycle_api_calls = Some(api_calls);
        drop(view);
        self.first_cycle_done.store(true, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops the aggregates of targets whose last success is older than `max_staleness` (or
    /// that never succeeded), so a target failing for long shows no frozen counts; its `up`
    /// stays. Returns the targets whose counts were removed.
    pub fn expire_stale(&self, now: SystemTime, max_staleness: std::time::Duration) -> Vec<TargetKey> {
        let mut view = self.view.write().expect("store lock poisoned");
        let mut expired = Vec::new();
        for (instance, targets) in view.instances.iter_mut() {
            for (task_type, state) in targets.iter_mut() {
                let stale = state
                    .last_success
                    .is_none_or(|at| now.duration_since(at).unwrap_or_default() > max_staleness);
                if stale && state.aggregate.is_some() {
                    state.aggregate = None;
                    expired.push(TargetKey { instance: instance.clone(), task_type: *task_type });
                }
            }
        }
        if !expired.is_empty() {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        expired
    }

    /// Forgets every instance not in `keep` (after a config change).
    pub fn retain_instances(&self, keep: &dyn Fn(&InstanceKey) -> bool) {
        self.view.write().expect("store lock poisoned").instances.retain(|k, _| keep(k));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn first_cycle_done(&self) -> bool {
        self.first_cycle_done.load(Ordering::Acquire)
    }

    /// Bumped by every publication (cycle end, expiry, reload); the renderer re-renders when it
    /// moves.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reads a consistent view with the generation it belongs to.
    pub fn read<R>(&self, f: impl FnOnce(&StoreView, u64) -> R) -> R {
        let view = self.view.read().expect("store lock poisoned");
        f(&view, self.generation())
    }

    fn update<R>(&self, key: &TargetKey, f: impl FnOnce(&mut TargetState) -> R) -> R {
        let mut view = self.view.write().expect("store lock poisoned");
        let state =
            view.instances.entry(key.instance.clone()).or_default().entry(key.task_type).or_insert(
                TargetState { aggregate: None, last_success: None, healthy: false, last_error: None },
            );
        f(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskAggregate;

    fn key(task_type: TaskType) -> TargetKey {
        TargetKey { instance: InstanceKey::new("cn-hangzhou", "rm-1"), task_type }
    }

    #[test]
    fn a_failure_keeps_the_last_good_aggregate_but_marks_the_instance_down() {
        let store = Store::new();
        let types = [TaskType::Full, TaskType::Pitr];
        store.record_success(&key(TaskType::Full), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
        store.record_success(&key(TaskType::Pitr), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
        let instance = InstanceKey::new("cn-hangzhou", "rm-1");
        store.read(|view, _| assert_eq!(view.instance_up(&instance, &types), Some(true)));

        assert_eq!(store.record_failure(&key(TaskType::Pitr), "server"), Transition::NewFailure);
        assert_eq!(store.record_failure(&key(TaskType::Pitr), "server"), Transition::Steady);
        assert_eq!(store.record_failure(&key(TaskType::Pitr), "auth"), Transition::NewFailure);
        store.read(|view, _| {
            assert_eq!(view.instance_up(&instance, &types), Some(false));
            assert!(view.instances[&instance][&TaskType::Pitr].aggregate.is_some());
        });
        let recovered =
            store.record_success(&key(TaskType::Pitr), TaskAggregate::default(), SystemTime::now());
        assert_eq!(recovered, Transition::Recovered);
    }

    #[test]
    fn an_instance_missing_a_type_is_not_up() {
        let store = Store::new();
        store.record_success(&key(TaskType::Full), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
        let instance = InstanceKey::new("cn-hangzhou", "rm-1");
        store.read(|view, _| {
            assert_eq!(view.instance_up(&instance, &[TaskType::Full, TaskType::Pitr]), Some(false));
            assert_eq!(view.instance_last_success(&instance, &[TaskType::Full, TaskType::Pitr]), None);
            assert_eq!(view.instance_up(&InstanceKey::new("x", "y"), &[TaskType::Full]), None);
        });
    }

    #[test]
    fn stale_aggregates_are_removed_but_the_instance_stays_down() {
        let store = Store::new();
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        store.record_success(&key(TaskType::Full), TaskAggregate::default(), t0);
        store.record_failure(&key(TaskType::Full), "server");
        let max = std::time::Duration::from_secs(180);
        assert!(store.expire_stale(t0 + max, max).is_empty(), "not older than max_staleness yet");
        let expired = store.expire_stale(t0 + max + std::time::Duration::from_secs(1), max);
        assert_eq!(expired, vec![key(TaskType::Full)]);
        let instance = InstanceKey::new("cn-hangzhou", "rm-1");
        store.read(|view, _| {
            assert!(view.instances[&instance][&TaskType::Full].aggregate.is_none());
            assert_eq!(view.instance_up(&instance, &[TaskType::Full]), Some(false));
        });
    }

    #[test]
    fn cycles_publish_and_single_listings_do_not() {
        let store = Store::new();
        let before = store.generation();
        store.record_failure(&key(TaskType::Full), "server");
        assert_eq!(store.generation(), before, "a listing alone is not published");
        store.record_cycle(1.5, 3);
        assert_eq!(store.generation(), before + 1);
        assert!(store.first_cycle_done());
    }
}
