//! Aggregation: the tasks of one listing in, counts and byte sums per state out.
//!
//! Only the aggregate is kept between polls, never the tasks themselves, so memory grows with
//! the number of targets, not with the number of tasks.

use std::fmt;
use std::sync::Arc;

use crate::api::{DownloadState, TaskSummary, TaskType};

/// One listing the poller runs: an instance in a region, filtered by one task type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    pub instance: InstanceKey,
    pub task_type: TaskType,
}

/// An instance as the exporter knows it: always with its account, since two accounts are two
/// API quotas and two histories even in one region. Whether series print the `account` label
/// is the renderer's choice (only with several accounts, so that a single-account exporter's
/// series keep their labels).
///
/// One pointer: every map of the exporter (store, schedule, generation, published rows) is
/// keyed by instance or target, so a key is cloned into each, and at 20,000 targets three
/// string pointers a key cost megabytes. Its parts read as fields through `Deref`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceKey(Arc<InstanceName>);

/// The parts of an [`InstanceKey`], compared and ordered in this order.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceName {
    pub account: Arc<str>,
    pub region_id: Arc<str>,
    pub instance_id: Arc<str>,
}

impl std::ops::Deref for InstanceKey {
    type Target = InstanceName;

    fn deref(&self) -> &InstanceName {
        &self.0
    }
}

/// The account of a configuration without `accounts:`.
pub const IMPLICIT_ACCOUNT: &str = crate::config::AccountConfig::IMPLICIT_NAME;

impl InstanceKey {
    /// An instance of the implicit single account.
    pub fn new(region_id: &str, instance_id: &str) -> Self {
        InstanceKey::of(IMPLICIT_ACCOUNT, region_id, instance_id)
    }

    /// An instance of `account`. Account and region names are shared by every key that
    /// names them: a handful of strings for the whole estate.
    pub fn of(account: &str, region_id: &str, instance_id: &str) -> Self {
        InstanceKey(Arc::new(InstanceName {
            account: intern(account),
            region_id: intern(region_id),
            instance_id: instance_id.into(),
        }))
    }

    pub fn in_account(self, account: &str) -> Self {
        InstanceKey::of(account, &self.region_id, &self.instance_id)
    }
}

/// The one shared copy of a name that many keys carry (accounts, regions): they are few, so
/// the set stays small for the life of the process.
fn intern(name: &str) -> Arc<str> {
    static NAMES: std::sync::Mutex<Option<std::collections::HashSet<Arc<str>>>> = std::sync::Mutex::new(None);
    let mut names = crate::util::lock(&NAMES);
    let names = names.get_or_insert_with(Default::default);
    if let Some(name) = names.get(name) {
        return Arc::clone(name);
    }
    let name: Arc<str> = name.into();
    names.insert(Arc::clone(&name));
    name
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if &*self.account != IMPLICIT_ACCOUNT {
            write!(f, "{}:", self.account)?;
        }
        write!(f, "{}/{}", self.region_id, self.instance_id)
    }
}

impl fmt::Display for TargetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.instance, self.task_type)
    }
}

/// What a target's listing asked: a digest of everything that decides which tasks it returns
/// (region, instance, task type, lookback, cluster, data source, backup set). A task history is
/// only compared with a listing of the same query, so a reload that widens the lookback or a
/// discovered instance whose cluster changes starts the history anew instead of counting every
/// task the wider query shows as a transition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct QueryId(u64);

impl QueryId {
    pub fn of(asked: &impl std::hash::Hash) -> Self {
        use std::hash::{BuildHasher, BuildHasherDefault};
        // Fixed keys: the same query gives the same id for the life of the process.
        QueryId(BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(asked))
    }
}

/// What the tasks in one state add up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateTotals {
    pub tasks: u64,
    pub export_bytes: u64,
    pub import_bytes: u64,
    /// Creation time (Unix ms) of the oldest task in this state, `u64::MAX` when no task said:
    /// an `Option` would take 8 bytes more in each of the six states of 20,000 targets.
    oldest_created_ms: u64,
}

impl Default for StateTotals {
    fn default() -> Self {
        StateTotals { tasks: 0, export_bytes: 0, import_bytes: 0, oldest_created_ms: u64::MAX }
    }
}

