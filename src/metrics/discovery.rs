//! Discovery's own metrics: list calls and their errors, what each list found and when, and
//! how long a refresh took.

use std::time::{Duration, SystemTime};

use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use super::ERROR_CODES;
use crate::discovery::{DiscoveryError, Engine};

#[derive(Clone, Debug)]
pub(super) struct DiscoveryMetrics {
    calls: IntCounterVec,
    errors: IntCounterVec,
    found: IntGaugeVec,
    last_success: GaugeVec,
    duration: Gauge,
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
        DiscoveryMetrics { calls, errors, found, last_success, duration }
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
}
