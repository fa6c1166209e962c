//! Which download, and when it ends: the task events of recent state changes (a bounded ring)
//! and the tasks in progress of each target with their rate and ETA. Metrics cannot carry task
//! ids; these answer "which one?" at a bounded cost: the events are at most `events.keep`, the
//! tasks in progress are few by nature (and at most one listing's).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use crate::api::{DownloadState, ExportFormat, Progress, TargetType, TaskDetail, TaskId, TaskSummary};
use crate::history::Changes;
use crate::model::TargetKey;
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

/// Polls in a row without a new exported table after which a running task is stalled.
pub const STALLED_AFTER_POLLS: u32 = 3;
/// A task the last listing showed `initializing`, `queueing` or `running`, kept compact: a
/// busy estate has tens of thousands of them, so its text is one allocation and the poll that
/// saw it is its target's last success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveTask {
    pub id: TaskId,
    state: Phase,
    /// Polls in a row without a new exported table (saturating).
    polls_unmoved: u8,
    /// Polls that saw it running (saturating).
    running_polls: u16,
    pub created_ms: Option<u64>,
    pub progress: Option<Progress>,
    pub export_bytes: u64,
    /// The first poll that saw it running (Unix ms), and its exported tables then.
    running_since: Option<(u64, u64)>,
    /// The task id, format, target type, databases and backup set, separated by [`SEPARATOR`].
    text: Box<str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Initializing,
    Queueing,
    Running,
}

impl Phase {
    fn of(state: &DownloadState) -> Option<Phase> {
        match state {
            DownloadState::Initializing => Some(Phase::Initializing),
            DownloadState::Queueing => Some(Phase::Queueing),
            DownloadState::Running => Some(Phase::Running),
            _ => None,
        }
    }
}

/// Between the parts of an active task's text: a control character no id or name carries.
const SEPARATOR: char = '\u{1f}';

impl ActiveTask {
    pub fn state(&self) -> DownloadState {
        match self.state {
            Phase::Initializing => DownloadState::Initializing,
            Phase::Queueing => DownloadState::Queueing,
            Phase::Running => DownloadState::Running,
        }
    }

    /// Its detail, as the listing gave it.
    pub fn detail(&self) -> TaskDetail {
        let mut parts = self.text.split(SEPARATOR);
        let mut next = || parts.next().filter(|part| !part.is_empty());
        TaskDetail {
            task_id: next().unwrap_or_default().into(),
            format: next().map(ExportFormat::parse),
            target_type: next().map(TargetType::parse),
            db_list: next().map(Box::from),
            backup_set_id: next().map(Box::from),
        }
    }

    /// Exported tables per second over the polls it has been running, as of `seen` (the poll
    /// that last saw it); `None` before two observations or without a table exported meanwhile.
    pub fn tables_per_second(&self, seen: SystemTime) -> Option<f64> {
        let (since_ms, first) = self.running_since?;
        let exported = self.progress?.done;
        let seconds = unix_ms(seen).saturating_sub(since_ms) as f64 / 1000.0;
        if self.running_polls < 2 || seconds <= 0.0 || exported <= first {
            return None;
        }
        Some((exported - first) as f64 / seconds)
    }

    /// Seconds until its remaining tables are exported at its rate; none while its count has
    /// not moved since the last poll.
    pub fn eta_seconds(&self, seen: SystemTime) -> Option<f64> {
        if self.polls_unmoved > 0 {
            return None;
        }
        let progress = self.progress?;
        let rate = self.tables_per_second(seen)?;
        Some(progress.total.saturating_sub(progress.done) as f64 / rate)
    }

    pub fn stalled(&self) -> bool {
        self.state == Phase::Running && u32::from(self.polls_unmoved) >= STALLED_AFTER_POLLS
    }
}

fn packed(detail: &TaskDetail) -> Box<str> {
    let parts = [
        &*detail.task_id,
        detail.format.as_ref().map_or("", |f| f.as_str()),
        detail.target_type.as_ref().map_or("", |t| t.as_str()),
        detail.db_list.as_deref().unwrap_or_default(),
        detail.backup_set_id.as_deref().unwrap_or_default(),
    ];
    let clean = |part: &str| part.replace(SEPARATOR, " ");
    parts.map(clean).join(&SEPARATOR.to_string()).into_boxed_str()
}

