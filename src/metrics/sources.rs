//! Discovery's own metrics: list calls and their errors, what each list found and when, and
//! how long a refresh took.
//!
//! The series of a source carry `account` when the configuration has several accounts, as the
//! task series do, so one account's good list cannot hide another's failing one; and a reload
//! may add or remove accounts. A vector's label names are fixed when it is made, and the
//! registry keeps each name's label names for the life of the process, even after an
//! unregister, so the families cannot be registered anew with the other label set. Hence one
//! collector, registered once, that exposes whichever vectors are current: a change of label
//! set replaces them, so the old series vanish from the next scrape and the new ones start at
//! zero. Each discoverer writes through the [`DiscoverySeries`] it was built with, so a refresh
//! of the previous configuration still in flight writes into vectors no longer exposed, never
//! a series of the old label set into the new family.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGaugeVec, Opts};

use super::ERROR_CODES;
use crate::discovery::{DiscoveryError, Engine};
use crate::rpc::CallFailure;
use crate::util::lock;

/// Discovery's families, registered once, exposing the series of the current label set.
#[derive(Clone, Debug)]
pub(super) struct DiscoveryMetrics {
    current: Arc<Mutex<DiscoverySeries>>,
    /// The families' names and help as registered; the registry reads only those, which no
    /// change of label set alters.
    descs: Arc<[Desc]>,
}

/// Discovery's series under one label set (with or without `account`), as a discoverer
/// writes them.
#[derive(Clone, Debug)]
pub struct DiscoverySeries {
    labelled: bool,
    calls: IntCounterVec,
    errors: IntCounterVec,
    found: IntGaugeVec,
    last_success: GaugeVec,
    /// One figure per refresh over every source, under any label set.
    duration: Gauge,
}

impl DiscoveryMetrics {
    pub(super) fn new() -> Self {
        let duration = Gauge::new(
            "aliyun_dbs_discovery_duration_seconds",
            "How long the last discovery refresh over every region and engine took.",
        )
        .expect("valid metric");
        let series = DiscoverySeries::new(false, duration);
        let descs = series.collectors().iter().flat_map(|c| c.desc()).cloned().collect();
        DiscoveryMetrics { current: Arc::new(Mutex::new(series)), descs }
    }

    /// The series of `sources` (account, region, engine), with `account` when `labelled`; the
    /// call and error series are created at zero, so rates work from the start. A label set
    /// other than the current one replaces every per-source series.
    pub(super) fn series<'a>(
        &self,
        labelled: bool,
        sources: impl IntoIterator<Item = (&'a str, &'a str, Engine)>,
    ) -> DiscoverySeries {
        let mut current = lock(&self.current);
        if current.labelled != labelled {
            *current = DiscoverySeries::new(labelled, current.duration.clone());
        }
        for (account, region, engine) in sources {
            current.calls.with_label_values(current.values(&[account, region, engine.as_str()]));
            for code in ERROR_CODES {
                current.errors.with_label_values(current.values(&[account, region, engine.as_str(), code]));
            }
        }
        current.clone()
    }
}

impl Collector for DiscoveryMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        lock(&self.current).collectors().iter().flat_map(|c| c.collect()).collect()
    }
}

impl DiscoverySeries {
    fn new(labelled: bool, duration: Gauge) -> Self {
        let labels = |names: &[&'static str]| -> Vec<&'static str> {
            labelled.then_some("account").into_iter().chain(names.iter().copied()).collect()
        };
        let calls = IntCounterVec::new(
            Opts::new(
                "aliyun_dbs_discovery_api_requests_total",
                "Instance list calls (RDS DescribeDBInstances and ListTagResources, PolarDB DescribeDBClusters, MongoDB DescribeDBInstances), by region and engine.",
            ),
            &labels(&["region_id", "engine"]),
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "aliyun_dbs_discovery_api_request_errors_total",
                "Instance list calls that failed, by region, engine and error class.",
            ),
            &labels(&["region_id", "engine", "code"]),
        )
        .expect("valid metric");
        let found = IntGaugeVec::new(
            Opts::new(
                "aliyun_dbs_discovery_instances",
                "Applicable instances the last good list found, by region and engine (before exclude_instances and sharding).",
            ),
            &labels(&["region_id", "engine"]),
        )
        .expect("valid metric");
        let last_success = GaugeVec::new(
            Opts::new(
                "aliyun_dbs_discovery_last_success_timestamp_seconds",
                "When the instances of a region and engine were last listed successfully.",
            ),
            &labels(&["region_id", "engine"]),
        )
        .expect("valid metric");
        DiscoverySeries { labelled, calls, errors, found, last_success, duration }
    }

    fn collectors(&self) -> [&dyn Collector; 5] {
        [&self.calls, &self.errors, &self.found, &self.last_success, &self.duration]
    }

    /// The label values of a series, `account` (always first) dropped when not labelled.
    fn values<'v>(&self, all: &'v [&'v str]) -> &'v [&'v str] {
        &all[usize::from(!self.labelled)..]
    }

    /// One list call of a source (retries count one each).
    pub fn observe_call(&self, account: &str, region: &str, engine: Engine, error: Option<&DiscoveryError>) {
        self.calls.with_label_values(self.values(&[account, region, engine.as_str()])).inc();
        if let Some(error) = error {
            let code = error.metric_label();
            self.errors.with_label_values(self.values(&[account, region, engine.as_str(), code])).inc();
        }
    }

    /// A good list of a source: what it found, and when.
    pub fn record_list(&self, account: &str, region: &str, engine: Engine, found: usize, at: SystemTime) {
        let values = [account, region, engine.as_str()];
        self.found.with_label_values(self.values(&values)).set(found as i64);
        let seconds = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        self.last_success.with_label_values(self.values(&values)).set(seconds);
    }

    pub fn record_refresh(&self, took: Duration) {
        self.duration.set(took.as_secs_f64());
    }
}