impl StateTotals {
    /// Creation time (Unix ms) of the oldest task in this state, when any task said.
    pub fn oldest_created_ms(&self) -> Option<u64> {
        (self.oldest_created_ms != u64::MAX).then_some(self.oldest_created_ms)
    }

    /// Adds the totals of another state (for states counted together).
    pub fn merge(&mut self, other: &StateTotals) {
        self.tasks += other.tasks;
        self.export_bytes = self.export_bytes.saturating_add(other.export_bytes);
        self.import_bytes = self.import_bytes.saturating_add(other.import_bytes);
        self.oldest_created_ms = self.oldest_created_ms.min(other.oldest_created_ms);
    }

    fn add(&mut self, task: &TaskSummary) {
        self.tasks += 1;
        self.export_bytes = self.export_bytes.saturating_add(task.export_bytes);
        self.import_bytes = self.import_bytes.saturating_add(task.import_bytes);
        if let Some(created) = task.created_at_ms {
            self.oldest_created_ms = self.oldest_created_ms.min(created);
        }
    }
}

/// The tables of the running tasks, from their `Progress` ("exported/total tables"); tasks
/// whose progress is missing or malformed are left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableProgress {
    pub exported: u64,
    pub total: u64,
}

/// A value for every documented state, in lifecycle order, then for each undocumented state
/// seen, by name. The documented ones sit in a fixed array: at 20,000 targets, one map per
/// target and figure would cost more than the figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ByState<T> {
    known: [T; KNOWN_STATES.len()],
    /// Usually `None`; sorted by state. Boxed: 8 bytes instead of a `Vec`'s 24 in every
    /// aggregate and transition count of 20,000 targets.
    others: Option<Box<[(DownloadState, T)]>>,
}

/// The documented states, as a static the iterators can lend.
static KNOWN_STATES: [DownloadState; 6] = DownloadState::KNOWN;

impl<T: Default> ByState<T> {
    /// The value of `state`, created as the default when it is a new undocumented one.
    pub fn entry(&mut self, state: &DownloadState) -> &mut T {
        if let Some(index) = known_index(state) {
            return &mut self.known[index];
        }
        let mut others = self.others.take().map(Vec::from).unwrap_or_default();
        let index = match others.binary_search_by(|(other, _)| other.cmp(state)) {
            Ok(index) => index,
            Err(index) => {
                others.insert(index, (state.clone(), T::default()));
                index
            }
        };
        &mut self.others.insert(others.into_boxed_slice())[index].1
    }
}

impl<T> ByState<T> {
    /// Every documented state, then the undocumented ones seen, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&DownloadState, &T)> {
        let others = self.others.as_deref().unwrap_or_default();
        KNOWN_STATES.iter().zip(&self.known).chain(others.iter().map(|(state, value)| (state, value)))
    }

    pub fn get(&self, state: &DownloadState) -> Option<&T> {
        match known_index(state) {
            Some(index) => Some(&self.known[index]),
            None => self.others.as_deref()?.iter().find(|(other, _)| other == state).map(|(_, value)| value),
        }
    }
}

fn known_index(state: &DownloadState) -> Option<usize> {
    match state {
        DownloadState::Initializing => Some(0),
        DownloadState::Queueing => Some(1),
        DownloadState::Running => Some(2),
        DownloadState::Failed => Some(3),
        DownloadState::Finished => Some(4),
        DownloadState::Expired => Some(5),
        DownloadState::Other(_) => None,
    }
}

/// The tasks of one target, by state. Every documented state is always present, so a state
/// with no tasks reads as an explicit zero rather than a missing series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskAggregate {
    by_state: ByState<StateTotals>,
    pub running_tables: TableProgress,
}

