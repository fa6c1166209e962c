//! `/api/v1/events` and `/api/v1/tasks`: the recent task events and the tasks in progress,
//! filtered, as JSON rows built from the store on demand.

use std::time::SystemTime;

use serde::Serialize;

use crate::rpc::format_timestamp;
use crate::store::model::InstanceKey;
use crate::store::{ActiveTask, StoreView, TaskEvent};
use crate::util::from_unix_ms;

/// Events returned when `limit` is not given.
pub const DEFAULT_EVENT_LIMIT: usize = 100;

/// Which rows a request wants: each filter, when given, must match exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivityQuery {
    pub account: Option<String>,
    pub region_id: Option<String>,
    pub instance_id: Option<String>,
    /// `to` for events, `state` for tasks.
    pub state: Option<String>,
    pub limit: Option<usize>,
}

impl ActivityQuery {
    /// The filters of a query string; `state_name` is `to` (events) or `state` (tasks).
    pub fn parse(query: Option<&str>, state_name: &str) -> Self {
        let mut parsed = ActivityQuery::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.trim().to_string();
            match name.as_ref() {
                "account" => parsed.account = Some(value),
                "region_id" => parsed.region_id = Some(value),
                "instance_id" => parsed.instance_id = Some(value),
                "limit" => parsed.limit = value.parse().ok(),
                name if name == state_name => parsed.state = Some(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        parsed
    }

    /// The rows of one instance.
    pub fn of_instance(instance: &InstanceKey, shows_account: bool) -> Self {
        ActivityQuery {
            account: shows_account.then(|| instance.account.to_string()),
            region_id: Some(instance.region_id.to_string()),
            instance_id: Some(instance.instance_id.to_string()),
            ..ActivityQuery::default()
        }
    }

    fn keeps(&self, instance: &InstanceKey, state: &str) -> bool {
        let matches = |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|f| f == value);
        matches(&self.account, &instance.account)
            && matches(&self.region_id, &instance.region_id)
            && matches(&self.instance_id, &instance.instance_id)
            && matches(&self.state, state)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct EventRow {
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub region_id: String,
    pub instance_id: String,
    pub task_type: &'static str,
    pub task_id: String,
    pub from: &'static str,
    pub to: String,
    pub created: Option<String>,
    pub duration_seconds: Option<f64>,
    pub progress: Option<String>,
    pub format: Option<String>,
    pub db_list: Option<String>,
    pub target_type: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Events {
    pub events: Vec<EventRow>,
}

/// The most recent events that `query` keeps, newest first, at most its limit.
pub fn events(view: &StoreView, query: &ActivityQuery) -> Events {
    let accounts = view.generation.layout.labels_accounts;
    let limit = query.limit.unwrap_or(DEFAULT_EVENT_LIMIT);
    let rows = view
        .events
        .newest_first()
        .filter(|event| query.keeps(&event.target.instance, event.to.as_str()))
        .take(limit)
        .map(|event| event_row(event, accounts));
    Events { events: rows.collect() }
}

fn event_row(event: &TaskEvent, accounts: bool) -> EventRow {
    let instance = &event.target.instance;
    let detail = &event.detail;
    EventRow {
        time: format_timestamp(event.at),
        account: accounts.then(|| instance.account.to_string()),
        region_id: instance.region_id.to_string(),
        instance_id: instance.instance_id.to_string(),
        task_type: event.target.task_type.as_str(),
        task_id: detail.task_id.to_string(),
        from: event.from_name(),
        to: event.to.as_str().to_string(),
        created: event.created_ms.map(|ms| format_timestamp(from_unix_ms(ms))),
        duration_seconds: event.duration_seconds(),
        progress: event.progress.map(|p| p.to_string()),
        format: detail.format.as_ref().map(|f| f.as_str().to_string()),
        db_list: detail.db_list.as_deref().map(str::to_string),
        target_type: detail.target_type.as_ref().map(|t| t.as_str().to_string()),
    }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct TableProgressRow {
    pub exported: u64,
    pub total: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TaskRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub region_id: String,
    pub instance_id: String,
    pub task_type: &'static str,
    pub task_id: String,
    pub state: String,
    pub created: Option<String>,
    pub progress: Option<TableProgressRow>,
    pub tables_per_second: Option<f64>,
    pub eta_seconds: Option<f64>,
    pub stalled: bool,
    pub format: Option<String>,
    pub db_list: Option<String>,
    pub target_type: Option<String>,
    pub export_bytes: u64,
    /// When the last listing saw it.
    pub seen: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tasks {
    pub tasks: Vec<TaskRow>,
}

/// The tasks in progress that `query` keeps, by instance, task type and creation.
pub fn tasks(view: &StoreView, query: &ActivityQuery) -> Tasks {
    let accounts = view.generation.layout.labels_accounts;
    let mut rows = Vec::new();
    for (instance, task_type, target) in view.targets() {
        let seen = target.last_success.unwrap_or(SystemTime::UNIX_EPOCH);
        for task in
            target.active.by_creation().iter().filter(|task| query.keeps(instance, task.state().as_str()))
        {
            rows.push(task_row(instance, task_type.as_str(), task, seen, accounts));
        }
        if query.limit.is_some_and(|limit| rows.len() >= limit) {
            break;
        }
    }
    if let Some(limit) = query.limit {
        rows.truncate(limit);
    }
    Tasks { tasks: rows }
}

fn task_row(
    instance: &InstanceKey,
    task_type: &'static str,
    task: &ActiveTask<'_>,
    seen: SystemTime,
    accounts: bool,
) -> TaskRow {
    TaskRow {
        account: accounts.then(|| instance.account.to_string()),
        region_id: instance.region_id.to_string(),
        instance_id: instance.instance_id.to_string(),
        task_type,
        task_id: task.task_id().to_string(),
        state: task.state().as_str().to_string(),
        created: task.created_ms().map(|ms| format_timestamp(from_unix_ms(ms))),
        progress: task.progress().map(|p| TableProgressRow { exported: p.done, total: p.total }),
        tables_per_second: task.tables_per_second(seen),
        eta_seconds: task.eta_seconds(seen),
        stalled: task.stalled(),
        format: task.format().map(str::to_string),
        db_list: task.db_list().map(str::to_string),
        target_type: task.target_type().map(str::to_string),
        export_bytes: task.export_bytes(),
        seen: format_timestamp(seen),
    }
}

/// Seconds as a person reads them: `42 s`, `7 min`, `3.5 h`.
pub fn human_seconds(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5400.0 => format!("{:.0} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}
