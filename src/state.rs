//! The latest result of every target, shared between the poller (writer) and the renderer.
//!
//! A completed listing replaces its target's aggregate in one write, so a scrape sees either
//! the old or the new poll of a target, never half of one. Every write is counted, so the
//! renderer knows when to render again; milestones (a complete round over every target, an
//! expiry, a reload) are counted apart, because they are published at once, while single
//! listings may wait for the renderer's debounce.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crate::api::{TaskSummary, TaskType};
use crate::history::{Changes, TaskHistory};
use crate::model::{ByState, InstanceKey, TargetKey, TaskAggregate};

/// The last known outcome for one (instance, task type) that has had at least one attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetState {
    /// The aggregate of the last successful listing, if there ever was one.
    pub aggregate: Option<TaskAggregate>,
    pub last_success: Option<SystemTime>,
    /// Whether the most recent listing succeeded.
    pub healthy: bool,
    /// The most recent error; kept after a recovery only as `None`.
    pub last_error: Option<ListingError>,
    /// The tasks of the last successful listing; `None` before the first one.
    pub history: Option<TaskHistory>,
    /// Tasks seen entering each state since the exporter started; `None` before the first
    /// successful listing (every known state present from then on).
    pub transitions: Option<ByState<u64>>,
}

impl TargetState {
    /// Whether this target's counts are to go: its latest listing failed and its last success
    /// (if any) is older than `max_staleness`.
    fn counts_are_stale(&self, now: SystemTime, max_staleness: Duration) -> bool {
        !self.healthy
            && self.aggregate.is_some()
            && self.last_success.is_none_or(|at| now.duration_since(at).unwrap_or_default() > max_staleness)
    }

    /// The error class of the latest listing, when it failed.
    pub fn failing_with(&self) -> Option<&ListingError> {
        self.last_error.as_ref().filter(|_| !self.healthy)
    }
}

/// Why a listing failed, as the status page and logs say it: never a secret or a signed URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingError {
    /// The bounded error class of `aliyun_dbs_api_request_errors_total{code}`.
    pub code: &'static str,
    pub message: Arc<str>,
    /// What an operator should check first.
    pub hint: &'static str,
}

impl From<&'static str> for ListingError {
    fn from(code: &'static str) -> Self {
        ListingError { code, message: Arc::from(""), hint: "" }
    }
}

/// How the last complete round over every target went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundReport {
    /// From the round's start to the end of the last listing in it.
    pub duration_seconds: f64,
    /// API calls, retries included, made during the round.
    pub api_calls: u64,
    /// How late, after its scheduled time, the most delayed listing of the round started.
    pub lag_seconds: f64,
}

/// The targets of one instance that have had an attempt, by task type: at most one per type,
/// so a short list sized to fit rather than a map (a map's node has room for eleven).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceTargets(Vec<(TaskType, TargetState)>);

impl InstanceTargets {
    pub fn get(&self, task_type: &TaskType) -> Option<&TargetState> {
        self.0.iter().find(|(t, _)| t == task_type).map(|(_, state)| state)
    }

    /// By task type, in the order of [`TaskType::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (&TaskType, &TargetState)> {
        self.0.iter().map(|(t, state)| (t, state))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&TaskType, &mut TargetState)> {
        self.0.iter_mut().map(|(t, state)| (&*t, state))
    }

    fn entry(&mut self, task_type: TaskType) -> &mut TargetState {
        let index = match self.0.binary_search_by_key(&task_type, |(t, _)| *t) {
            Ok(index) => index,
            Err(index) => {
                self.0.reserve_exact(1);
                self.0.insert(index, (task_type, TargetState::default()));
                index
            }
        };
        &mut self.0[index].1
    }

    fn retain(&mut self, mut keep: impl FnMut(TaskType) -> bool) {
        self.0.retain(|(t, _)| keep(*t));
        self.0.shrink_to_fit();
    }
}

impl std::ops::Index<&TaskType> for InstanceTargets {
    type Output = TargetState;

    fn index(&self, task_type: &TaskType) -> &TargetState {
        self.get(task_type).expect("no target of this task type")
    }
}

/// The state of every polled target, by instance then task type.
#[derive(Clone, Debug, Default)]
pub struct StoreView {
    pub instances: BTreeMap<InstanceKey, InstanceTargets>,
    pub last_round: Option<RoundReport>,
}