impl TaskAggregate {
    pub fn from_tasks<'a>(tasks: impl IntoIterator<Item = &'a TaskSummary>) -> Self {
        let mut aggregate = TaskAggregate::default();
        for task in tasks {
            aggregate.add(task);
        }
        aggregate
    }

    pub fn add(&mut self, task: &TaskSummary) {
        self.by_state.entry(&task.state).add(task);
        if let (DownloadState::Running, Some(progress)) = (&task.state, task.progress) {
            self.running_tables.exported = self.running_tables.exported.saturating_add(progress.done);
            self.running_tables.total = self.running_tables.total.saturating_add(progress.total);
        }
    }

    /// Totals per state, known states first in lifecycle order, then unknown ones by name.
    pub fn states(&self) -> impl Iterator<Item = (&DownloadState, &StateTotals)> {
        self.by_state.iter()
    }

    pub fn get(&self, state: &DownloadState) -> StateTotals {
        self.by_state.get(state).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DownloadTask;

    fn task(id: &str, state: &str, export: u64, import: u64, created: Option<u64>) -> TaskSummary {
        TaskSummary {
            export_bytes: export,
            import_bytes: import,
            created_at_ms: created,
            ..DownloadTask::new(id, Some(TaskType::Full), DownloadState::parse(state)).summary()
        }
    }

    #[test]
    fn counts_and_bytes_are_summed_per_state() {
        let tasks = [
            task("a", "finished", 100, 10, Some(3000)),
            task("b", "finished", 50, 5, Some(1000)),
            task("c", "queuing", 0, 0, Some(2000)),
        ];
        let aggregate = TaskAggregate::from_tasks(&tasks);
        let finished = aggregate.get(&DownloadState::Finished);
        assert_eq!((finished.tasks, finished.export_bytes, finished.import_bytes), (2, 150, 15));
        assert_eq!(finished.oldest_created_ms(), Some(1000));
        assert_eq!(aggregate.get(&DownloadState::Queueing).tasks, 1);
        assert_eq!(aggregate.states().map(|(_, t)| t.tasks).sum::<u64>(), 3);
    }

    #[test]
    fn every_known_state_is_present_even_with_no_tasks() {
        let aggregate = TaskAggregate::from_tasks(&[]);
        let states: Vec<&str> = aggregate.states().map(|(s, _)| s.as_str()).collect();
        assert_eq!(states, ["initializing", "queueing", "running", "failed", "finished", "expired"]);
        assert!(aggregate.states().all(|(_, t)| *t == StateTotals::default()));
    }

    #[test]
    fn unknown_states_are_kept_after_the_known_ones() {
        let aggregate = TaskAggregate::from_tasks(&[task("x", "Paused", 7, 0, None)]);
        let last = aggregate.states().last().unwrap();
        assert_eq!(last.0.as_str(), "paused");
        assert_eq!(last.1.tasks, 1);
    }

    #[test]
    fn running_tasks_add_up_their_tables_and_others_or_malformed_progress_do_not() {
        let with_progress = |id, state, progress: Option<(u64, u64)>| TaskSummary {
            progress: progress.map(|(done, total)| crate::api::Progress { done, total }),
            ..task(id, state, 0, 0, None)
        };
        let tasks = [
            with_progress("a", "running", Some((3, 10))),
            with_progress("b", "running", Some((1, 4))),
            with_progress("c", "running", None),
            with_progress("d", "finished", Some((9, 9))),
        ];
        let aggregate = TaskAggregate::from_tasks(&tasks);
        assert_eq!(aggregate.running_tables, TableProgress { exported: 4, total: 14 });
    }

    #[test]
    fn undocumented_states_are_kept_apart_in_name_order() {
        let mut counts = ByState::<u64>::default();
        *counts.entry(&DownloadState::parse("zeta")) += 1;
        *counts.entry(&DownloadState::parse("alpha")) += 2;
        *counts.entry(&DownloadState::parse("zeta")) += 3;
        *counts.entry(&DownloadState::Queueing) += 4;
        let all: Vec<(&str, u64)> = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        assert_eq!(all[1], ("queueing", 4));
        assert_eq!(all[6..], [("alpha", 2), ("zeta", 4)]);
        assert_eq!(counts.get(&DownloadState::parse("zeta")), Some(&4));
        assert_eq!(counts.iter().count(), 8);
    }

    #[test]
    fn byte_sums_saturate_instead_of_overflowing() {
        let tasks = [task("a", "running", u64::MAX, 0, None), task("b", "running", 5, 0, None)];
        assert_eq!(TaskAggregate::from_tasks(&tasks).get(&DownloadState::Running).export_bytes, u64::MAX);
    }
}
