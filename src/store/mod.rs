//! The latest result of every target, shared between the poller (writer) and the renderer.
//!
//! A completed listing replaces its target's aggregate in one write, so a scrape sees either
//! the old or the new poll of a target, never half of one. Every write is counted, so the
//! renderer knows when to render again; milestones (a complete round over every target, an
//! expiry, a new generation) are counted apart, because they are published at once, while
//! single listings may wait for the renderer's debounce.
//!
//! The store holds the current [`Generation`] of targets and accepts a listing only for a
//! target that has been in every generation since the listing began: a listing that was
//! running when its instance went away cannot bring it back.

mod events;
mod generation;
pub mod history;
mod in_progress;
pub mod model;
mod target;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

pub use events::{EventRing, TaskEvent};
pub use generation::{Generation, InstanceRow, InstanceTable, Layout, Summary};
pub use in_progress::{ActiveTask, ActiveTasks, STALLED_AFTER_POLLS};
pub use target::{InstanceTargets, ListingError, TargetState};

use crate::api::{TaskSummary, TaskType};
use crate::store::history::{Changes, PreparedTasks, TaskHistory};
use crate::store::model::{ByState, InstanceKey, QueryId, TargetKey, TaskAggregate};

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

/// The state of every polled target, by instance then task type, with the generation of
/// targets it belongs to.
#[derive(Clone, Debug, Default)]
pub struct StoreView {
    pub instances: BTreeMap<InstanceKey, InstanceTargets>,
    pub last_round: Option<RoundReport>,
    pub generation: Arc<Generation>,
    /// The most recent task events of every target.
    pub events: EventRing,
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

    /// The state of one target, when it has had an attempt.
    pub fn target(&self, key: &TargetKey) -> Option<&TargetState> {
        self.instances.get(&key.instance).and_then(|types| types.get(&key.task_type))
    }
}

/// Where the store's content stands: `changes` moves with every write, `milestones` with the
/// writes that must be published at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Publication {
    pub changes: u64,
    pub milestones: u64,
}

/// What a successful listing changed: the target's health, the tasks that entered a state, and
/// their events (none at a target's first listing, or the first of another query).
#[derive(Debug)]
pub struct Recorded {
    pub transition: Transition,
    pub changes: Changes,
    pub events: Vec<Arc<TaskEvent>>,
}

/// The targets that left and joined between two generations (a target whose query changed
/// stays: its history starts anew by its `QueryId`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetChange {
    pub left: Vec<TargetKey>,
    pub joined: Vec<TargetKey>,
}

/// One listing as the poller ran it: which target, in which generation it started, and what
/// it asked.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    pub key: &'a TargetKey,
    pub generation: u64,
    pub asked: QueryId,
}

#[derive(Debug, Default)]
struct Inner {
    view: StoreView,
    /// Each current target and the generation it joined in (and stayed since).
    member_since: HashMap<TargetKey, u64>,
}

#[derive(Debug, Default)]
pub struct Store {
    inner: RwLock<Inner>,
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

    /// A store whose current generation is `generation` (tools, tests, benchmarks).
    pub fn with_generation(generation: Generation) -> Self {
        let store = Store::new();
        store.publish(generation);
        store
    }

    /// Makes `generation` the current one, in one step: the states of targets that left go,
    /// the ones that stay keep theirs, and from now on only its targets are written.
    pub fn publish(&self, generation: Generation) {
        let mut inner = self.write();
        let number = generation.number;
        let mut member_since = HashMap::with_capacity(generation.targets.len());
        for key in &generation.targets {
            let since = inner.member_since.get(key).copied().unwrap_or(number);
            member_since.insert(key.clone(), since);
        }
        inner.view.instances.retain(|instance, targets| {
            targets.retain(|task_type| {
                member_since.contains_key(&TargetKey { instance: instance.clone(), task_type })
            });
            !targets.is_empty()
        });
        inner.member_since = member_since;
        self.install(inner, generation);
    }

    /// Makes `generation` the current one when it differs from the current one by `change`
    /// alone: the same as [`Store::publish`], in time proportional to the change. `change`
    /// names the targets that left and those that joined since the current generation.
    pub fn publish_change(&self, generation: Generation, change: &TargetChange) {
        let mut inner = self.write();
        let number = generation.number;
        for key in &change.left {
            inner.member_since.remove(key);
            if let Some(targets) = inner.view.instances.get_mut(&key.instance) {
                targets.retain(|task_type| task_type != key.task_type);
                if targets.is_empty() {
                    inner.view.instances.remove(&key.instance);
                }
            }
        }
        for key in &change.joined {
            inner.member_since.entry(key.clone()).or_insert(number);
        }
        debug_assert_eq!(
            inner.member_since.len(),
            generation.targets.len(),
            "the change covers every target"
        );
        self.install(inner, generation);
    }

