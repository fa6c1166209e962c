//! The tasks a target's last listing showed `initializing`, `queueing` or `running`, with what
//! their rate and ETA need. A busy estate has a hundred thousand of them, so a target keeps
//! them in two allocations, whatever their number: fixed-size records sorted by task id, and
//! one text holding every task's id, format, target type and databases (what `/api/v1/tasks`
//! and the instance page show; the backup set is in the task events only).

use std::sync::Arc;
use std::time::SystemTime;

use crate::api::{DownloadState, Progress, TaskDetail, TaskId, TaskSummary};
use crate::util::unix_ms;

/// Polls in a row without a new exported table after which a running task is stalled.
pub const STALLED_AFTER_POLLS: u32 = 3;

/// The tasks in progress of one target as of its last successful listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActiveTasks {
    /// Sorted by task id, one per id.
    records: Box<[Record]>,
    /// The records' texts one after the other, in the records' order; shared with the
    /// listing before when it is the same (the usual case), so a poll allocates one buffer;
    /// `None` without tasks, so that an idle target allocates nothing.
    text: Option<Arc<str>>,
}

/// One task, without its text: 56 bytes, its optional values kept as sentinels (a `None`
/// would double their size) and its table counts in 32 bits (a count at or above 2^32 - 1,
/// which no database has, reads as 2^32 - 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    id: TaskId,
    /// `GmtCreate` (Unix ms), [`ABSENT`] when the listing did not say.
    created_ms: u64,
    export_bytes: u64,
    /// Its `Progress`, both [`NO_COUNT`] when missing or malformed.
    done: u32,
    total: u32,
    /// The first poll that saw it running (Unix ms), [`ABSENT`] before, and its exported tables then.
    running_since_ms: u64,
    running_since_exported: u32,
    /// Where its text ends in [`ActiveTasks::text`]; it starts where the previous one's ends.
    text_end: u32,
    phase: Phase,
    /// Polls in a row without a new exported table (saturating).
    polls_unmoved: u8,
    /// Polls that saw it running (saturating).
    running_polls: u16,
}

const ABSENT: u64 = u64::MAX;
const NO_COUNT: u32 = u32::MAX;

fn table_count(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(NO_COUNT).min(NO_COUNT - 1)
}

fn absent_as_none(value: u64) -> Option<u64> {
    (value != ABSENT).then_some(value)
}

impl Record {
    fn progress(&self) -> Option<Progress> {
        let (done, total) = (u64::from(self.done), u64::from(self.total));
        (self.done != NO_COUNT).then_some(Progress { done, total })
    }

    fn running_since(&self) -> Option<(u64, u64)> {
        absent_as_none(self.running_since_ms).map(|ms| (ms, u64::from(self.running_since_exported)))
    }
}

/// How a task's run has gone so far: what its rate and stall need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tracking {
    running_since: Option<(u64, u64)>,
    running_polls: u16,
    polls_unmoved: u8,
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

/// Between the parts of a task's text: a control character no id or name carries.
const SEPARATOR: char = '\u{1f}';

impl ActiveTasks {
    /// The tasks in progress of a listing of `tasks` at `at`, following these (the listing
    /// before): a task still running keeps when it was first seen running.
    pub fn following(&self, tasks: &[TaskSummary], at: SystemTime) -> ActiveTasks {
        let mut listed: Vec<(TaskId, Phase, &TaskSummary)> =
            tasks.iter().filter_map(|task| Some((task.id?, Phase::of(&task.state)?, task))).collect();
        if listed.is_empty() {
            return ActiveTasks::default();
        }
        listed.sort_unstable_by_key(|(id, _, _)| *id);
        listed.dedup_by_key(|(id, _, _)| *id);

        let mut text = String::new();
        let mut records = Vec::with_capacity(listed.len());
        for (id, phase, task) in listed {
            let prior = self.find(id).filter(|prior| prior.task_id() == &*task.detail.task_id);
            let tracking = tracking(prior.map(|p| p.record), phase, task.progress, at);
            push_text(&mut text, &task.detail);
            let (since_ms, since_exported) = tracking.running_since.unwrap_or((ABSENT, 0));
            let (done, total) =
                task.progress.map_or((NO_COUNT, NO_COUNT), |p| (table_count(p.done), table_count(p.total)));
            records.push(Record {
                id,
                created_ms: task.created_at_ms.unwrap_or(ABSENT),
                export_bytes: task.export_bytes,
                done,
                total,
                running_since_ms: since_ms,
                running_since_exported: table_count(since_exported),
                text_end: u32::try_from(text.len()).unwrap_or(u32::MAX),
                phase,
                polls_unmoved: tracking.polls_unmoved,
                running_polls: tracking.running_polls,
            });
        }
        let text = match &self.text {
            Some(before) if **before == *text => Arc::clone(before),
            _ => Arc::from(text),
        };
        ActiveTasks { records: records.into_boxed_slice(), text: Some(text) }
    }

