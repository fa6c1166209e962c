//! What the exporter remembers of each target's tasks between two listings, to see tasks
//! change state: each task's id (56 bits of its hash) and last state, packed in one `u64`,
//! sorted. About 8 bytes a task; a task that leaves the lookback window leaves the listing and
//! so is forgotten at the next one.

use crate::api::{DownloadState, TaskId, TaskSummary};
use crate::store::model::ByState;

/// The tasks of one target as of its last successful listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskHistory {
    /// `hash << 8 | state code`, sorted.
    entries: Vec<u64>,
}

/// What a listing showed against the one before it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// Tasks that entered each state: seen in it now, in another state or not at all before.
    pub entered: ByState<u64>,
    /// Tasks seen `finished` or `failed` for the first time after having been seen in an
    /// earlier state, with their creation time (Unix ms), for the duration histogram.
    pub completed: Vec<(DownloadState, Option<u64>)>,
    /// Every task counted in `entered`: its place in the listing and the state it was seen in
    /// before (`None`: not seen before), for the task events.
    pub changed: Vec<TaskChange>,
}

/// One task that entered a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskChange {
    /// Its index in the listing's tasks.
    pub index: u32,
    /// The documented state it was in, `Some(None)` for an undocumented one (its name is not
    /// kept), `None` when it was not seen before.
    pub from: Option<Option<&'static DownloadState>>,
}

const OTHER_STATE: u8 = u8::MAX;

/// The tasks of a listing sorted by id, made before the store's lock is taken so that the
/// sort of a large listing never holds up scrapes or other listings.
#[derive(Debug)]
pub struct PreparedTasks<'a> {
    tasks: &'a [TaskSummary],
    /// `(hash << 8 | state code, index in tasks)`, sorted, one per task id.
    sorted: Vec<(u64, u32)>,
}

impl<'a> PreparedTasks<'a> {
    pub fn new(tasks: &'a [TaskSummary]) -> Self {
        let mut sorted: Vec<(u64, u32)> = tasks
            .iter()
            .enumerate()
            .filter_map(|(index, task)| {
                let id = id_bits(task.id?);
                Some((id << 8 | u64::from(state_code(&task.state)), index as u32))
            })
            .collect();
        sorted.sort_unstable();
        sorted.dedup_by_key(|(entry, _)| *entry >> 8);
        PreparedTasks { tasks, sorted }
    }
}

impl TaskHistory {
    /// Remembers `tasks` in place of the previous listing's, and says what changed.
    pub fn replace(&mut self, tasks: &[TaskSummary]) -> Changes {
        self.replace_with(PreparedTasks::new(tasks))
    }

    /// Remembers a prepared listing in place of the previous one, and says what changed: one
    /// walk over the two sorted lists.
    pub fn replace_with(&mut self, prepared: PreparedTasks) -> Changes {
        let mut changes = Changes::default();
        let mut previous = self.entries.iter().peekable();
        let mut entries = Vec::with_capacity(prepared.sorted.len());
        for &(entry, index) in &prepared.sorted {
            let id = entry >> 8;
            while previous.next_if(|old| **old >> 8 < id).is_some() {}
            let before = previous.next_if(|old| **old >> 8 == id).map(|old| (old & 0xFF) as u8);
            let code = (entry & 0xFF) as u8;
            if before != Some(code) {
                let task = &prepared.tasks[index as usize];
                *changes.entered.entry(&task.state) += 1;
                changes.changed.push(TaskChange { index, from: before.map(known_state) });
                let terminal = matches!(task.state, DownloadState::Finished | DownloadState::Failed);
                if terminal && before.is_some() {
                    changes.completed.push((task.state.clone(), task.created_at_ms));
                }
            }
            entries.push(entry);
        }
        self.keep(entries);
        changes
    }

    /// Takes `entries` into the buffer it already has when they fit: a listing like the last
    /// one allocates nothing that outlives it, so the store's memory does not churn (an
    /// allocator keeps the pages of long-lived buffers freed across threads).
    fn keep(&mut self, entries: Vec<u64>) {
        if entries.len() <= self.entries.capacity() && self.entries.capacity() <= 2 * entries.len().max(4) {
            self.entries.clear();
            self.entries.extend_from_slice(&entries);
        } else {
            self.entries = entries;
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held for the tasks.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<u64>()
    }
}

/// A task id as 56 bits: at a million tasks, the chance of any two colliding is about 1 in
/// 10^5, and a collision only misattributes one state change.
fn id_bits(id: TaskId) -> u64 {
    id.bits() >> 8
}

/// The documented state of a code, `None` for an undocumented one.
fn known_state(code: u8) -> Option<&'static DownloadState> {
    KNOWN_STATES.get(usize::from(code))
}

static KNOWN_STATES: [DownloadState; 6] = DownloadState::KNOWN;

fn state_code(state: &DownloadState) -> u8 {
    DownloadState::KNOWN.iter().position(|known| known == state).map_or(OTHER_STATE, |i| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DownloadTask;

    fn task(id: &str, state: &str, created: u64) -> TaskSummary {
        TaskSummary {
            created_at_ms: Some(created),
            ..DownloadTask::new(id, None, DownloadState::parse(state)).summary()
        }
    }

    /// The states entered, in lifecycle order.
    fn entered(changes: &Changes) -> Vec<(&str, u64)> {
        changes.entered.iter().filter(|(_, n)| **n > 0).map(|(s, n)| (s.as_str(), *n)).collect()
    }

    #[test]
    fn new_tasks_and_state_changes_are_entries_and_unchanged_tasks_are_not() {
        let mut history = TaskHistory::default();
        history.replace(&[task("a", "queueing", 1), task("b", "running", 2)]);
        let changes =
            history.replace(&[task("a", "running", 1), task("b", "running", 2), task("c", "queueing", 3)]);
        assert_eq!(entered(&changes), [("queueing", 1), ("running", 1)]);
        assert!(changes.completed.is_empty());
        assert_eq!(history.len(), 3);
    }

    #[test]
    fn a_task_seen_before_that_ends_is_a_completion_and_one_first_seen_ended_is_not() {
        let mut history = TaskHistory::default();
        history.replace(&[task("a", "running", 10), task("b", "queueing", 20)]);
        let changes =
            history.replace(&[task("a", "finished", 10), task("b", "failed", 20), task("c", "finished", 30)]);
        assert_eq!(entered(&changes), [("failed", 1), ("finished", 2)]);
        assert_eq!(
            changes.completed,
            [(DownloadState::Finished, Some(10)), (DownloadState::Failed, Some(20))]
        );
        let again = history.replace(&[task("a", "finished", 10), task("b", "failed", 20)]);
        assert_eq!(again, Changes::default(), "a task already ended is not counted twice");
    }

    #[test]
    fn tasks_that_leave_the_listing_are_forgotten_and_empty_ids_are_not_kept() {
        let mut history = TaskHistory::default();
        history.replace(&[task("a", "finished", 1), task("", "running", 2)]);
        assert_eq!(history.len(), 1);
        history.replace(&[]);
        assert!(history.is_empty());
        let changes = history.replace(&[task("a", "finished", 1)]);
        assert_eq!(entered(&changes), [("finished", 1)], "a task back in the window is seen anew");
    }

    #[test]
    fn memory_is_eight_bytes_a_task() {
        let mut history = TaskHistory::default();
        let tasks: Vec<TaskSummary> = (0..1000).map(|i| task(&format!("dt-{i}"), "running", i)).collect();
        history.replace(&tasks);
        assert_eq!(history.heap_bytes(), 8000);
    }
}