    /// The last step of a publication: the generation (and the ring's bound it carries) in
    /// place, the lock released, published at once.
    fn install(&self, mut inner: RwLockWriteGuard<'_, Inner>, generation: Generation) {
        inner.view.events.set_keep(generation.events_keep);
        inner.view.generation = Arc::new(generation);
        drop(inner);
        self.publish_milestone();
    }

    /// The current generation.
    pub fn generation(&self) -> Arc<Generation> {
        Arc::clone(&self.read_inner().view.generation)
    }

    /// A successful listing of `tasks`: its aggregate replaces the last one, and the tasks are
    /// compared with the previous listing's to count state changes. The first successful
    /// listing of a target, or of a query other than the last one's, only remembers what it
    /// sees, so a start, a reload or a discovery change adds nothing. `None` when the target
    /// left the generation meanwhile: nothing is written.
    pub fn record_listing(
        &self,
        attempt: &Attempt,
        tasks: &[TaskSummary],
        at: SystemTime,
    ) -> Option<Recorded> {
        // The aggregate and the sorted history are made before the lock is taken.
        let aggregate = TaskAggregate::from_tasks(tasks);
        let prepared = PreparedTasks::new(tasks);
        let (transition, changes) = self.update(attempt, |state| {
            state.active.update(tasks, at);
            let first = state.history.is_none() || state.asked != attempt.asked;
            if first {
                state.history = Some(TaskHistory::default());
                state.asked = attempt.asked;
            }
            let history = state.history.get_or_insert_with(TaskHistory::default);
            let changes = history.replace_with(prepared);
            let transitions = state.transitions.get_or_insert_with(ByState::default);
            if first {
                return (succeed(state, aggregate, at), Changes::default());
            }
            for (entered, count) in changes.entered.iter().filter(|(_, count)| **count > 0) {
                *transitions.entry(entered) += count;
            }
            (succeed(state, aggregate, at), changes)
        })?;
        let events: Vec<Arc<TaskEvent>> =
            TaskEvent::of_listing(attempt.key, tasks, &changes, at).into_iter().map(Arc::new).collect();
        if !events.is_empty() {
            let mut inner = self.write();
            for event in &events {
                inner.view.events.push(Arc::clone(event));
            }
        }
        Some(Recorded { transition, changes, events })
    }

    /// A successful listing known only by its aggregate (no task history kept).
    pub fn record_success(
        &self,
        attempt: &Attempt,
        aggregate: TaskAggregate,
        at: SystemTime,
    ) -> Option<Transition> {
        self.update(attempt, |state| succeed(state, aggregate, at))
    }

    /// Marks the target down; its last good aggregate stays until it is replaced or expires,
    /// and its task history stays, so a failed poll loses no state change.
    pub fn record_failure(&self, attempt: &Attempt, error: impl Into<ListingError>) -> Option<Transition> {
        let error = error.into();
        self.update(attempt, |state| {
            let previous = state.failing_with().map(|e| e.code);
            let transition = if previous == Some(error.code) {
                Transition::Steady
            } else {
                Transition::NewFailure { previous }
            };
            state.healthy = false;
            state.last_error = Some(Box::new(error));
            transition
        })
    }

    /// A round over every target has ended: published at once. The first one makes the
    /// exporter ready.
    pub fn record_round(&self, report: RoundReport) {
        self.write().view.last_round = Some(report);
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
        let mut inner = self.write();
        let mut expired = Vec::new();
        for (instance, targets) in inner.view.instances.iter_mut() {
            for (task_type, state) in targets.iter_mut() {
                if state.counts_are_stale(now, max_staleness) {
                    state.aggregate = None;
                    expired.push(TargetKey { instance: instance.clone(), task_type: *task_type });
                }
            }
        }
        drop(inner);
        if !expired.is_empty() {
            self.publish_milestone();
        }
        expired
    }

    /// Whether every target of the first round has had an attempt.
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
        let inner = self.read_inner();
        f(&inner.view, self.publication())
    }

    fn read_inner(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        crate::util::read(&self.inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        crate::util::write(&self.inner)
    }

    fn publish_milestone(&self) {
        self.milestones.fetch_add(1, Ordering::AcqRel);
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Applies `f` to the listing's target when the target has stayed in every generation
    /// since the listing began; otherwise writes nothing.
    fn update<R>(&self, attempt: &Attempt, f: impl FnOnce(&mut TargetState) -> R) -> Option<R> {
        let mut inner = self.write();
        let since = inner.member_since.get(attempt.key).copied()?;
        if since > attempt.generation {
            return None;
        }
        let key = attempt.key;
        let state = inner.view.instances.entry(key.instance.clone()).or_default().entry(key.task_type);
        let result = f(state);
        drop(inner);
        self.changes.fetch_add(1, Ordering::AcqRel);
        Some(result)
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
mod tests;