    /// Becomes what [`Self::following`] gives, in the buffers it has when they fit, for the
    /// same reason as the task history: the store's buffers are not replaced at every poll.
    pub fn update(&mut self, tasks: &[TaskSummary], at: SystemTime) {
        let next = self.following(tasks, at);
        if next.records.len() == self.records.len() {
            self.records.copy_from_slice(&next.records);
            self.text = next.text;
        } else {
            *self = next;
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every task, by task id.
    pub fn iter(&self) -> impl Iterator<Item = ActiveTask<'_>> {
        (0..self.records.len()).map(|index| self.task(index))
    }

    /// Every task, oldest first (then by task id).
    pub fn by_creation(&self) -> Vec<ActiveTask<'_>> {
        let mut tasks: Vec<ActiveTask<'_>> = self.iter().collect();
        tasks.sort_by_key(|task| task.created_ms().unwrap_or(u64::MAX));
        tasks
    }

    fn find(&self, id: TaskId) -> Option<ActiveTask<'_>> {
        let index = self.records.binary_search_by_key(&id, |record| record.id).ok()?;
        Some(self.task(index))
    }

    fn task(&self, index: usize) -> ActiveTask<'_> {
        let start = index.checked_sub(1).map_or(0, |before| self.records[before].text_end as usize);
        let record = &self.records[index];
        let text = self.text.as_deref().unwrap_or_default();
        ActiveTask { record, text: &text[start..record.text_end as usize] }
    }
}

/// How the run of a task seen in `phase` with `progress` at `at` has gone, after `prior`.
fn tracking(prior: Option<&Record>, phase: Phase, progress: Option<Progress>, at: SystemTime) -> Tracking {
    let exported = progress.map(|p| p.done);
    match (prior, phase) {
        (_, Phase::Initializing | Phase::Queueing) => Tracking::default(),
        (Some(prior), Phase::Running) if prior.running_since().is_some() => {
            // Without a count, nothing says it stands still.
            let moved = exported.is_none() || exported > prior.progress().map(|p| p.done);
            Tracking {
                running_since: prior.running_since(),
                running_polls: prior.running_polls.saturating_add(1),
                polls_unmoved: if moved { 0 } else { prior.polls_unmoved.saturating_add(1) },
            }
        }
        (_, Phase::Running) => Tracking {
            running_since: Some((unix_ms(at), exported.unwrap_or(0))),
            running_polls: 1,
            polls_unmoved: 0,
        },
    }
}

/// Appends a task's id, format, target type and databases, separated by [`SEPARATOR`] (which
/// is never part of a value: a value carrying it has it replaced).
fn push_text(text: &mut String, detail: &TaskDetail) {
    let parts = [
        &*detail.task_id,
        detail.format.as_ref().map_or("", |f| f.as_str()),
        detail.target_type.as_ref().map_or("", |t| t.as_str()),
        detail.db_list.as_deref().unwrap_or_default(),
    ];
    for (index, part) in parts.into_iter().enumerate() {
        if index > 0 {
            text.push(SEPARATOR);
        }
        text.extend(part.chars().map(|c| if c == SEPARATOR { ' ' } else { c }));
    }
}

/// One task in progress, as its target keeps it.
#[derive(Clone, Copy, Debug)]
pub struct ActiveTask<'a> {
    record: &'a Record,
    text: &'a str,
}

impl<'a> ActiveTask<'a> {
    pub fn state(&self) -> DownloadState {
        match self.record.phase {
            Phase::Initializing => DownloadState::Initializing,
            Phase::Queueing => DownloadState::Queueing,
            Phase::Running => DownloadState::Running,
        }
    }

    /// `GmtCreate`, Unix milliseconds.
    pub fn created_ms(&self) -> Option<u64> {
        absent_as_none(self.record.created_ms)
    }

