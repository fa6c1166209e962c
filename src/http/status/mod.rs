//! What the status page and `/api/v1/targets` show: every target with its health, last
//! success, error and tasks by state, failing ones first, built from the store on demand.

mod activity;
pub(super) mod html;
pub(super) mod instance_page;
pub(super) mod page;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::rpc::format_timestamp;
use crate::store::model::{InstanceKey, TargetKey};
use crate::store::{Store, StoreView, Summary, TargetState};

pub use crate::store::STALLED_AFTER_POLLS;
pub use activity::{human_seconds, ActivityQuery, EventRow, Events, TaskRow, Tasks, DEFAULT_EVENT_LIMIT};

/// The store, shared by the HTTP routes: the page shows the store's current generation.
#[derive(Debug)]
pub struct StatusBoard {
    store: Arc<Store>,
}

/// How a target stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Down,
    /// Not listed yet since the start or the reload that added it.
    Pending,
    Up,
}

#[derive(Clone, Debug, Serialize)]
pub struct ErrorStatus {
    pub code: &'static str,
    pub message: String,
    pub hint: Cow<'static, str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TargetStatus {
    pub account: Option<String>,
    pub region_id: String,
    pub instance_id: String,
    /// The database engine, when discovery found the instance; `None` for instances listed by
    /// hand.
    pub engine: Option<String>,
    pub task_type: &'static str,
    pub health: Health,
    pub up: bool,
    /// RFC 3339 in UTC, to the second (the format of a signed request's `Timestamp`).
    pub last_success: Option<String>,
    pub last_success_seconds_ago: Option<u64>,
    pub error: Option<ErrorStatus>,
    /// Tasks in the lookback window by state, as of the last successful listing.
    pub tasks: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LastRound {
    pub duration_seconds: f64,
    pub api_calls: u64,
    pub lag_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub summary: Summary,
    pub ready: bool,
    pub last_round: Option<LastRound>,
    pub targets: Vec<TargetStatus>,
}

/// One instance as its page (`/instance`) shows it: its targets, its tasks in progress and its
/// most recent events, read from one view of the store.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceStatus {
    /// Set when the exporter shows accounts (several are configured).
    pub account: Option<String>,
    pub region_id: String,
    pub instance_id: String,
    pub engine: Option<String>,
    /// One per task type, in configuration order.
    pub targets: Vec<TargetStatus>,
    pub tasks: Vec<TaskRow>,
    /// Newest first.
    pub events: Vec<EventRow>,
}

/// What [`StatusBoard::instance`] found.
#[derive(Clone, Debug)]
pub enum InstanceLookup {
    Found(Box<InstanceStatus>),
    /// No target of the current generation is of that instance (in that account).
    Unknown,
    /// Several accounts have an instance of that region and id, and none was named: their
    /// names.
    Ambiguous(Vec<String>),
}

impl StatusBoard {
    pub fn new(store: Arc<Store>) -> Self {
        StatusBoard { store }
    }

    /// The recent task events `query` keeps, newest first.
    pub fn events(&self, query: &ActivityQuery) -> Events {
        self.store.read(|view, _| activity::events(view, query))
    }

    /// The tasks in progress `query` keeps.
    pub fn tasks(&self, query: &ActivityQuery) -> Tasks {
        self.store.read(|view, _| activity::tasks(view, query))
    }

    /// One instance of the current generation: `account` is ignored unless the exporter shows
    /// accounts, and may be left out when only one account has such an instance. At most
    /// `event_limit` events, newest first.
    pub fn instance(
        &self,
        account: Option<&str>,
        region_id: &str,
        instance_id: &str,
        event_limit: usize,
        now: SystemTime,
    ) -> InstanceLookup {
        self.store.read(|view, _| {
            let generation = &view.generation;
            let accounts = generation.layout.labels_accounts;
            let account = account.filter(|_| accounts);
            let found: BTreeSet<&InstanceKey> = generation
                .targets
                .iter()
                .map(|key| &key.instance)
                .filter(|i| &*i.region_id == region_id && &*i.instance_id == instance_id)
                .filter(|i| account.is_none_or(|a| &*i.account == a))
                .collect();
            let instance = match found.len() {
                0 => return InstanceLookup::Unknown,
                1 => *found.first().expect("one"),
                _ => return InstanceLookup::Ambiguous(found.iter().map(|i| i.account.to_string()).collect()),
            };
            let engine = generation.engines().get(instance).copied();
            let targets = generation
                .targets
                .iter()
                .filter(|key| &key.instance == instance)
                .map(|key| target_status(view, key, engine, now))
                .collect();
            let query =
                ActivityQuery { limit: Some(event_limit), ..ActivityQuery::of_instance(instance, accounts) };
            InstanceLookup::Found(Box::new(InstanceStatus {
                account: accounts.then(|| instance.account.to_string()),
                region_id: instance.region_id.to_string(),
                instance_id: instance.instance_id.to_string(),
                engine: engine.map(str::to_string),
                targets,
                tasks: activity::tasks(view, &ActivityQuery { limit: None, ..query.clone() }).tasks,
                events: activity::events(view, &query).events,
            }))
        })
    }

