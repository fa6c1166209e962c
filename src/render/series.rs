//! Which series the store shows: the task series of every target, the health of every
//! instance and the figures of the last round.

use super::rope::{Rope, Sink};
use super::text::{AccountLabel, Family, Value};
use crate::api::DownloadState;
use crate::config::{MetricsOptions, OptionalFamily, OTHER_STATE};
use crate::store::model::{ByState, StateTotals};
use crate::store::{InstanceTable, StoreView};

/// One family of per-state task series and the figure of a state it shows.
struct TaskFamily {
    family: Family,
    value: fn(&StateTotals) -> Option<Value>,
    /// `None`: always written.
    optional: Option<OptionalFamily>,
    /// States whose series would be zero by construction, so are not written.
    zero_in: &'static [&'static str],
}

/// Tasks that have not started have exported and processed nothing.
const NOT_STARTED: &[&str] = &["initializing", "queueing"];

const TASK_FAMILIES: [TaskFamily; 4] = [
    TaskFamily {
        family: Family::gauge(
            "aliyun_dbs_download_tasks",
            "Download tasks created within the lookback window, by state, as of the last background poll.",
        ),
        value: |t| Some(t.tasks.into()),
        optional: None,
        zero_in: &[],
    },
    TaskFamily {
        family: Family::gauge(
            "aliyun_dbs_download_export_bytes",
            "Sum of ExportDataSize of the download tasks in the lookback window, by state, as of the last background poll.",
        ),
        value: |t| Some(t.export_bytes.into()),
        optional: Some(OptionalFamily::ExportBytes),
        zero_in: NOT_STARTED,
    },
    TaskFamily {
        family: Family::gauge(
            "aliyun_dbs_download_import_bytes",
            "Sum of ImportDataSize (data processed) of the download tasks in the lookback window, by state, as of the last background poll.",
        ),
        value: |t| Some(t.import_bytes.into()),
        optional: Some(OptionalFamily::ImportBytes),
        zero_in: NOT_STARTED,
    },
    TaskFamily {
        family: Family::gauge(
            "aliyun_dbs_download_oldest_task_created_timestamp_seconds",
            "Creation time of the oldest download task in each state, as of the last background poll; absent for states with no task.",
        ),
        value: |t| t.oldest_created_ms().map(Value::UnixMillis),
        optional: Some(OptionalFamily::OldestTaskTimestamps),
        zero_in: &[],
    },
];

const TRANSITIONS: Family = Family::counter(
    "aliyun_dbs_download_task_transitions_total",
    "Download tasks seen entering each state since the exporter started: a task listed in a state after a listing that showed it in another state, or did not show it. The first listing of a target only records what it sees.",
);

const RUNNING_TABLES: Family = Family::gauge(
    "aliyun_dbs_download_running_tables",
    "Sum over running download tasks of their Progress (\"exported tables/total tables\"): kind=\"exported\" the first side, kind=\"total\" the second; tasks with a malformed Progress are left out. A flat exported line is a stalled download.",
);

const ERROR_INFO: Family = Family::gauge(
    "aliyun_dbs_listing_error_info",
    "1 while the latest listing of the target failed, with the error class in code (as in aliyun_dbs_api_request_errors_total); absent while it succeeds.",
);

const UP: Family = Family::gauge(
    "aliyun_dbs_up",
    "Whether the last background poll of every task type of the instance succeeded (1) or not (0).",
);

const LAST_SUCCESS: Family = Family::gauge(
    "aliyun_dbs_last_success_timestamp_seconds",
    "When every task type of the instance had last been polled successfully, in Unix seconds.",
);

const INSTANCE_INFO: Family = Family::gauge(
    "aliyun_dbs_instance_info",
    "One series per polled instance, value 1: its engine (unknown when listed by hand and not discovered) and the tags named by discovery.tag_labels as tag_<key>. Join on region_id and instance_id.",
);

const TARGETS: Family =
    Family::gauge("aliyun_dbs_targets", "Listings per poll interval: polled instances times task types.");

const API_CALLS_PER_CYCLE: Family = Family::gauge(
    "aliyun_dbs_api_calls_per_cycle",
    "DescribeDownloadTask calls, retries included, made during the last complete round over every target.",
);

const POLL_DURATION: Family = Family::gauge(
    "aliyun_dbs_poll_duration_seconds",
    "Duration of the last complete round over every target: from its start to the end of its last listing.",
);

const POLL_LAG: Family = Family::gauge(
    "aliyun_dbs_poll_lag_seconds",
    "How late, after its scheduled time, the most delayed listing of the last complete round started; above the poll interval, polling cannot keep up.",
);