impl StoreView {
    /// Every target that has had an attempt, by instance then task type.
    pub fn targets(&self) -> impl Iterator<Item = (&InstanceKey, TaskType, &TargetState)> {
        self.instances.iter().flat_map(|(instance, types)| types.iter().map(move |(t, s)| (instance, *t, s)))
    }

    /// 1 only when the latest listing of every expected task type succeeded; `None` until
    /// every one of them has had an attempt, so an instance never tried is never reported down.
    pub fn instance_up(&self, instance: &InstanceKey, expected_types: &[TaskType]) -> Option<bool> {
        let targets = self.instances.get(instance)?;
        let mut up = true;
        for task_type in expected_types {
            up &= targets.get(task_type)?.healthy;
        }
        Some(up)
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

/// Where the store's content stands: `changes` moves with every write, `milestones` with the
/// writes that must be published at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Publication {
    pub changes: u64,
    pub milestones: u64,
}

#[derive(Debug, Default)]
pub struct Store {
    view: RwLock<StoreView>,
    changes: AtomicU64,
    milestones: AtomicU64,
    first_round_done: AtomicBool,
}

/// What changed for a target, so the poller can log transitions rather than repetitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// First result, or the same health (and error class) as before.
    Steady,
    /// Succeeds after failing with this error class.
    Recovered { from: &'static str },
    /// Failed now, or failed with another class of error than `previous`.
    NewFailure { previous: Option<&'static str> },
}

impl Store {
    pub fn new() -> Self {
        Store::default()
    }

    /// A successful listing of `tasks`: its aggregate replaces the last one, and the tasks are
    /// compared with the previous listing's to count state changes. The first successful
    /// listing of a target only remembers what it sees, so a start or a reload adds nothing.
    pub fn record_listing(
        &self,
        key: &TargetKey,
        tasks: &[TaskSummary],
        at: SystemTime,
    ) -> (Transition, Changes) {
        let aggregate = TaskAggregate::from_tasks(tasks);
        self.update(key, |state| {
            let first = state.history.is_none();
            let changes = state.history.get_or_insert_with(TaskHistory::default).replace(tasks);
            let transitions = state.transitions.get_or_insert_with(ByState::default);
            if first {
                return (succeed(state, aggregate, at), Changes::default());
            }
            for (entered, count) in changes.entered.iter().filter(|(_, count)| **count > 0) {
                *transitions.entry(entered) += count;
            }
            (succeed(state, aggregate, at), changes)
        })
    }

    /// A successful listing known only by its aggregate (no task history kept).
    pub fn record_success(&self, key: &TargetKey, aggregate: TaskAggregate, at: SystemTime) -> Transition {
        self.update(key, |state| succeed(state, aggregate, at))
    }

    /// Marks the target down; its last good aggregate stays until it is replaced or expires,
    /// and its task history stays, so a failed poll loses no state change.
    pub fn record_failure(&self, key: &TargetKey, error: impl Into<ListingError>) -> Transition {
        let error = error.into();
        self.update(key, |state| {
            let previous = state.failing_with().map(|e| e.code);
            let transition = if previous == Some(error.code) {
                Transition::Steady
            } else {
                Transition::NewFailure { previous }
            };
            state.healthy = false;
            state.last_error = Some(error);
            transition
        })
    }

    /// A round over every target has ended: published at once. The first one makes the
    /// exporter ready.
    pub fn record_round(&self, report: RoundReport) {
        self.view.write().expect("store lock poisoned").last_round = Some(report);
        self.first_round_done.store(true, Ordering::Release);
        self.publish_milestone();
    }

    /// Drops the aggregates of targets whose latest listing failed and whose last success is
    /// older than `max_staleness` (or that never succeeded), so a target failing for long
    /// shows no frozen counts; its `up` stays. A target that is only slow, queued or waiting
    /// for its turn keeps its counts. Returns the targets whose counts were removed.
    pub fn expire_stale(&self, now: SystemTime, max_staleness: Duration) -> Vec<TargetKey> {
        // Looked for every second: a shared lock, so scrapes and listings are not held up when,
        // as nearly always, nothing is stale.
        let any_stale =
            self.read(|view, _| view.targets().any(|(_, _, s)| s.counts_are_stale(now, max_staleness)));
        if !any_stale {
            return Vec::new();
        }
        let mut view = self.view.write().expect("store lock poisoned");
        let mut expired = Vec::new();
        for (instance, targets) in view.instances.iter_mut() {
            for (task_type, state) in targets.iter_mut() {
                if state.counts_are_stale(now, max_staleness) {
                    state.aggregate = None;
                    expired.push(TargetKey { instance: instance.clone(), task_type: *task_type });
                }
            }
        }
        drop(view);
        if !expired.is_empty() {
            self.publish_milestone();
        }
        expired
    }

    /// Forgets every target not in `keep` (after a config change), at once.
    pub fn retain_targets(&self, keep: &dyn Fn(&TargetKey) -> bool) {
        let mut view = self.view.write().expect("store lock poisoned");
        view.instances.retain(|instance, targets| {
            targets.retain(|task_type| keep(&TargetKey { instance: instance.clone(), task_type }));
            !targets.is_empty()
        });
        drop(view);
        self.publish_milestone();
    }

    /// Whether every target has had a first attempt (a first complete round).
    pub fn first_round_done(&self) -> bool {
        self.first_round_done.load(Ordering::Acquire)
    }

    pub fn publication(&self) -> Publication {
        Publication {
            changes: self.changes.load(Ordering::Acquire),
            milestones: self.milestones.load(Ordering::Acquire),
        }
    }

    /// Reads a consistent view with the publication it belongs to.
    pub fn read<R>(&self, f: impl FnOnce(&StoreView, Publication) -> R) -> R {
        let view = self.view.read().expect("store lock poisoned");
        f(&view, self.publication())
    }

    fn publish_milestone(&self) {
        self.milestones.fetch_add(1, Ordering::AcqRel);
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    fn update<R>(&self, key: &TargetKey, f: impl FnOnce(&mut TargetState) -> R) -> R {
        let mut view = self.view.write().expect("store lock poisoned");
        let state = view.instances.entry(key.instance.clone()).or_default().entry(key.task_type);
        let result = f(state);
        drop(view);
        self.changes.fetch_add(1, Ordering::AcqRel);
        result
    }
}

fn succeed(state: &mut TargetState, aggregate: TaskAggregate, at: SystemTime) -> Transition {
    let transition = match state.failing_with() {
        Some(error) => Transition::Recovered { from: error.code },
        None => Transition::Steady,
    };
    state.aggregate = Some(aggregate);
    state.last_success = Some(at);
    state.healthy = true;
    state.last_error = None;
    transition
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DownloadState, DownloadTask};
    use crate::model::TaskAggregate;

    fn key(task_type: TaskType) -> TargetKey {
        TargetKey { instance: InstanceKey::new("cn-hangzhou", "rm-1"), task_type }
    }

    fn round() -> RoundReport {
        RoundReport { duration_seconds: 1.5, api_calls: 3, lag_seconds: 0.0 }
    }

    #[test]
    fn a_failure_keeps_the_last_good_aggregate_but_marks_the_instance_down() {
        let store = Store::new();
        let types = [TaskType::Full, TaskType::Pitr];
        store.record_success(&key(TaskType::Full), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
        store.record_success(&key(TaskType::Pitr), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
        let instance = InstanceKey::new("cn-hangzhou", "rm-1");
        store.read(|view, _| assert_eq!(view.instance_up(&instance, &types), Some(true)));

        let pitr = key(TaskType::Pitr);
        assert_eq!(store.record_failure(&pitr, "server"), Transition::NewFailure { previous: None });
        assert_eq!(store.record_failure(&pitr, "server"), Transition::Steady);
        assert_eq!(store.record_failure(&pitr, "auth"), Transition::NewFailure { previous: Some("server") });
        store.read(|view, _| {
            assert_eq!(view.instance_up(&instance, &types), Some(false));
            assert!(view.instances[&instance][&TaskType::Pitr].aggregate.is_some());
        });
        let recovered = store.record_success(&pitr, TaskAggregate::default(), SystemTime::now());
        assert_eq!(recovered, Transition::Recovered { from: "auth" });
    }

    #[test]
    fn an_instance_is_neither_up_nor_down_until_every_task_type_had_an_attempt() {
        let store = Store::new();
        let instance = InstanceKey::new("cn-hangzhou", "rm-1");
        let both = [TaskType::Full, TaskType::Pitr];
        store.record_success(&key(TaskType::Full), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
        store.read(|view, _| {
            assert_eq!(view.instance_up(&instance, &both), None, "pitr was never tried");
            assert_eq!(view.instance_last_success(&instance, &both), None);
            assert_eq!(view.instance_up(&InstanceKey::new("x", "y"), &[TaskType::Full]), None);
        });
        store.record_failure(&key(TaskType::Pitr), "server");
        store.read(|view, _| assert_eq!(view.instance_up(&instance, &both), Some(false)));
    }

    #[test]
    fn only_a_failing_target_loses_its_counts_after_max_staleness() {
        let store = Store::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let max = Duration::from_secs(180);
        store.record_success(&key(TaskType::Full), TaskAggregate::default(), t0);
        store.record_success(&key(TaskType::Pitr), TaskAggregate::default(), t0);
        store.record_failure(&key(TaskType::Full), "server");
        assert!(store.expire_stale(t0 + max, max).is_empty(), "not older than max_staleness yet");
        let expired = store.expire_stale(t0 + max * 10, max);
        assert_eq!(expired, vec![key(TaskType::Full)], "pitr is healthy, however old its last success");
        let instance = InstanceKey::new("cn-hangzhou", "rm-1");
        store.read(|view, _| {
            assert!(view.instances[&instance][&TaskType::Full].aggregate.is_none());
            assert!(view.instances[&instance][&TaskType::Pitr].aggregate.is_some());
            assert_eq!(view.instance_up(&instance, &[TaskType::Full]), Some(false));
        });
    }

    #[test]
    fn listings_are_changes_and_rounds_are_milestones() {
        let store = Store::new();
        let before = store.publication();
        store.record_failure(&key(TaskType::Full), "server");
        let after_listing = store.publication();
        assert_eq!(after_listing.changes, before.changes + 1);
        assert_eq!(after_listing.milestones, before.milestones, "a listing is not a milestone");
        assert!(!store.first_round_done());
        store.record_round(round());
        assert_eq!(store.publication().milestones, before.milestones + 1);
        assert!(store.first_round_done());
    }

    fn task(id: &str, state: &str) -> TaskSummary {
        DownloadTask::new(id, Some(TaskType::Full), DownloadState::parse(state)).summary()
    }

    fn transitions(store: &Store) -> Vec<(String, u64)> {
        store.read(|view, _| {
            let state = &view.instances[&InstanceKey::new("cn-hangzhou", "rm-1")][&TaskType::Full];
            let transitions = state.transitions.iter().flat_map(ByState::iter);
            transitions.filter(|(_, n)| **n > 0).map(|(s, n)| (s.to_string(), *n)).collect()
        })
    }

    #[test]
    fn the_first_listing_counts_nothing_and_later_ones_count_state_changes() {
        let store = Store::new();
        let full = key(TaskType::Full);
        let at = SystemTime::UNIX_EPOCH;
        let (_, changes) = store.record_listing(&full, &[task("a", "queueing"), task("b", "running")], at);
        assert_eq!(changes, Changes::default());
        assert!(transitions(&store).is_empty());
        store.read(|view, _| {
            let transitions = &view.instances.values().next().unwrap()[&TaskType::Full].transitions;
            assert_eq!(transitions.as_ref().map(|t| t.iter().count()), Some(6))
        });

        store.record_failure(&full, "server");
        let (transition, changes) =
            store.record_listing(&full, &[task("a", "running"), task("b", "failed")], at);
        assert_eq!(transition, Transition::Recovered { from: "server" });
        assert_eq!(changes.completed.len(), 1);
        assert_eq!(transitions(&store), [("running".to_string(), 1), ("failed".to_string(), 1)]);
    }

    #[test]
    fn retaining_targets_drops_the_others_and_empty_instances() {
        let store = Store::new();
        store.record_success(&key(TaskType::Full), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
        store.record_success(&key(TaskType::Pitr), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
        store.retain_targets(&|k| k.task_type == TaskType::Full);
        store.read(|view, _| assert_eq!(view.instances.values().next().unwrap().len(), 1));
        store.retain_targets(&|_| false);
        store.read(|view, _| assert!(view.instances.is_empty()));
    }
}
