//! The Prometheus text exposition of the task aggregates.
//!
//! Rendered from a [`StoreView`] when the store has changed: at once after a milestone (a
//! round over every target, an expiry, a reload), at most once per [`RENDER_DEBOUNCE`] for
//! single listings, so a completed listing shows within about a second while a large estate
//! is not rendered for every scrape. Every scrape in between gets the same bytes, gzipped
//! once per render for clients that ask.
//! The exporter's own metrics (API counters, process figures) are appended, re-encoded at most
//! once a second.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::api::TaskType;
use crate::metrics::ExporterMetrics;
use crate::model::{InstanceKey, StateTotals};
use crate::state::{Publication, Store, StoreView};

/// What the renderer needs to know of the configuration.
#[derive(Clone, Debug)]
pub struct Layout {
    pub task_types: Vec<TaskType>,
    pub target_count: usize,
}

/// The exposition as a list of frozen chunks of about [`CHUNK`] bytes: a large exposition is
/// never reallocated while it grows, and each chunk goes to the socket as it is.
#[derive(Debug, Default)]
pub struct Rope {
    done: Vec<Bytes>,
    current: String,
}

const CHUNK: usize = 1 << 20;

impl Rope {
    pub fn push_str(&mut self, text: &str) {
        if self.current.len() + text.len() > CHUNK && !self.current.is_empty() {
            self.freeze();
        }
        if self.current.capacity() == 0 {
            self.current.reserve(CHUNK.max(text.len()));
        }
        self.current.push_str(text);
    }

    pub fn push(&mut self, c: char) {
        let mut buffer = [0u8; 4];
        self.push_str(c.encode_utf8(&mut buffer));
    }

    fn freeze(&mut self) {
        let full = std::mem::take(&mut self.current);
        self.done.push(Bytes::from(full));
    }

    pub fn into_chunks(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            // Shrink the last, partly filled chunk: it is kept for a whole cycle.
            self.current.shrink_to_fit();
            self.freeze();
        }
        self.done
    }
}