/// Renders the task and health series of `view`, laid out as its generation says.
pub fn render_view<S: Sink>(view: &StoreView, out: &mut Rope<S>) {
    let generation = &view.generation;
    let layout = &generation.layout;
    let options = &layout.metrics;
    let accounts = AccountLabel::when(layout.labels_accounts);
    for TaskFamily { family, value, optional, zero_in } in &TASK_FAMILIES {
        if optional.is_some_and(|family| !options.enabled(family)) {
            continue;
        }
        let mut samples = family.write_to(out, accounts);
        for (instance, task_type, target) in view.targets() {
            let Some(aggregate) = &target.aggregate else { continue };
            let totals_by_label =
                by_state_label(aggregate.states().map(|(s, t)| (s, *t)), options, |a, b| a.merge(&b));
            for (state, totals) in totals_by_label {
                if zero_in.contains(&state) {
                    continue;
                }
                if let Some(value) = value(&totals) {
                    samples.target(instance, task_type, ("state", state), value);
                }
            }
        }
    }

    if options.enabled(OptionalFamily::Transitions) {
        let mut transitions = TRANSITIONS.write_to(out, accounts);
        for (instance, task_type, target) in view.targets() {
            let counts = target.transitions.iter().flat_map(ByState::iter).map(|(s, n)| (s, *n));
            let counts = by_state_label(counts, options, |a, b| *a += b);
            for (state, count) in counts {
                transitions.target(instance, task_type, ("state", state), count);
            }
        }
    }

    if options.enabled(OptionalFamily::RunningTables) {
        let mut running_tables = RUNNING_TABLES.write_to(out, accounts);
        for (instance, task_type, target) in view.targets() {
            let Some(aggregate) = &target.aggregate else { continue };
            let tables = aggregate.running_tables;
            for (kind, value) in [("exported", tables.exported), ("total", tables.total)] {
                running_tables.target(instance, task_type, ("kind", kind), value);
            }
        }
    }

    let mut error_info = ERROR_INFO.write_to(out, accounts);
    for (instance, task_type, target) in view.targets() {
        if let Some(error) = target.failing_with() {
            error_info.target(instance, task_type, ("code", error.code), 1_u64);
        }
    }

    let mut up = UP.write_to(out, accounts);
    for instance in view.instances.keys() {
        if let Some(is_up) = view.instance_up(instance, &layout.task_types) {
            up.instance(instance, is_up);
        }
    }

    let mut last_success = LAST_SUCCESS.write_to(out, accounts);
    for instance in view.instances.keys() {
        if let Some(at) = view.instance_last_success(instance, &layout.task_types) {
            last_success.instance(instance, Value::UnixMillis(crate::util::unix_ms(at)));
        }
    }

    render_instance_info(&layout.instances, accounts, out);

    TARGETS.write_to(out, accounts).unlabelled(generation.targets.len());

    let Some(round) = view.last_round else { return };
    API_CALLS_PER_CYCLE.write_to(out, accounts).unlabelled(round.api_calls);
    POLL_DURATION.write_to(out, accounts).unlabelled(round.duration_seconds);
    POLL_LAG.write_to(out, accounts).unlabelled(round.lag_seconds);
}

fn render_instance_info<S: Sink>(table: &InstanceTable, accounts: AccountLabel, out: &mut Rope<S>) {
    if table.rows.is_empty() {
        return;
    }
    let mut info = INSTANCE_INFO.write_to(out, accounts);
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(1 + table.tag_labels.len());
    for row in &table.rows {
        labels.clear();
        labels.push(("engine", row.engine.unwrap_or("unknown")));
        labels.extend(
            table.tag_labels.iter().map(String::as_str).zip(row.tag_values.iter().map(String::as_str)),
        );
        info.instance_with(&row.instance, &labels, 1_u64);
    }
}

/// Per-state values by the `state` label they are written under: each state's own, or merged
/// under `other` for the states `metrics.states` leaves out.
fn by_state_label<'a, T: Copy>(
    values: impl Iterator<Item = (&'a DownloadState, T)>,
    options: &MetricsOptions,
    merge: fn(&mut T, T),
) -> Vec<(&'a str, T)> {
    let mut by_label: Vec<(&str, T)> = Vec::with_capacity(DownloadState::KNOWN.len() + 1);
    for (state, value) in values {
        let label = options.state_label(state);
        match by_label.iter_mut().find(|(seen, _)| *seen == label) {
            Some((_, merged)) => merge(merged, value),
            None => by_label.push((label, value)),
        }
    }
    // The chosen states in lifecycle order, then what is left.
    by_label.sort_by_key(|(label, _)| *label == OTHER_STATE);
    by_label
}
