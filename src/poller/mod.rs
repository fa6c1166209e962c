//! The scheduler: every poll interval, list every (region, instance, task type) target.
//!
//! At most `concurrency` listings (each one request at a time) are in flight; the first cycle
//! spreads its starts over the interval so a restart does not stampede the API; a target whose
//! previous listing is still running is skipped, not doubled; one target's failure is recorded
//! and logged for that target alone. Calls are paced per region by a token bucket and
//! retried within the poll interval.

mod rate_limit;
mod shard;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, CallObserver, DbsClient, DownloadTaskQuery, ErrorClass, ListOptions, Page};
use crate::config::Config;
use crate::metrics::ExporterMetrics;
use crate::model::{InstanceKey, TargetKey, TaskAggregate};
use crate::state::{Store, Transition};
pub use rate_limit::RegionLimits;
pub use shard::Shard;

/// One listing to run every cycle, with the client of its account.
#[derive(Debug)]
pub struct Target {
    pub key: TargetKey,
    pub endpoint: String,
    /// The filters of the listing; the creation-time window is filled in at each poll.
    pub query: DownloadTaskQuery,
    client: DbsClient,
    running: AtomicBool,
}

impl Target {
    pub fn new(key: TargetKey, endpoint: String, query: DownloadTaskQuery, client: DbsClient) -> Self {
        Target { key, endpoint, query, client, running: AtomicBool::new(false) }
    }
}

/// The targets of a configuration that belong to `shard`: every account's instances x task
/// types, in config order. `client_of` gives the client of an account by name.
pub fn targets_from_config(
    config: &Config,
    shard: Shard,
    client_of: &dyn Fn(&str) -> DbsClient,
) -> Vec<Arc<Target>> {
    let mut targets = Vec::with_capacity(config.target_count() / shard.count() as usize);
    let labelled = config.labels_accounts();
    for account in &config.accounts {
        let client = client_of(&account.name);
        for region in &account.regions {
            let endpoint = region.endpoint_or_default();
            for instance in region.instances.iter().filter(|i| shard.owns(&region.region_id, &i.instance_id))
            {
                let mut instance_key = InstanceKey::new(&region.region_id, &instance.instance_id);
                if labelled {
                    instance_key = instance_key.in_account(&account.name);
                }
                for task_type in &config.task_types {
                    let query = DownloadTaskQuery {
                        cluster_name: instance.cluster_name.clone(),
                        datasource_id: instance.datasource_id.clone(),
                        backup_set_id: instance.backup_set_id.clone(),
                        task_type: Some(*task_type),
                        ..DownloadTaskQuery::new(&region.region_id, &instance.instance_id)
                    };
                    let key = TargetKey { instance: instance_key.clone(), task_type: *task_type };
                    targets.push(Arc::new(Target::new(key, endpoint.clone(), query, client.clone())));
                }
            }
        }
    }
    targets
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PollSettings {
    pub interval: Duration,
    pub lookback: Duration,
    pub list: ListOptions,
    pub concurrency: usize,
    pub rate_limit_per_region: f64,
    pub max_staleness: Duration,
}

impl PollSettings {
    pub fn from_config(config: &Config) -> Self {
        PollSettings {
            interval: config.poll_interval,
            lookback: config.lookback,
            list: ListOptions {
                page_size: config.page_size,
                max_pages: config.max_pages,
                retry: config.retry,
                deadline: None,
            },
            concurrency: config.concurrency,
            rate_limit_per_region: config.rate_limit_per_region,
            max_staleness: config.max_staleness,
        }
    }

    /// The listing options of one poll: retries may not wait past the next poll.
    fn list_options(&self, started: Instant) -> ListOptions {
        ListOptions { deadline: Some(started + self.interval), ..self.list }
    }
}

/// How one cycle went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub succeeded: usize,
    pub failed: usize,
    /// Targets whose previous listing was still running.
    pub skipped: usize,
}

impl CycleReport {
    fn add(&mut self, other: CycleReport) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    Skipped,
}

#[derive(Debug)]
pub struct Poller {
    targets: Vec<Arc<Target>>,
    store: Arc<Store>,
    metrics: ExporterMetrics,
    permits: Arc<Semaphore>,
    limits: RegionLimits,
    settings: PollSettings,
    /// Calls since the last cycle ended, for the API budget metric.
    cycle_calls: AtomicU64,
}

impl Poller {
    pub fn new(
        targets: Vec<Arc<Target>>,
        settings: PollSettings,
        store: Arc<Store>,
        metrics: ExporterMetrics,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let limits = RegionLimits::new(
            targets.iter().map(|t| t.key.instance.region_id.as_ref()),
            settings.rate_limit_per_region,
        );
        Poller { targets, store, metrics, permits, limits, settings, cycle_calls: AtomicU64::new(0) }
    }

    pub fn targets(&self) -> &[Arc<Target>] {
        &self.targets
    }