    /// Every target as of now, failing ones first, then those not listed yet, then the rest,
    /// each group in configuration order.
    pub fn snapshot(&self, now: SystemTime) -> Snapshot {
        let (summary, last_round, mut targets) = self.store.read(|view, _| {
            let generation = &view.generation;
            let engines = generation.engines();
            let targets: Vec<TargetStatus> = generation
                .targets
                .iter()
                .map(|key| target_status(view, key, engines.get(&key.instance).copied(), now))
                .collect();
            let last_round = view.last_round.map(|round| LastRound {
                duration_seconds: round.duration_seconds,
                api_calls: round.api_calls,
                lag_seconds: round.lag_seconds,
            });
            (generation.summary.clone(), last_round, targets)
        });
        targets.sort_by_key(|target| target.health);
        Snapshot { summary, ready: self.store.first_round_done(), last_round, targets }
    }
}

fn target_status(view: &StoreView, key: &TargetKey, engine: Option<&str>, now: SystemTime) -> TargetStatus {
    let state = view.target(key);
    let health = match state {
        None => Health::Pending,
        Some(TargetState { healthy: true, .. }) => Health::Up,
        Some(_) => Health::Down,
    };
    let last_success = state.and_then(|s| s.last_success);
    TargetStatus {
        account: view.generation.layout.labels_accounts.then(|| key.instance.account.to_string()),
        region_id: key.instance.region_id.to_string(),
        instance_id: key.instance.instance_id.to_string(),
        engine: engine.map(str::to_string),
        task_type: key.task_type.as_str(),
        health,
        up: health == Health::Up,
        last_success: last_success.map(format_timestamp),
        last_success_seconds_ago: last_success.map(|at| now.duration_since(at).unwrap_or_default().as_secs()),
        error: state.and_then(TargetState::failing_with).map(|error| ErrorStatus {
            code: error.code,
            message: error.message.to_string(),
            hint: error.hint.clone(),
        }),
        tasks: state
            .and_then(|s| s.aggregate.as_ref())
            .map(|aggregate| aggregate.states().map(|(s, t)| (s.as_str().to_string(), t.tasks)).collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TaskType;
    use crate::store::model::{InstanceKey, QueryId, TaskAggregate};
    use crate::store::{Attempt, Generation, ListingError};
    use std::time::Duration;

    fn key(instance: &str) -> TargetKey {
        TargetKey { instance: InstanceKey::new("cn-hangzhou", instance), task_type: TaskType::Full }
    }

    fn listing(key: &TargetKey) -> Attempt<'_> {
        Attempt { key, generation: 1, asked: QueryId::default() }
    }

    #[test]
    fn failing_targets_come_first_then_pending_then_up_with_their_details() {
        let targets = vec![key("rm-up"), key("rm-pending"), key("rm-down")];
        let store = Arc::new(Store::with_generation(Generation::of_targets(1, targets)));
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        store.record_success(&listing(&key("rm-up")), TaskAggregate::default(), at);
        let error = ListingError {
            code: "auth",
            message: Arc::from("SignatureDoesNotMatch"),
            hint: "check the key".into(),
        };
        store.record_failure(&listing(&key("rm-down")), error);
        let board = StatusBoard::new(store);
        let snapshot = board.snapshot(at + Duration::from_secs(90));
        let order: Vec<(&str, Health)> =
            snapshot.targets.iter().map(|t| (t.instance_id.as_str(), t.health)).collect();
        assert_eq!(
            order,
            [("rm-down", Health::Down), ("rm-pending", Health::Pending), ("rm-up", Health::Up)]
        );
        let up = &snapshot.targets[2];
        assert_eq!(up.last_success.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(up.last_success_seconds_ago, Some(90));
        assert_eq!(up.tasks.len(), 6);
        assert_eq!(
            snapshot.targets[0].error.as_ref().map(|e| (e.code, e.hint.as_ref())),
            Some(("auth", "check the key"))
        );
        let json = serde_json::to_value(&snapshot.targets[0]).unwrap();
        assert_eq!(json["health"], "down");
        assert_eq!(json["up"], false);
        assert_eq!(json["last_success"], serde_json::Value::Null);
    }
}
