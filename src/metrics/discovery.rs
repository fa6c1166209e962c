//! Discovery's own metrics and `aliyun_dbs_instance_info`, the series that joins an engine and
//! tags onto the task series of each polled instance.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use super::ERROR_CODES;
use crate::discovery::{DiscoveryError, Engine};
use crate::util::lock;

pub const INSTANCE_INFO: &str = "aliyun_dbs_instance_info";
const INSTANCE_INFO_HELP: &str = "One series per polled instance, value 1: its engine (unknown when listed by hand and not discovered) and the tags named by discovery.tag_labels as tag_<key>. Join on region_id and instance_id.";

/// One row of `aliyun_dbs_instance_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceInfo {
    pub account: Option<String>,
    pub region_id: String,
    pub instance_id: String,
    pub engine: Option<Engine>,
    /// The values of the tag labels, in the order of their names.
    pub tag_values: Vec<String>,
}

/// The info family and the label names it was made with.
type LabelledInfo = (Vec<String>, IntGaugeVec);

#[derive(Clone, Debug)]
pub(super) struct DiscoveryMetrics {
    registry: Registry,
    calls: IntCounterVec,
    errors: IntCounterVec,
    found: IntGaugeVec,
    last_success: GaugeVec,
    duration: Gauge,
    /// Rebuilt when its label names change (a reload with other `tag_labels`).
    info: Arc<Mutex<Option<LabelledInfo>>>,
}

impl DiscoveryMetrics {
    pub(super) fn register(registry: &Registry) -> Self {
        let calls = IntCounterVec::new(
            Opts::new(
                "aliyun_dbs_discovery_api_requests_total",
                "Instance list calls (RDS DescribeDBInstances and ListTagResources, PolarDB DescribeDBClusters, MongoDB DescribeDBInstances), by region and engine.",
            ),
            &["region_id", "engine"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "aliyun_dbs_discovery_api_request_errors_total",
                "Instance list calls that failed, by region, engine and error class.",
            ),
            &["region_id", "engine", "code"],
        )
        .expect("valid metric");
        let found = IntGaugeVec::new(
            Opts::new(
                "aliyun_dbs_discovery_instances",
                "Applicable instances the last good list found, by region and engine (before exclude_instances and sharding).",
            ),
            &["region_id", "engine"],
        )
        .expect("valid metric");
        let last_success = GaugeVec::new(
            Opts::new(
                "aliyun_dbs_discovery_last_success_timestamp_seconds",
                "When the instances of a region and engine were last listed successfully.",
            ),
            &["region_id", "engine"],
        )
        .expect("valid metric");
        let duration = Gauge::new(
            "aliyun_dbs_discovery_duration_seconds",
            "How long the last discovery refresh over every region and engine took.",
        )
        .expect("valid metric");
        for collector in [
            Box::new(calls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(errors.clone()),
            Box::new(found.clone()),
            Box::new(last_success.clone()),
            Box::new(duration.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        DiscoveryMetrics {
            registry: registry.clone(),
            calls,
            errors,
            found,
            last_success,
            duration,
            info: Arc::new(Mutex::new(None)),
        }
    }

    /// Creates the call and error series of each source at zero, so rates work from the start.
    pub(super) fn add_sources<'a>(&self, sources: impl IntoIterator<Item = (&'a str, Engine)>) {
        for (region, engine) in sources {
            self.calls.with_label_values(&[region, engine.as_str()]);
            for code in ERROR_CODES {
                self.errors.with_label_values(&[region, engine.as_str(), code]);
            }
        }
    }

    pub(super) fn observe_call(&self, region: &str, engine: Engine, error: Option<&DiscoveryError>) {
        self.calls.with_label_values(&[region, engine.as_str()]).inc();
        if let Some(error) = error {
            self.errors.with_label_values(&[region, engine.as_str(), error.metric_label()]).inc();
        }
    }

    pub(super) fn record_list(&self, region: &str, engine: Engine, found: usize, at: SystemTime) {
        self.found.with_label_values(&[region, engine.as_str()]).set(found as i64);
        let seconds = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        self.last_success.with_label_values(&[region, engine.as_str()]).set(seconds);
    }

    pub(super) fn record_refresh(&self, took: Duration) {
        self.duration.set(took.as_secs_f64());
    }

    /// Replaces every row of the info metric; `tag_labels` are the `tag_<key>` names.
    pub(super) fn set_instances(&self, labels_accounts: bool, tag_labels: &[String], rows: &[InstanceInfo]) {
        let mut names: Vec<String> = Vec::new();
        if labels_accounts {
            names.push("account".into());
        }
        names.extend(["region_id", "instance_id", "engine"].map(String::from));
        names.extend(tag_labels.iter().cloned());
        let mut info = lock(&self.info);
        let vec = match info.as_ref() {
            Some((current, vec)) if *current == names => vec.clone(),
            _ => {
                if let Some((_, old)) = info.take() {
                    let _ = self.registry.unregister(Box::new(old));
                }
                let label_names: Vec<&str> = names.iter().map(String::as_str).collect();
                let vec = IntGaugeVec::new(Opts::new(INSTANCE_INFO, INSTANCE_INFO_HELP), &label_names)
                    .expect("tag label names are sanitised");
                self.registry.register(Box::new(vec.clone())).expect("registered once");
                *info = Some((names, vec.clone()));
                vec
            }
        };
        vec.reset();
        for row in rows {
            let mut values: Vec<&str> = Vec::with_capacity(4 + row.tag_values.len());
            if labels_accounts {
                values.push(row.account.as_deref().unwrap_or(""));
            }
            values.push(&row.region_id);
            values.push(&row.instance_id);
            values.push(row.engine.map_or("unknown", Engine::as_str));
            values.extend(row.tag_values.iter().map(String::as_str));
            vec.with_label_values(&values).set(1);
        }
    }
}
