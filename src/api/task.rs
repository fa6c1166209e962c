//! A download task as the exporter understands it: typed, whatever spelling the API used.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The state of an advanced download task.
///
/// Alibaba's own sources spell some states two ways (`queueing`/`queuing`,
/// `initializing`/`Initializing`), so parsing ignores case and folds the spellings; a state never
/// seen before is kept, lowercased, rather than dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DownloadState {
    Initializing,
    Queueing,
    Running,
    Failed,
    Finished,
    Expired,
    Other(String),
}

impl DownloadState {
    /// Every state the API documents, in the order of a task's life.
    pub const KNOWN: [DownloadState; 6] = [
        DownloadState::Initializing,
        DownloadState::Queueing,
        DownloadState::Running,
        DownloadState::Failed,
        DownloadState::Finished,
        DownloadState::Expired,
    ];

    pub fn parse(raw: &str) -> DownloadState {
        let trimmed = raw.trim();
        let known = [
            ("initializing", DownloadState::Initializing),
            ("queueing", DownloadState::Queueing),
            ("queuing", DownloadState::Queueing),
            ("running", DownloadState::Running),
            ("failed", DownloadState::Failed),
            ("finished", DownloadState::Finished),
            ("expired", DownloadState::Expired),
        ];
        known
            .into_iter()
            .find(|(name, _)| trimmed.eq_ignore_ascii_case(name))
            .map(|(_, state)| state)
            .unwrap_or_else(|| DownloadState::Other(trimmed.to_ascii_lowercase()))
    }

    /// The canonical lowercase name, as used on the wire and in metric labels.
    pub fn as_str(&self) -> &str {
        match self {
            DownloadState::Initializing => "initializing",
            DownloadState::Queueing => "queueing",
            DownloadState::Running => "running",
            DownloadState::Failed => "failed",
            DownloadState::Finished => "finished",
            DownloadState::Expired => "expired",
            DownloadState::Other(name) => name,
        }
    }
}

impl fmt::Display for DownloadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Full backup-set download or point-in-time download. The response carries no such field:
/// a task's type is the `TaskType` filter of the request that listed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskType {
    Full,
    Pitr,
}

impl TaskType {
    pub const ALL: [TaskType; 2] = [TaskType::Full, TaskType::Pitr];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Full => "full",
            TaskType::Pitr => "pitr",
        }
    }

    pub fn parse(raw: &str) -> Option<TaskType> {
        TaskType::ALL.into_iter().find(|t| raw.trim().eq_ignore_ascii_case(t.as_str()))
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the downloaded data is converted to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    Csv,
    Sql,
    Parquet,
    Other(String),
}

impl ExportFormat {
    /// `csv`, `sql`, `parquet`, or the name the service gave.
    pub fn as_str(&self) -> &str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Sql => "sql",
            ExportFormat::Parquet => "parquet",
            ExportFormat::Other(other) => other,
        }
    }

    pub fn parse(raw: &str) -> ExportFormat {
        match raw.trim().to_ascii_lowercase().as_str() {
            "csv" => ExportFormat::Csv,
            "sql" => ExportFormat::Sql,
            "parquet" => ExportFormat::Parquet,
            other => ExportFormat::Other(other.to_string()),
        }
    }
}

/// Where the downloaded data goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TargetType {
    Oss,
    Url,
    Other(String),
}

impl TargetType {
    /// `OSS`, `URL`, or the name the service gave.
    pub fn as_str(&self) -> &str {
        match self {
            TargetType::Oss => "OSS",
            TargetType::Url => "URL",
            TargetType::Other(other) => other,
        }
    }

    pub fn parse(raw: &str) -> TargetType {
        match raw.trim().to_ascii_uppercase().as_str() {
            "OSS" => TargetType::Oss,
            "URL" => TargetType::Url,
            _ => TargetType::Other(raw.trim().to_string()),
        }
    }
}

/// `"<exported tables>/<total tables>"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// `exported/total`, as `Progress` reads it.
impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.done, self.total)
    }
}

impl Progress {
    pub fn parse(raw: &str) -> Option<Progress> {
        let (done, total) = raw.trim().split_once('/')?;
        Some(Progress { done: done.trim().parse().ok()?, total: total.trim().parse().ok()? })
    }
}

/// One listed download task. Fields the API left out or sent empty are `None` (or 0 for sizes,
/// which is what an empty size means).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadTask {
    /// Empty when the service sent none; such tasks are counted but cannot be de-duplicated.
    pub task_id: String,
    /// `None` when the listing was not filtered by type: the response never says.
    pub task_type: Option<TaskType>,
    pub state: DownloadState,
    pub region_code: Option<String>,
    pub format: Option<ExportFormat>,
    pub target_type: Option<TargetType>,
    pub target_path: Option<String>,
    pub db_list: Option<String>,
    pub backup_set_id: Option<String>,
    pub export_bytes: u64,
    pub import_bytes: u64,
    pub progress: Option<Progress>,
    /// Unix milliseconds.
    pub created_at_ms: Option<u64>,
    /// Unix milliseconds; the point in time of a pitr download.
    pub backup_set_time_ms: Option<u64>,
}