impl fmt::Write for Rope {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.push_str(text);
        Ok(())
    }
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
pub fn render_view(view: &StoreView, layout: &Layout, out: &mut Rope) {
    for family in &TASK_FAMILIES {
        write_header(out, family.name, family.help, "gauge");
        for (instance, task_type, target) in view.targets() {
            let Some(aggregate) = &target.aggregate else { continue };
            for (state, totals) in aggregate.states() {
                if let Some(value) = (family.value)(totals) {
                    write_target_sample(
                        out,
                        family.name,
                        instance,
                        task_type,
                        ("state", state.as_str()),
                        &value,
                    );
                }
            }
        }
    }

    const TRANSITIONS: &str = "aliyun_dbs_download_task_transitions_total";
    write_header(
        out,
        TRANSITIONS,
        "Download tasks seen entering each state since the exporter started: a task listed in a state after a listing that showed it in another state, or did not show it. The first listing of a target only records what it sees.",
        "counter",
    );
    for (instance, task_type, target) in view.targets() {
        for (state, count) in &target.transitions {
            let value = count.to_string();
            write_target_sample(out, TRANSITIONS, instance, task_type, ("state", state.as_str()), &value);
        }
    }

    const RUNNING_TABLES: &str = "aliyun_dbs_download_running_tables";
    write_header(
        out,
        RUNNING_TABLES,
        "Sum over running download tasks of their Progress (\"exported tables/total tables\"): kind=\"exported\" the first side, kind=\"total\" the second; tasks with a malformed Progress are left out. A flat exported line is a stalled download.",
        "gauge",
    );
    for (instance, task_type, target) in view.targets() {
        let Some(aggregate) = &target.aggregate else { continue };
        let tables = aggregate.running_tables;
        for (kind, value) in [("exported", tables.exported), ("total", tables.total)] {
            write_target_sample(out, RUNNING_TABLES, instance, task_type, ("kind", kind), &value.to_string());
        }
    }

    const ERROR_INFO: &str = "aliyun_dbs_listing_error_info";
    write_header(
        out,
        ERROR_INFO,
        "1 while the latest listing of the target failed, with the error class in code (as in aliyun_dbs_api_request_errors_total); absent while it succeeds.",
        "gauge",
    );
    for (instance, task_type, target) in view.targets() {
        if let Some(error) = target.failing_with() {
            write_target_sample(out, ERROR_INFO, instance, task_type, ("code", error.code), "1");
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
        "Listings per poll interval: polled instances times task types.",
        "gauge",
    );
    let _ = writeln!(out, "aliyun_dbs_targets {}", layout.target_count);

    let Some(round) = view.last_round else { return };
    write_header(
        out,
        "aliyun_dbs_api_calls_per_cycle",
        "DescribeDownloadTask calls, retries included, made during the last complete round over every target.",
        "gauge",
    );
    let _ = writeln!(out, "aliyun_dbs_api_calls_per_cycle {}", round.api_calls);
    write_header(
        out,
        "aliyun_dbs_poll_duration_seconds",
        "Duration of the last complete round over every target: from its start to the end of its last listing.",
        "gauge",
    );
    let _ = writeln!(out, "aliyun_dbs_poll_duration_seconds {}", round.duration_seconds);
    write_header(
        out,
        "aliyun_dbs_poll_lag_seconds",
        "How late, after its scheduled time, the most delayed listing of the last complete round started; above the poll interval, polling cannot keep up.",
        "gauge",
    );
    let _ = writeln!(out, "aliyun_dbs_poll_lag_seconds {}", round.lag_seconds);
}

/// One render of the task series, with its gzip form made on first demand.
#[derive(Debug)]
struct Rendered {
    publication: Publication,
    rendered_at: Instant,
    plain: Vec<Bytes>,
    gzip: OnceLock<Bytes>,
}

impl Rendered {
    /// Whether a scrape at `now` may still be served this render of the store at `current`.
    fn serves(&self, current: Publication, now: Instant, debounce: Duration) -> bool {
        self.publication == current
            || (self.publication.milestones == current.milestones
                && now.duration_since(self.rendered_at) < debounce)
    }
}

/// How long single listings may wait to be published: renders of a large estate are not free.
pub const RENDER_DEBOUNCE: Duration = Duration::from_secs(1);

/// What a scrape sends: chunks to write in order, gzip members when `gzip` is set (a gzip
/// stream may consist of several members; HTTP clients, Prometheus included, read them as one).
#[derive(Debug)]
pub struct Scrape {
    pub chunks: Vec<Bytes>,
    pub gzip: bool,
}

impl Scrape {
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The cached exposition: the task series are rendered when the store has changed (single
/// listings debounced), and every scrape in between shares the same bytes.
#[derive(Debug)]
pub struct Exposition {
    store: Arc<Store>,
    metrics: ExporterMetrics,
    debounce: Duration,
    layout: Mutex<Layout>,
    cache: Mutex<Option<Arc<Rendered>>>,
    own: Mutex<Option<Arc<OwnMetrics>>>,
}

/// How stale the exporter's own metrics (API counters, process figures) may be in a scrape.
pub const OWN_METRICS_MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct OwnMetrics {
    encoded_at: Instant,
    plain: Bytes,
    gzip: Bytes,
}

impl Exposition {
    pub fn new(store: Arc<Store>, metrics: ExporterMetrics, layout: Layout) -> Self {
        Exposition {
            store,
            metrics,
            debounce: RENDER_DEBOUNCE,
            layout: Mutex::new(layout),
            cache: Mutex::new(None),
            own: Mutex::new(None),
        }
    }

    /// Another debounce than [`RENDER_DEBOUNCE`] (tests).
    pub fn with_debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// Whether every target has been listed at least once.
    pub fn ready(&self) -> bool {
        self.store.first_round_done()
    }

    /// After a reload: the next scrape renders with the new layout.
    pub fn set_layout(&self, layout: Layout) {
        *self.layout.lock().expect("layout lock poisoned") = layout;
        *self.cache.lock().expect("render cache poisoned") = None;
    }

    fn rendered(&self) -> Arc<Rendered> {
        let current = self.store.publication();
        let mut cache = self.cache.lock().expect("render cache poisoned");
        if let Some(rendered) = cache.as_ref().filter(|r| r.serves(current, Instant::now(), self.debounce)) {
            return Arc::clone(rendered);
        }
        let layout = self.layout.lock().expect("layout lock poisoned").clone();
        let (publication, chunks) = self.store.read(|view, publication| {
            let mut rope = Rope::default();
            render_view(view, &layout, &mut rope);
            (publication, rope.into_chunks())
        });
        let rendered_at = Instant::now();
        let rendered = Arc::new(Rendered { publication, rendered_at, plain: chunks, gzip: OnceLock::new() });
        *cache = Some(Arc::clone(&rendered));
        rendered
    }

    /// The task series, rendered again only when the store has changed.
    pub fn task_series(&self) -> Vec<Bytes> {
        self.rendered().plain.clone()
    }

    /// The chunks of one scrape: the cached task series (gzipped once per render when asked)
    /// and the exporter's own metrics, at most [`OWN_METRICS_MAX_AGE`] old.
    pub fn scrape(&self, gzip: bool) -> Scrape {
        let rendered = self.rendered();
        let own = self.own_metrics();
        if gzip {
            let tasks = rendered.gzip.get_or_init(|| Bytes::from(gzip_chunks(&rendered.plain))).clone();
            Scrape { chunks: vec![tasks, own.gzip.clone()], gzip: true }
        } else {
            let mut chunks = rendered.plain.clone();
            chunks.push(own.plain.clone());
            Scrape { chunks, gzip: false }
        }
    }

    /// The exporter's own metrics, encoded (and gzipped) at most once per
    /// [`OWN_METRICS_MAX_AGE`]: reading /proc and encoding every histogram on each of many
    /// scrapes a second would make them the cost of a scrape.
    fn own_metrics(&self) -> Arc<OwnMetrics> {
        let mut cached = self.own.lock().expect("own metrics cache poisoned");
        if let Some(own) = cached.as_ref().filter(|own| own.encoded_at.elapsed() < OWN_METRICS_MAX_AGE) {
            return Arc::clone(own);
        }
        let mut text = Vec::with_capacity(16 * 1024);
        self.metrics.encode(&mut text);
        let plain = Bytes::from(text);
        let gzip = Bytes::from(gzip_chunks(std::slice::from_ref(&plain)));
        let own = Arc::new(OwnMetrics { encoded_at: Instant::now(), plain, gzip });
        *cached = Some(Arc::clone(&own));
        own
    }

    /// The whole plain-text body of a scrape, in one buffer (for `once` and tests).
    pub fn body(&self) -> Vec<u8> {
        self.scrape(false).chunks.concat()
    }
}

/// One complete gzip member of the chunks. Fast compression: the exposition is re-compressed
/// every cycle.
fn gzip_chunks(chunks: &[Bytes]) -> Vec<u8> {
    use std::io::Write as _;
    let size: usize = chunks.iter().map(Bytes::len).sum();
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(size / 16 + 64), flate2::Compression::fast());
    for chunk in chunks {
        encoder.write_all(chunk).expect("writing to a Vec cannot fail");
    }
    let mut zipped = encoder.finish().expect("writing to a Vec cannot fail");
    zipped.shrink_to_fit();
    zipped
}

fn write_header(out: &mut Rope, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A sample of one target: the instance's labels, `task_type`, then one more label.
fn write_target_sample(
    out: &mut Rope,
    name: &str,
    instance: &InstanceKey,
    task_type: TaskType,
    (label, label_value): (&str, &str),
    value: &str,
) {
    out.push_str(name);
    push_instance_labels(out, instance);
    out.push_str(",task_type=\"");
    out.push_str(task_type.as_str());
    out.push_str("\",");
    out.push_str(label);
    out.push_str("=\"");
    push_label_value(out, label_value);
    out.push_str("\"} ");
    out.push_str(value);
    out.push('\n');
}

fn write_instance_sample(out: &mut Rope, name: &str, instance: &InstanceKey, value: &str) {
    out.push_str(name);
    push_instance_labels(out, instance);
    out.push_str("} ");
    out.push_str(value);
    out.push('\n');
}

/// `{account="…",region_id="…",instance_id="…"`, the account only when set; the brace stays
/// open for the caller's further labels.
fn push_instance_labels(out: &mut Rope, instance: &InstanceKey) {
    out.push('{');
    if let Some(account) = &instance.account {
        out.push_str("account=\"");
        push_label_value(out, account);
        out.push_str("\",");
    }
    out.push_str("region_id=\"");
    push_label_value(out, &instance.region_id);
    out.push_str("\",instance_id=\"");
    push_label_value(out, &instance.instance_id);
    out.push('"');
}

/// Label values escape `\`, `"` and newlines, as the text format requires.
fn push_label_value(out: &mut Rope, value: &str) {
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
    millis_as_seconds(crate::util::unix_ms(at))
}

#[cfg(test)]
mod tests;