    pub fn progress(&self) -> Option<Progress> {
        self.record.progress()
    }

    pub fn export_bytes(&self) -> u64 {
        self.record.export_bytes
    }

    pub fn task_id(&self) -> &'a str {
        self.part(0).unwrap_or_default()
    }

    /// `csv`, `sql`, `parquet` or the name the service gave.
    pub fn format(&self) -> Option<&'a str> {
        self.part(1)
    }

    /// `OSS`, `URL` or the name the service gave.
    pub fn target_type(&self) -> Option<&'a str> {
        self.part(2)
    }

    pub fn db_list(&self) -> Option<&'a str> {
        self.part(3)
    }

    /// The `index`-th part of its text, `None` when empty.
    fn part(&self, index: usize) -> Option<&'a str> {
        self.text.split(SEPARATOR).nth(index).filter(|part| !part.is_empty())
    }

    /// Exported tables per second over the polls it has been running, as of `seen` (the poll
    /// that last saw it); `None` before two observations or without a table exported meanwhile.
    pub fn tables_per_second(&self, seen: SystemTime) -> Option<f64> {
        let (since_ms, first) = self.record.running_since()?;
        let exported = self.record.progress()?.done;
        let seconds = unix_ms(seen).saturating_sub(since_ms) as f64 / 1000.0;
        if self.record.running_polls < 2 || seconds <= 0.0 || exported <= first {
            return None;
        }
        Some((exported - first) as f64 / seconds)
    }

    /// Seconds until its remaining tables are exported at its rate; none while its count has
    /// not moved since the last poll.
    pub fn eta_seconds(&self, seen: SystemTime) -> Option<f64> {
        if self.record.polls_unmoved > 0 {
            return None;
        }
        let progress = self.record.progress()?;
        let rate = self.tables_per_second(seen)?;
        Some(progress.total.saturating_sub(progress.done) as f64 / rate)
    }

    pub fn stalled(&self) -> bool {
        self.record.phase == Phase::Running && u32::from(self.record.polls_unmoved) >= STALLED_AFTER_POLLS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DownloadTask, ExportFormat, TargetType, TaskType};
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

    fn listed(previous: &ActiveTasks, tasks: &[TaskSummary], at: SystemTime) -> ActiveTasks {
        previous.following(tasks, at)
    }

    #[test]
    fn a_steady_task_gets_its_rate_and_eta_from_the_second_poll_on() {
        let first = listed(&ActiveTasks::default(), &[running("dt-1", 10, 100)], minute(0));
        let task = first.iter().next().unwrap();
        assert_eq!(task.tables_per_second(minute(0)), None, "one observation");
        assert_eq!(task.eta_seconds(minute(0)), None);
        let second = listed(&first, &[running("dt-1", 16, 100)], minute(1));
        let task = second.iter().next().unwrap();
        assert_eq!(task.tables_per_second(minute(1)), Some(0.1));
        let eta = task.eta_seconds(minute(1)).unwrap();
        assert!((eta - 840.0).abs() < 1e-6, "84 tables at 0.1 a second: {eta}");
        let third = listed(&second, &[running("dt-1", 22, 100)], minute(2));
        assert!((third.iter().next().unwrap().eta_seconds(minute(2)).unwrap() - 780.0).abs() < 1e-6);
    }

    #[test]
    fn a_task_whose_count_does_not_move_has_no_eta_and_is_stalled_after_three_polls() {
        let mut tasks = listed(&ActiveTasks::default(), &[running("dt-1", 10, 100)], minute(0));
        tasks = listed(&tasks, &[running("dt-1", 20, 100)], minute(1));
        assert!(tasks.iter().next().unwrap().eta_seconds(minute(1)).is_some());
        for poll in 2..5 {
            tasks = listed(&tasks, &[running("dt-1", 20, 100)], minute(poll));
            let task = tasks.iter().next().unwrap();
            assert_eq!(task.eta_seconds(minute(poll)), None, "no ETA while the count stands");
            assert_eq!(task.stalled(), poll == 4, "stalled after three unmoved polls (poll {poll})");
        }
        tasks = listed(&tasks, &[running("dt-1", 21, 100)], minute(5));
        let task = tasks.iter().next().unwrap();
        assert!(!task.stalled() && task.eta_seconds(minute(5)).is_some(), "moving again");
    }

    #[test]
    fn only_tasks_in_progress_are_kept_once_each() {
        let queued = DownloadTask::new("dt-q", None, DownloadState::Queueing).summary();
        let done = DownloadTask::new("dt-f", None, DownloadState::Finished).summary();
        let nameless = DownloadTask::new("", None, DownloadState::Running).summary();
        let tasks = [queued.clone(), done, running("dt-r", 1, 2), nameless, queued];
        let active = listed(&ActiveTasks::default(), &tasks, minute(0));
        let mut ids: Vec<&str> = active.iter().map(|t| t.task_id()).collect();
        ids.sort();
        assert_eq!(ids, ["dt-q", "dt-r"], "a task listed on two pages is kept once");
        let none = listed(&active, &tasks[1..2], minute(1));
        assert!(none.is_empty(), "a finished task is no longer in progress");
    }

    #[test]
    fn a_task_gives_back_what_it_was_listed_with_among_others() {
        let detailed = |id: &str, db_list: Option<&str>| TaskSummary {
            detail: TaskDetail {
                task_id: id.into(),
                format: Some(ExportFormat::Parquet),
                target_type: Some(TargetType::Other("NAS".into())),
                db_list: db_list.map(Box::from),
                backup_set_id: Some("42".into()),
            },
            created_at_ms: Some(1_700_000_000_000 + id.len() as u64),
            ..running(id, 1, 2)
        };
        let tasks = [
            detailed("dt-long-1", Some("[a,b]")),
            detailed("dt-2", None),
            detailed("dt-3", Some("x\u{1f}y")),
        ];
        let active = listed(&ActiveTasks::default(), &tasks, minute(0));
        let again = listed(&active, &tasks, minute(1));
        for kept in [&active, &again] {
            for task in &tasks {
                let found = kept.iter().find(|t| t.task_id() == &*task.detail.task_id).unwrap();
                assert_eq!(found.format(), Some("parquet"));
                assert_eq!(found.target_type(), Some("NAS"));
                let db_list = task.detail.db_list.as_deref().map(|d| d.replace('\u{1f}', " "));
                assert_eq!(found.db_list(), db_list.as_deref());
                assert_eq!(found.created_ms(), task.created_at_ms);
                assert_eq!(found.progress(), task.progress);
                assert_eq!(found.state(), DownloadState::Running);
            }
        }
        let order: Vec<&str> = again.by_creation().iter().map(|t| t.task_id()).collect();
        assert_eq!(order, ["dt-2", "dt-3", "dt-long-1"], "oldest first");
    }

    #[test]
    fn a_task_without_progress_or_creation_time_reads_as_such() {
        let bare = DownloadTask::new("dt-b", None, DownloadState::Running).summary();
        let mut active = ActiveTasks::default();
        for poll in 0..5 {
            active = listed(&active, std::slice::from_ref(&bare), minute(poll));
        }
        let task = active.iter().next().unwrap();
        assert_eq!((task.progress(), task.created_ms()), (None, None));
        assert_eq!(task.tables_per_second(minute(4)), None);
        assert!(!task.stalled(), "no count is no evidence of a stall");
    }

    #[test]
    fn an_update_in_place_is_the_same_as_the_next_listing() {
        let polls = [
            vec![running("dt-1", 1, 9), running("dt-2", 1, 9)],
            vec![running("dt-1", 2, 9), running("dt-2", 3, 9)],
            vec![running("dt-2", 4, 9)],
            vec![running("dt-2", 4, 9), running("dt-3", 0, 9), running("dt-4", 0, 9)],
            vec![],
        ];
        let (mut updated, mut followed) = (ActiveTasks::default(), ActiveTasks::default());
        for (poll, tasks) in polls.iter().enumerate() {
            updated.update(tasks, minute(poll as u64));
            followed = followed.following(tasks, minute(poll as u64));
            assert_eq!(updated, followed, "poll {poll}");
        }
    }

    #[test]
    fn a_count_beyond_32_bits_reads_as_the_largest_one_kept() {
        let huge = running("dt-h", 5_000_000_000, 6_000_000_000);
        let active = ActiveTasks::default().following(&[huge], minute(0));
        let largest = u64::from(u32::MAX - 1);
        assert_eq!(
            active.iter().next().unwrap().progress(),
            Some(Progress { done: largest, total: largest })
        );
    }

    #[test]
    fn a_record_is_small() {
        assert_eq!(std::mem::size_of::<Record>(), 56);
    }
}