impl DownloadTask {
    /// A task with only an id, a type and a state; every other field empty or zero. Callers
    /// that know more set it with struct update syntax.
    pub fn new(task_id: impl Into<String>, task_type: Option<TaskType>, state: DownloadState) -> Self {
        DownloadTask {
            task_id: task_id.into(),
            task_type,
            state,
            region_code: None,
            format: None,
            target_type: None,
            target_path: None,
            db_list: None,
            backup_set_id: None,
            export_bytes: 0,
            import_bytes: 0,
            progress: None,
            created_at_ms: None,
            backup_set_time_ms: None,
        }
    }
}

/// A task id as a 64-bit hash: what the exporter needs of an id (to follow a task from one
/// listing to the next and to drop one seen again on a later page) without a string per task.
/// At the few thousand tasks of one listing, two ids colliding is a chance of about 1 in 10^12.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    /// `None` for an empty id: such a task is counted but can be matched with no other.
    pub fn of(task_id: &str) -> Option<TaskId> {
        if task_id.is_empty() {
            return None;
        }
        // `DefaultHasher::new` has fixed keys: the same id hashes the same in every run.
        let mut hasher = DefaultHasher::new();
        task_id.hash(&mut hasher);
        Some(TaskId(hasher.finish()))
    }

    pub fn bits(self) -> u64 {
        self.0
    }
}

/// What the exporter counts of a listed task: its id (hashed), state, sizes, creation time and
/// progress, and what an operator is told of it when it changes state ([`TaskDetail`]). Only
/// the aggregate and the history outlive the listing; the detail is kept for the tasks still
/// in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSummary {
    pub id: Option<TaskId>,
    pub state: DownloadState,
    pub export_bytes: u64,
    pub import_bytes: u64,
    pub progress: Option<Progress>,
    /// Unix milliseconds.
    pub created_at_ms: Option<u64>,
    pub detail: TaskDetail,
}

/// Which download a task is, as the DBS console shows it: for task events and the active tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskDetail {
    pub task_id: Box<str>,
    pub format: Option<ExportFormat>,
    pub target_type: Option<TargetType>,
    pub db_list: Option<Box<str>>,
    pub backup_set_id: Option<Box<str>>,
}

impl From<&DownloadTask> for TaskSummary {
    fn from(task: &DownloadTask) -> Self {
        TaskSummary {
            id: TaskId::of(&task.task_id),
            state: task.state.clone(),
            export_bytes: task.export_bytes,
            import_bytes: task.import_bytes,
            progress: task.progress,
            created_at_ms: task.created_at_ms,
            detail: TaskDetail {
                task_id: task.task_id.as_str().into(),
                format: task.format.clone(),
                target_type: task.target_type.clone(),
                db_list: task.db_list.as_deref().map(Box::from),
                backup_set_id: task.backup_set_id.as_deref().map(Box::from),
            },
        }
    }
}

impl DownloadTask {
    /// What the exporter counts of this task.
    pub fn summary(&self) -> TaskSummary {
        TaskSummary::from(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_state_are_one_state() {
        assert_eq!(DownloadState::parse("queuing"), DownloadState::Queueing);
        assert_eq!(DownloadState::parse("queueing"), DownloadState::Queueing);
        assert_eq!(DownloadState::parse("Initializing"), DownloadState::Initializing);
        assert_eq!(DownloadState::parse(" FINISHED "), DownloadState::Finished);
    }

    #[test]
    fn unknown_state_is_kept_under_its_own_lowercased_name() {
        assert_eq!(DownloadState::parse("Paused"), DownloadState::Other("paused".into()));
        assert_eq!(DownloadState::parse("Paused").as_str(), "paused");
    }

    #[test]
    fn progress_is_done_over_total() {
        assert_eq!(Progress::parse("3/10"), Some(Progress { done: 3, total: 10 }));
        assert_eq!(Progress::parse("0/0"), Some(Progress { done: 0, total: 0 }));
        assert_eq!(Progress::parse("x/1"), None);
        assert_eq!(Progress::parse(""), None);
    }

    #[test]
    fn a_summary_keeps_what_is_counted_and_hashes_the_id() {
        let task = DownloadTask {
            export_bytes: 7,
            created_at_ms: Some(9),
            ..DownloadTask::new("dt-1", Some(TaskType::Pitr), DownloadState::Running)
        };
        let summary = task.summary();
        assert_eq!(summary.id, TaskId::of("dt-1"));
        assert_ne!(summary.id, TaskId::of("dt-2"));
        assert_eq!(
            (summary.state, summary.export_bytes, summary.created_at_ms),
            (DownloadState::Running, 7, Some(9))
        );
        assert_eq!(TaskId::of(""), None, "an empty id matches nothing");
    }

    #[test]
    fn formats_and_targets_ignore_case() {
        assert_eq!(ExportFormat::parse("SQL"), ExportFormat::Sql);
        assert_eq!(ExportFormat::parse("Parquet"), ExportFormat::Parquet);
        assert_eq!(TargetType::parse("oss"), TargetType::Oss);
        assert_eq!(TargetType::parse("ftp"), TargetType::Other("ftp".into()));
    }
}