    /// Polls every target once; with `spread`, target `i` of `n` starts `spread * i / n` late.
    /// `concurrency` workers take the targets in turn, so memory stays bounded by the
    /// concurrency, not by the size of the estate.
    pub async fn poll_cycle(self: &Arc<Self>, spread: Option<Duration>) -> CycleReport {
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let workers = self.settings.concurrency.clamp(1, self.targets.len().max(1));
        let mut running = JoinSet::new();
        for _ in 0..workers {
            let (poller, next) = (Arc::clone(self), Arc::clone(&next));
            running.spawn(async move { poller.work_through_targets(&next, started, spread).await });
        }
        let mut report = CycleReport::default();
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok(worker) => report.add(worker),
                Err(err) => {
                    tracing::error!(error = %err, "a polling worker ended abnormally");
                    report.failed += 1;
                }
            }
        }
        let elapsed = started.elapsed();
        self.store.record_cycle(elapsed.as_secs_f64(), self.cycle_calls.swap(0, Ordering::AcqRel));
        self.expire_stale();
        tracing::debug!(
            succeeded = report.succeeded,
            failed = report.failed,
            skipped = report.skipped,
            seconds = elapsed.as_secs_f64(),
            "poll cycle done"
        );
        report
    }

    async fn work_through_targets(
        &self,
        next: &AtomicUsize,
        started: Instant,
        spread: Option<Duration>,
    ) -> CycleReport {
        let count = self.targets.len().max(1) as u32;
        let mut report = CycleReport::default();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(target) = self.targets.get(index) else { return report };
            if let Some(spread) = spread {
                tokio::time::sleep_until((started + spread * index as u32 / count).into()).await;
            }
            match self.poll_target(target).await {
                Outcome::Succeeded => report.succeeded += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Skipped => report.skipped += 1,
            }
        }
    }

    /// Runs cycles every interval until `shutdown`; a cycle that outlasts the interval keeps
    /// running while the next one starts (and skips its still-running targets).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut cycles = JoinSet::new();
        let mut spread = Some(self.settings.interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            // Also here, not only at the end of a cycle: a cycle stuck on a slow API must not
            // keep stale values alive.
            self.expire_stale();
            let poller = Arc::clone(&self);
            let this_spread = spread.take();
            cycles.spawn(async move { poller.poll_cycle(this_spread).await });
            while cycles.try_join_next().is_some() {}
        }
        // Dropping a cycle drops its JoinSet, which aborts the listings still in flight.
        cycles.shutdown().await;
    }

    fn expire_stale(&self) {
        let expired = self.store.expire_stale(SystemTime::now(), self.settings.max_staleness);
        for key in expired {
            tracing::info!(listing = %key, max_staleness = ?self.settings.max_staleness, "stale task counts removed");
        }
    }

    async fn poll_target(&self, target: &Target) -> Outcome {
        if target.running.swap(true, Ordering::AcqRel) {
            tracing::debug!(listing = %target.key, "previous listing still running; skipped");
            return Outcome::Skipped;
        }
        let _running = RunningFlag(&target.running);
        let Ok(_permit) = self.permits.acquire().await else { return Outcome::Skipped };

        let now = SystemTime::now();
        let options = self.settings.list_options(Instant::now());
        let query = DownloadTaskQuery {
            start_time_ms: Some(unix_ms(
                now.checked_sub(self.settings.lookback).unwrap_or(SystemTime::UNIX_EPOCH),
            )),
            end_time_ms: Some(unix_ms(now)),
            ..target.query.clone()
        };
        let observer = RegionCalls {
            metrics: &self.metrics,
            limits: &self.limits,
            calls: &self.cycle_calls,
            region_id: &target.key.instance.region_id,
        };
        match target.client.list_download_tasks(&target.endpoint, &query, options, &observer).await {
            Ok(listing) => {
                let aggregate = TaskAggregate::from_tasks(&listing.tasks);
                if self.store.record_success(&target.key, aggregate, now) == Transition::Recovered {
                    tracing::info!(listing = %target.key, "listing succeeds again");
                }
                tracing::debug!(listing = %target.key, tasks = listing.tasks.len(), pages = listing.pages, duplicates = listing.duplicates, "listed");
                Outcome::Succeeded
            }
            Err(err) => {
                if self.store.record_failure(&target.key, err.metric_label()) == Transition::NewFailure {
                    tracing::warn!(listing = %target.key, endpoint = %target.endpoint, error = %err, hint = hint(&err), "listing failed; logged once until it changes or recovers");
                } else {
                    tracing::debug!(listing = %target.key, error = %err, "listing still failing");
                }
                Outcome::Failed
            }
        }
    }
}

/// Clears a target's running flag however its listing ends, aborted included.
struct RunningFlag<'a>(&'a AtomicBool);

impl Drop for RunningFlag<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

struct RegionCalls<'a> {
    metrics: &'a ExporterMetrics,
    limits: &'a RegionLimits,
    calls: &'a AtomicU64,
    region_id: &'a str,
}

impl CallObserver for RegionCalls<'_> {
    fn before_call(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.limits.acquire(self.region_id))
    }

    fn on_call(&self, elapsed: Duration, outcome: Result<&Page, &ApiError>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.metrics.observe_call(self.region_id, elapsed, outcome.err());
    }
}

/// What an operator should check first for a failure.
fn hint(err: &ApiError) -> &'static str {
    match (err, err.class()) {
        (_, Some(ErrorClass::Auth)) => {
            "check the AccessKey pair (ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET), an expired STS token, and the host clock"
        }
        (_, Some(ErrorClass::Forbidden)) => "grant the RAM action dbs:DescribeDownloadTask on this instance",
        (_, Some(ErrorClass::Throttled)) => "lower concurrency or raise poll_interval",
        (ApiError::PageCap { .. }, _) => "raise max_pages or shorten lookback",
        (ApiError::Transport { .. }, _) => "check network access to the endpoint",
        _ => "see the error text",
    }
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
