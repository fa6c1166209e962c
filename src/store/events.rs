//! Which download changed: the task events of recent state changes, in a ring bounded by
//! `events.keep`. Metrics cannot carry task ids; these answer "which one?" at a bounded cost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use crate::api::{DownloadState, Progress, TaskDetail, TaskSummary};
use crate::store::history::Changes;
use crate::store::model::TargetKey;
use crate::util::unix_ms;

/// A task seen in a new state: what the transition counter counted, with the task's detail.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskEvent {
    /// The poll that saw it.
    pub at: SystemTime,
    pub target: TargetKey,
    /// The state it was in at the poll before: `None` when it was not seen before, `Some(None)`
    /// when that state was an undocumented one.
    pub from: Option<Option<&'static DownloadState>>,
    pub to: DownloadState,
    /// `GmtCreate`, Unix milliseconds.
    pub created_ms: Option<u64>,
    pub progress: Option<Progress>,
    pub export_bytes: u64,
    pub detail: TaskDetail,
}

impl TaskEvent {
    /// The events of one listing's `changes` of `tasks`, seen at `at`.
    pub fn of_listing(
        target: &TargetKey,
        tasks: &[TaskSummary],
        changes: &Changes,
        at: SystemTime,
    ) -> Vec<Self> {
        let events = changes.changed.iter().filter_map(|change| {
            let task = tasks.get(change.index as usize)?;
            Some(TaskEvent {
                at,
                target: target.clone(),
                from: change.from,
                to: task.state.clone(),
                created_ms: task.created_at_ms,
                progress: task.progress,
                export_bytes: task.export_bytes,
                detail: task.detail.clone(),
            })
        });
        events.collect()
    }

    /// `none` for a task not seen before, `other` for an undocumented state.
    pub fn from_name(&self) -> &'static str {
        match self.from {
            None => "none",
            Some(None) => "other",
            Some(Some(state)) => state.as_str(),
        }
    }

    /// From creation to this poll, for a task that ended (`finished` or `failed`).
    pub fn duration_seconds(&self) -> Option<f64> {
        if !matches!(self.to, DownloadState::Finished | DownloadState::Failed) {
            return None;
        }
        let created = self.created_ms?;
        Some(unix_ms(self.at).saturating_sub(created) as f64 / 1000.0)
    }
}

/// The most recent task events, newest last, at most `keep`.
#[derive(Clone, Debug, Default)]
pub struct EventRing {
    keep: usize,
    events: VecDeque<Arc<TaskEvent>>,
}

impl EventRing {
    pub fn set_keep(&mut self, keep: usize) {
        self.keep = keep;
        self.trim();
    }

    pub fn push(&mut self, event: Arc<TaskEvent>) {
        self.events.push_back(event);
        self.trim();
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &Arc<TaskEvent>> {
        self.events.iter().rev()
    }

    fn trim(&mut self) {
        while self.events.len() > self.keep {
            self.events.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TaskType;
    use std::time::Duration;

    fn minute(n: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 60 * n)
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let mut ring = EventRing::default();
        ring.set_keep(2);
        for id in ["a", "b", "c"] {
            let detail = TaskDetail { task_id: id.into(), ..TaskDetail::default() };
            ring.push(Arc::new(TaskEvent {
                at: minute(0),
                target: TargetKey {
                    instance: crate::store::model::InstanceKey::new("r", "i"),
                    task_type: TaskType::Full,
                },
                from: None,
                to: DownloadState::Queueing,
                created_ms: None,
                progress: None,
                export_bytes: 0,
                detail,
            }));
        }
        let ids: Vec<&str> = ring.newest_first().map(|e| &*e.detail.task_id).collect();
        assert_eq!(ids, ["c", "b"]);
    }
}
