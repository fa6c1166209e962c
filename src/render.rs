//! The Prometheus text exposition of the task aggregates.
//!
//! Rendered from a [`StoreView`] only when the store changed since the last render; every scrape
//! in between gets the same bytes. The exporter's own metrics (a few dozen lines) are appended
//! fresh for each scrape so that counters and process figures are live.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;

use crate::api::TaskType;
use crate::metrics::ExporterMetrics;
use crate::model::{InstanceKey, StateTotals};
use crate::state::{Store, StoreView};

/// What the renderer needs to know of the configuration.
#[derive(Clone, Debug)]
pub struct Layout {
    pub task_types: Vec<TaskType>,
    pub target_count: usize,
}

/// One family of per-state task series.
struct TaskFamily {
    name: &'static str,
    help: &'static str,
    value: fn(&StateTotals) -> Option<String>,
}

const TASK_FAMILIES: [TaskFamily; 4] = [
    TaskFamily {
        name: "aliyun_dbs_download_tasks",
        help: "Download tasks created within the lookback window, by state, as of the last background poll.",
        value: |t| Some(t.tasks.to_string()),
    },
    TaskFamily {
        name: "aliyun_dbs_download_export_bytes",
        help: "Sum of ExportDataSize of the download tasks in the lookback window, by state, as of the last background poll.",
        value: |t| Some(t.export_bytes.to_string()),
    },
    TaskFamily {
        name: "aliyun_dbs_download_import_bytes",
        help: "Sum of ImportDataSize (data processed) of the download tasks in the lookback window, by state, as of the last background poll.",
        value: |t| Some(t.import_bytes.to_string()),
    },
    TaskFamily {
        name: "aliyun_dbs_download_oldest_task_created_timestamp_seconds",
        help: "Creation time of the oldest download task in each state, as of the last background poll; absent for states with no task.",
        value: |t| t.oldest_created_ms.map(millis_as_seconds),
    },
];

/// Renders the task and health series of `view`.
pub fn render_view(view: &StoreView, layout: &Layout, out: &mut String) {
    for family in &TASK_FAMILIES {
        write_header(out, family.name, family.help, "gauge");
        for (instance, targets) in &view.instances {
            for (task_type, target) in targets {
                let Some(aggregate) = &target.aggregate else { continue };
                for (state, totals) in aggregate.states() {
                    if let Some(value) = (family.value)(totals) {
                        write_task_sample(out, family.name, instance, *task_type, state.as_str(), &value);
                    }
                }
            }
        }
    }

    write_header(
        out,
        "aliyun_dbs_up",
        "Whether the last background poll of every task type of the instance succeeded (1) or not (0).",
        "gauge",
    );
    for instance in view.instances.keys() {
        if let Some(up) = view.instance_up(instance, &layout.task_types) {
            write_instance_sample(out, "aliyun_dbs_up", instance, if up { "1" } else { "0" });
        }
    }

    write_header(
        out,
        "aliyun_dbs_last_success_timestamp_seconds",
        "When every task type of the instance had last been polled successfully, in Unix seconds.",
        "gauge",
    );
    for instance in view.instances.keys() {
        if let Some(at) = view.instance_last_success(instance, &layout.task_types) {
            write_instance_sample(
                out,
                "aliyun_dbs_last_success_timestamp_seconds",
                instance,
                &system_time_seconds(at),
            );
        }
    }

    write_header(
        out,
        "aliyun_dbs_targets",
        "Listings per poll cycle: configured instances times task types.",
        "gauge",
    );
    let _ = writeln!(out, "aliyun_dbs_targets {}", layout.target_count);

    if let Some(seconds) = view.poll_duration_seconds {
        write_header(
            out,
            "aliyun_dbs_poll_duration_seconds",
            "Duration of the last complete background poll cycle.",
            "gauge",
        );
        let _ = writeln!(out, "aliyun_dbs_poll_duration_seconds {seconds}");
    }
}

/// The cached exposition: re-rendered only when the store's generation moved.
#[derive(Debug)]
pub struct Exposition {
    store: Arc<Store>,
    metrics: ExporterMetrics,
    layout: Mutex<Layout>,
    cache: Mutex<Option<(u64, Bytes)>>,
}

impl Exposition {
    pub fn new(store: Arc<Store>, metrics: ExporterMetrics, layout: Layout) -> Self {
        Exposition { store, metrics, layout: Mutex::new(layout), cache: Mutex::new(None) }
    }

    /// After a reload: the next scrape renders with the new layout.
    pub fn set_layout(&self, layout: Layout) {
        *self.layout.lock().expect("layout lock poisoned") = layout;
        *self.cache.lock().expect("render cache poisoned") = None;
    }

    /// The task series, rendered at most once per store change.
    pub fn task_series(&self) -> Bytes {
        let generation = self.store.generation();
        let mut cache = self.cache.lock().expect("render cache poisoned");
        if let Some((cached_generation, bytes)) = cache.as_ref() {
            if *cached_generation == generation {
                return bytes.clone();
            }
        }
        let layout = self.layout.lock().expect("layout lock poisoned").clone();
        let (generation, text) = self.store.read(|view, generation| {
            let mut text = String::with_capacity(64 * 1024);
            render_view(view, &layout, &mut text);
            (generation, text)
        });
        let bytes = Bytes::from(text);
        *cache = Some((generation, bytes.clone()));
        bytes
    }

    /// The whole body of a scrape.
    pub fn body(&self) -> Vec<u8> {
        let tasks = self.task_series();
        let mut body = Vec::with_capacity(tasks.len() + 16 * 1024);
        body.extend_from_slice(&tasks);
        self.metrics.encode(&mut body);
        body
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

fn write_header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn write_task_sample(
    out: &mut String,
    name: &str,
    instance: &InstanceKey,
    task_type: TaskType,
    state: &str,
    value: &str,
) {
    out.push_str(name);
    out.push_str("{region_id=\"");
    push_label_value(out, &instance.region_id);
    out.push_str("\",instance_id=\"");
    push_label_value(out, &instance.instance_id);
    out.push_str("\",task_type=\"");
    out.push_str(task_type.as_str());
    out.push_str("\",state=\"");
    push_label_value(out, state);
    out.push_str("\"} ");
    out.push_str(value);
    out.push('\n');
}

fn write_instance_sample(out: &mut String, name: &str, instance: &InstanceKey, value: &str) {
    out.push_str(name);
    out.push_str("{region_id=\"");
    push_label_value(out, &instance.region_id);
    out.push_str("\",instance_id=\"");
    push_label_value(out, &instance.instance_id);
    out.push_str("\"} ");
    out.push_str(value);
    out.push('\n');
}

/// Label values escape `\`, `"` and newlines, as the text format requires.
fn push_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn millis_as_seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn system_time_seconds(at: SystemTime) -> String {
    let ms = at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    millis_as_seconds(ms)
}

#[cfg(test)]
mod tests;