/// The tasks in progress of a listing at `at`, following those of the listing before.
pub fn active_tasks(previous: &[ActiveTask], tasks: &[TaskSummary], at: SystemTime) -> Vec<ActiveTask> {
    let before: HashMap<TaskId, &ActiveTask> = previous.iter().map(|task| (task.id, task)).collect();
    let mut active = Vec::new();
    for task in tasks {
        let (Some(phase), Some(id)) = (Phase::of(&task.state), task.id) else { continue };
        let exported = task.progress.map(|p| p.done);
        let prior = before.get(&id).copied();
        let (running_since, running_polls, polls_unmoved) = match (prior, phase) {
            (_, Phase::Initializing | Phase::Queueing) => (None, 0, 0),
            (Some(prior), Phase::Running) if prior.running_since.is_some() => {
                let moved = exported > prior.progress.map(|p| p.done);
                let unmoved = if moved { 0 } else { prior.polls_unmoved.saturating_add(1) };
                (prior.running_since, prior.running_polls.saturating_add(1), unmoved)
            }
            (_, Phase::Running) => (Some((unix_ms(at), exported.unwrap_or(0))), 1, 0),
        };
        // A task seen as it was keeps its text: no allocation for it.
        let text = match prior {
            Some(prior) if prior.text.split(SEPARATOR).next() == Some(&*task.detail.task_id) => {
                prior.text.clone()
            }
            _ => packed(&task.detail),
        };
        active.push(ActiveTask {
            id,
            state: phase,
            polls_unmoved,
            running_polls,
            created_ms: task.created_at_ms,
            progress: task.progress,
            export_bytes: task.export_bytes,
            running_since,
            text,
        });
    }
    active.shrink_to_fit();
    active
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DownloadTask, TaskType};
    use std::time::Duration;

    fn running(id: &str, done: u64, total: u64) -> TaskSummary {
        TaskSummary {
            progress: Some(Progress { done, total }),
            ..DownloadTask::new(id, Some(TaskType::Full), DownloadState::Running).summary()
        }
    }

    fn minute(n: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 60 * n)
    }

    #[test]
    fn a_steady_task_gets_its_rate_and_eta_from_the_second_poll_on() {
        let first = active_tasks(&[], &[running("dt-1", 10, 100)], minute(0));
        assert_eq!(first[0].tables_per_second(minute(0)), None, "one observation");
        assert_eq!(first[0].eta_seconds(minute(0)), None);
        let second = active_tasks(&first, &[running("dt-1", 16, 100)], minute(1));
        assert_eq!(second[0].tables_per_second(minute(1)), Some(0.1));
        let eta = second[0].eta_seconds(minute(1)).unwrap();
        assert!((eta - 840.0).abs() < 1e-6, "84 tables at 0.1 a second: {eta}");
        let third = active_tasks(&second, &[running("dt-1", 22, 100)], minute(2));
        assert!((third[0].eta_seconds(minute(2)).unwrap() - 780.0).abs() < 1e-6);
    }

    #[test]
    fn a_task_whose_count_does_not_move_has_no_eta_and_is_stalled_after_three_polls() {
        let mut tasks = active_tasks(&[], &[running("dt-1", 10, 100)], minute(0));
        tasks = active_tasks(&tasks, &[running("dt-1", 20, 100)], minute(1));
        assert!(tasks[0].eta_seconds(minute(1)).is_some());
        for poll in 2..5 {
            tasks = active_tasks(&tasks, &[running("dt-1", 20, 100)], minute(poll));
            assert_eq!(tasks[0].eta_seconds(minute(poll)), None, "no ETA while the count stands");
            assert_eq!(tasks[0].stalled(), poll == 4, "stalled after three unmoved polls (poll {poll})");
        }
        tasks = active_tasks(&tasks, &[running("dt-1", 21, 100)], minute(5));
        assert!(!tasks[0].stalled() && tasks[0].eta_seconds(minute(5)).is_some(), "moving again");
    }

    #[test]
    fn only_tasks_in_progress_are_kept() {
        let queued = DownloadTask::new("dt-q", None, DownloadState::Queueing).summary();
        let done = DownloadTask::new("dt-f", None, DownloadState::Finished).summary();
        let active = active_tasks(&[], &[queued, done, running("dt-r", 1, 2)], minute(0));
        let ids: Vec<Box<str>> = active.iter().map(|t| t.detail().task_id).collect();
        assert_eq!(ids, ["dt-q".into(), "dt-r".into()]);
    }

    #[test]
    fn an_active_task_gives_back_the_detail_it_was_listed_with() {
        let task = TaskSummary {
            detail: TaskDetail {
                task_id: "dt-1".into(),
                format: Some(ExportFormat::Parquet),
                target_type: None,
                db_list: Some("[a,b]".into()),
                backup_set_id: Some("42".into()),
            },
            ..running("dt-1", 1, 2)
        };
        let active = active_tasks(&[], std::slice::from_ref(&task), minute(0));
        assert_eq!(active[0].detail(), task.detail);
        assert_eq!(active[0].state(), DownloadState::Running);
        let again = active_tasks(&active, std::slice::from_ref(&task), minute(1));
        assert_eq!(again[0].detail(), task.detail);
        assert!(std::mem::size_of::<ActiveTask>() <= 112, "{}", std::mem::size_of::<ActiveTask>());
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
                    instance: crate::model::InstanceKey::new("r", "i"),
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
