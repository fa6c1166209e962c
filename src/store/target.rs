//! What the store keeps of one target: its last aggregate, health, error and task history.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::in_progress::ActiveTasks;
use crate::api::TaskType;
use crate::store::history::TaskHistory;
use crate::store::model::{ByState, QueryId, TaskAggregate};

/// The last known outcome for one (instance, task type) that has had at least one attempt.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetState {
    /// The aggregate of the last successful listing, if there ever was one.
    pub aggregate: Option<TaskAggregate>,
    pub last_success: Option<SystemTime>,
    /// Whether the most recent listing succeeded.
    pub healthy: bool,
    /// The most recent error; kept after a recovery only as `None`. Boxed: most targets
    /// have none, and inline it would add 40 bytes to each.
    pub last_error: Option<Box<ListingError>>,
    /// The tasks of the last successful listing; `None` before the first one.
    pub history: Option<TaskHistory>,
    /// The query the history was listed with: a listing of another query starts it anew.
    pub asked: QueryId,
    /// Tasks seen entering each state since the exporter started; `None` before the first
    /// successful listing (every known state present from then on).
    pub transitions: Option<ByState<u64>>,
    /// The tasks the last successful listing showed in progress.
    pub active: ActiveTasks,
}

impl TargetState {
    /// Whether this target's counts are to go: its latest listing failed and its last success
    /// (if any) is older than `max_staleness`.
    pub(super) fn counts_are_stale(&self, now: SystemTime, max_staleness: Duration) -> bool {
        !self.healthy
            && self.aggregate.is_some()
            && self.last_success.is_none_or(|at| now.duration_since(at).unwrap_or_default() > max_staleness)
    }

    /// The error class of the latest listing, when it failed.
    pub fn failing_with(&self) -> Option<&ListingError> {
        self.last_error.as_deref().filter(|_| !self.healthy)
    }
}

/// Why a listing failed, as the status page and logs say it: never a secret or a signed URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingError {
    /// The bounded error class of `aliyun_dbs_api_request_errors_total{code}`.
    pub code: &'static str,
    pub message: Arc<str>,
    /// What an operator should check first.
    pub hint: Cow<'static, str>,
}

impl From<&'static str> for ListingError {
    fn from(code: &'static str) -> Self {
        ListingError { code, message: Arc::from(""), hint: Cow::Borrowed("") }
    }
}

/// The targets of one instance that have had an attempt, by task type: at most one per type,
/// so a short list sized to fit rather than a map (a map's node has room for eleven).
#[derive(Clone, Debug, Default, PartialEq)]
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

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&TaskType, &mut TargetState)> {
        self.0.iter_mut().map(|(t, state)| (&*t, state))
    }

    pub(super) fn entry(&mut self, task_type: TaskType) -> &mut TargetState {
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

    pub(super) fn retain(&mut self, mut keep: impl FnMut(TaskType) -> bool) {
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
