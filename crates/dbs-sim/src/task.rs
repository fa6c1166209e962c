//! A download task as the simulator stores and serves it, and the two words of DBS's vocabulary
//! its filters read.

use std::fmt;
use std::sync::Arc;

/// Produces the tasks of one instance (`now` in Unix ms, region, instance); merged with the
/// static tasks on every listing. Tasks of other instances that it returns are ignored.
pub type TaskSource = Arc<dyn Fn(u64, &str, &str) -> Vec<SimTask> + Send + Sync>;

/// One download task as the simulator stores it; rendered field by field, as strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimTask {
    pub task_id: String,
    pub region: String,
    pub instance: String,
    /// MongoDB sharded clusters only; matched against `ClusterName` when the request gives one.
    pub cluster: Option<String>,
    pub datasource_id: Option<String>,
    pub backup_set_id: String,
    /// Not rendered (the API has no such field); matched against the `TaskType` filter.
    pub task_type: TaskType,
    /// Sent exactly as spelled, so the client's spelling folding gets exercised.
    pub state: String,
    pub format: String,
    pub export_bytes: u64,
    pub import_bytes: u64,
    pub created_ms: u64,
    pub backup_set_time_ms: u64,
    pub target_type: String,
    pub target_path: String,
    pub progress: String,
    pub db_list: String,
}

impl SimTask {
    /// A task with plausible values for everything not given: csv to a URL, no data yet,
    /// a backup set from an hour before creation, the data source id DBS would assign.
    pub fn new(
        task_id: impl Into<String>,
        region: impl Into<String>,
        instance: impl Into<String>,
        task_type: TaskType,
        state: impl Into<String>,
        created_ms: u64,
    ) -> Self {
        let task_id = task_id.into();
        let region = region.into();
        let instance = instance.into();
        let backup_set_id = (1_482_610_000 + task_id.bytes().map(u64::from).sum::<u64>()).to_string();
        SimTask {
            datasource_id: Some(format!("ds-{instance}_{region}")),
            cluster: None,
            backup_set_id,
            task_type,
            state: state.into(),
            format: "csv".to_string(),
            export_bytes: 0,
            import_bytes: 0,
            created_ms,
            backup_set_time_ms: created_ms.saturating_sub(3_600_000),
            target_type: "URL".to_string(),
            target_path: String::new(),
            progress: "0/0".to_string(),
            db_list: "[dbtest]".to_string(),
            task_id,
            region,
            instance,
        }
    }
}

/// The `TaskType` a task was listed under: a full backup set, or a point in time.
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

    /// The service reads the filter without regard to case.
    pub fn parse(raw: &str) -> Option<TaskType> {
        TaskType::ALL.into_iter().find(|kind| raw.trim().eq_ignore_ascii_case(kind.as_str()))
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state as the `State` filter compares it: case folded, and `queuing` (a spelling Alibaba's
/// own sources use) read as `queueing`.
pub fn canonical_state(raw: &str) -> String {
    let folded = raw.trim().to_ascii_lowercase();
    if folded == "queuing" {
        "queueing".to_string()
    } else {
        folded
    }
}
