//! The exporter's own metrics: API calls, their errors and latency, build and process info.
//! Registered once, in one registry, and handed around by reference.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

mod sources;

use sources::DiscoveryMetrics;
pub use sources::DiscoverySeries;

use crate::api::{ApiError, TaskType};
use crate::credentials::CredentialsProvider;
use crate::discovery::Engine;
use crate::rpc::CallFailure;
use crate::util::{build, lock};

/// Every value the `code` label of `aliyun_dbs_api_request_errors_total` can take.
pub const ERROR_CODES: [&str; 10] = [
    "throttled",
    "auth",
    "forbidden",
    "server",
    "client",
    "transport",
    "certificate",
    "decode",
    "page_cap",
    "credentials",
];

const API_LATENCY_BUCKETS: [f64; 10] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Downloads take minutes to a day: 1, 5, 10, 30 minutes, 1, 2, 4, 8, 12 hours, a day.
const TASK_DURATION_BUCKETS: [f64; 10] =
    [60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14_400.0, 28_800.0, 43_200.0, 86_400.0];

#[derive(Clone, Debug)]
pub struct ExporterMetrics {
    registry: Registry,
    api_requests: IntCounterVec,
    api_errors: IntCounterVec,
    api_duration: HistogramVec,
    task_duration: HistogramVec,
    shard: IntGaugeVec,
    reload_successful: IntGauge,
    reload_success_timestamp: Gauge,
    credential_refresh_errors: CredentialRefreshErrors,
    discovery: DiscoveryMetrics,
}

impl ExporterMetrics {
    /// Registers every metric and pre-creates the series of each region at zero, so that
    /// `rate()` works from the first scrape rather than from the first error.
    pub fn new<'a>(regions: impl IntoIterator<Item = &'a str>) -> Self {
        let registry = Registry::new();
        let api_requests = IntCounterVec::new(
            Opts::new("aliyun_dbs_api_requests_total", "DescribeDownloadTask calls made, by region."),
            &["region_id"],
        )
        .expect("valid metric");
        let api_errors = IntCounterVec::new(
            Opts::new(
                "aliyun_dbs_api_request_errors_total",
                "DescribeDownloadTask calls that failed, by region and error class.",
            ),
            &["region_id", "code"],
        )
        .expect("valid metric");
        let api_duration = HistogramVec::new(
            HistogramOpts::new(
                "aliyun_dbs_api_request_duration_seconds",
                "Latency of DescribeDownloadTask calls, by region.",
            )
            .buckets(API_LATENCY_BUCKETS.to_vec()),
            &["region_id"],
        )
        .expect("valid metric");
        let task_duration = HistogramVec::new(
            HistogramOpts::new(
                "aliyun_dbs_download_task_duration_seconds",
                "Time from a download task's creation (GmtCreate) to the poll that first saw it finished or failed, observed once per task that had been seen in an earlier state; resolution is the poll interval.",
            )
            .buckets(TASK_DURATION_BUCKETS.to_vec()),
            &["region_id", "task_type", "state"],
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "aliyun_dbs_exporter_build_info",
                "Build of the running dbs-exporter; the value is always 1.",
            ),
            &["version", "revision", "branch", "build_date", "rustversion"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[
                build::VERSION,
                build::REVISION,
                build::BRANCH,
                build::BUILD_DATE,
                build::RUST_VERSION,
            ])
            .set(1);

        let shard = IntGaugeVec::new(
            Opts::new(
                "aliyun_dbs_exporter_shard",
                "This exporter's shard (--shard.index of --shard.count); the value is the shard count, so count(aliyun_dbs_exporter_shard) < max(aliyun_dbs_exporter_shard) finds a missing shard.",
            ),
            &["index", "count"],
        )
        .expect("valid metric");
        shard.with_label_values(&["0", "1"]).set(1);
        let credential_refresh_errors = CredentialRefreshErrors::default();
        let reload_successful = IntGauge::new(
            "aliyun_dbs_exporter_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
        )
        .expect("valid metric");
        let reload_success_timestamp = Gauge::new(
            "aliyun_dbs_exporter_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload (or of the start).",
        )
        .expect("valid metric");
        for collector in [
            Box::new(api_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(api_errors.clone()),
            Box::new(api_duration.clone()),
            Box::new(task_duration.clone()),
            Box::new(build_info),
            Box::new(shard.clone()),
            Box::new(reload_successful.clone()),
            Box::new(reload_success_timestamp.clone()),
            Box::new(credential_refresh_errors.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("process metrics register once");

        let discovery = DiscoveryMetrics::new();
        registry.register(Box::new(discovery.clone())).expect("metric names are unique");
        let metrics = ExporterMetrics {
            discovery,
            registry,
            api_requests,
            api_errors,
            api_duration,
            task_duration,
            shard,
            reload_successful,
            reload_success_timestamp,
            credential_refresh_errors,
        };
        metrics.add_regions(regions);
        metrics.record_reload(true);
        metrics
    }

    /// Creates the series of each region at zero (again harmless for known regions), the task
    /// duration histogram's included, so its rates and quantiles exist before a task ends.
    pub fn add_regions<'a>(&self, regions: impl IntoIterator<Item = &'a str>) {
        for region in regions {
            self.api_requests.with_label_values(&[region]);
            self.api_duration.with_label_values(&[region]);
            for task_type in TaskType::ALL {
                for state in ["finished", "failed"] {
                    self.task_duration.with_label_values(&[region, task_type.as_str(), state]);
                }
            }
            for code in ERROR_CODES {
                self.api_errors.with_label_values(&[region, code]);
            }
        }
    }

    /// The providers whose failed refreshes `aliyun_dbs_credentials_refresh_errors_total`
    /// counts; after a reload the new providers continue the count where the old ones left it.
    pub fn watch_credentials(&self, providers: Vec<Arc<dyn CredentialsProvider>>) {
        self.credential_refresh_errors.replace(providers);
    }

    /// Which shard of how many this exporter is (`--shard.index`, `--shard.count`).
    pub fn set_shard(&self, index: u32, count: u32) {
        self.shard.reset();
        self.shard.with_label_values(&[&index.to_string(), &count.to_string()]).set(i64::from(count));
    }

    pub fn record_reload(&self, successful: bool) {
        self.reload_successful.set(i64::from(successful));
        if successful {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            self.reload_success_timestamp.set(now.as_secs_f64());
        }
    }

    pub fn observe_call(&self, region_id: &str, elapsed: Duration, error: Option<&ApiError>) {
        self.api_requests.with_label_values(&[region_id]).inc();
        self.api_duration.with_label_values(&[region_id]).observe(elapsed.as_secs_f64());
        if let Some(error) = error {
            self.api_errors.with_label_values(&[region_id, error.metric_label()]).inc();
        }
    }

    pub fn observe_task_duration(&self, region_id: &str, task_type: TaskType, state: &str, seconds: f64) {
        self.task_duration.with_label_values(&[region_id, task_type.as_str(), state]).observe(seconds);
    }

    /// Discovery's series of a configuration's sources (account, region, engine), for its
    /// discoverer to write: with an `account` label when `labelled` (several accounts), like the
    /// task series. Call and error series start at zero; a change of label set drops every
    /// series of the previous one.
    pub fn discovery_series<'a>(
        &self,
        labelled: bool,
        sources: impl IntoIterator<Item = (&'a str, &'a str, Engine)>,
    ) -> DiscoverySeries {
        self.discovery.series(labelled, sources)
    }

    /// Appends the text exposition of these metrics.
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), out);
    }
}

const REFRESH_ERRORS: &str = "aliyun_dbs_credentials_refresh_errors_total";
const REFRESH_ERRORS_HELP: &str =
    "Failed fetches or refreshes of temporary credentials (STS, RRSA, ECS RAM role).";

/// A counter read from the credential providers at each scrape: they count their own failures.
#[derive(Clone, Default)]
struct CredentialRefreshErrors {
    watched: Arc<Mutex<WatchedProviders>>,
}

#[derive(Default)]
struct WatchedProviders {
    providers: Vec<Arc<dyn CredentialsProvider>>,
    /// What providers replaced by a reload had counted, so the counter never goes down.
    retired: u64,
}

impl WatchedProviders {
    fn total(&self) -> u64 {
        self.retired + self.providers.iter().map(|p| p.refresh_errors()).sum::<u64>()
    }
}

impl std::fmt::Debug for CredentialRefreshErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialRefreshErrors")
    }
}

impl CredentialRefreshErrors {
    fn replace(&self, providers: Vec<Arc<dyn CredentialsProvider>>) {
        let mut watched = lock(&self.watched);
        watched.retired = watched.total();
        watched.providers = providers;
    }

    fn counter(&self) -> prometheus::IntCounter {
        let counter = prometheus::IntCounter::new(REFRESH_ERRORS, REFRESH_ERRORS_HELP).expect("valid metric");
        let watched = lock(&self.watched);
        counter.inc_by(watched.total());
        counter
    }
}

impl Collector for CredentialRefreshErrors {
    fn desc(&self) -> Vec<&Desc> {
        // The registry checks names and help once, at registration; every registry in the
        // process can share one description.
        static DESC: std::sync::OnceLock<Desc> = std::sync::OnceLock::new();
        vec![DESC.get_or_init(|| {
            Desc::new(REFRESH_ERRORS.into(), REFRESH_ERRORS_HELP.into(), Vec::new(), Default::default())
                .expect("valid description")
        })]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.counter().collect()
    }
}

#[cfg(test)]
mod tests;
