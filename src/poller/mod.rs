//! The scheduler: list every (region, instance, task type) target once per poll interval.
//!
//! One poller runs for the life of the process. It is handed [`TargetSet`]s (at the start, and
//! whenever a reload or a discovery refresh changes the targets or the settings) and edits its
//! targets in place: a target that stays keeps its cadence and its listing in flight, a new one
//! is listed at once, one that goes has its listing in flight aborted (and the store refuses
//! its result anyway, see [`crate::store`]).
//!
//! Each target keeps its own cadence ([`schedule`]): every target is listed at once when it
//! joins, then on its own slot of the interval, so a lane's calls spread evenly over it. Due
//! listings wait in their lane (one account's region), and each API call waits for its lane's
//! token before it takes one of the `concurrency` request slots ([`crate::pacing`]), so a lane
//! out of tokens never holds up another. A completed listing is written to the store at once; a
//! target that fails is recorded and logged by region and error class ([`failures`]), never
//! stopping the others. A round is over when every target present at its start has been
//! attempted: targets that join or leave meanwhile neither restart nor hold it up.

mod events;
mod failures;
mod round;
mod run;
mod schedule;
mod shard;
mod targets;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, CallObserver, CallSlot, ListOptions, Page, TaskSummary};
use crate::config::Config;
use crate::metrics::ExporterMetrics;
use crate::pacing::{LaneKey, Pacer};
use crate::rpc::CallFailure;
use crate::store::history::Changes;
use crate::store::model::TargetKey;
use crate::store::{Attempt, ListingError, Store};
use crate::util::{unix_ms, WallClock};
use failures::FailureLog;
use run::{pending_sets, Run};
pub use shard::Shard;
pub use targets::{
    endpoints_of, instance_targets, targets_of, ListFuture, ListTasks, ListingFilters, SetChange, Target,
    TargetSet,
};

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

/// How a pass over every target went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub succeeded: usize,
    pub failed: usize,
}

impl CycleReport {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Succeeded => self.succeeded += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Dropped => {}
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    /// The target left the generation while it was listed: nothing was written.
    Dropped,
}

/// How often stale counts of failing targets are looked for.
const EXPIRY_CHECK: Duration = Duration::from_secs(1);

/// The poller: what outlives every target set (the store it writes, the failure log, the call
/// count).
#[derive(Debug)]
pub struct Poller {
    store: Arc<Store>,
    metrics: ExporterMetrics,
    clock: WallClock,
    failures: FailureLog,
    /// API calls made since the poller was built, retries included.
    calls: AtomicU64,
}

impl Poller {
    pub fn new(store: Arc<Store>, metrics: ExporterMetrics, clock: WallClock) -> Self {
        Poller { store, metrics, clock, failures: FailureLog::default(), calls: AtomicU64::new(0) }
    }

    /// Lists every target of `set` once, as fast as the pacing allows (the `once` command,
    /// tests and benchmarks), and returns when all are done.
    pub async fn poll_cycle(self: &Arc<Self>, set: Arc<TargetSet>) -> CycleReport {
        let mut run = Run::new(self, set, None);
        run.drive(&mut pending_sets(), &CancellationToken::new()).await
    }

    /// Lists every target on its cadence until `shutdown`, taking each new target set that
    /// `sets` brings.
    pub async fn run(
        self: Arc<Self>,
        mut sets: watch::Receiver<Arc<TargetSet>>,
        shutdown: CancellationToken,
    ) {
        let first = Arc::clone(&sets.borrow_and_update());
        let interval = first.settings.interval;
        let mut run = Run::new(&self, first, Some(interval));
        run.drive(&mut sets, &shutdown).await;
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn expire_stale(&self, max_staleness: Duration) {
        let expired = self.store.expire_stale(self.clock.now(), max_staleness);
        for key in expired {
            tracing::info!(listing = %key, ?max_staleness, "stale task counts of a failing listing removed");
        }
    }

    /// One listing of one target, its outcome written to the store when the target is still
    /// in the generation.
    async fn list(&self, target: &Target, generation: u64, settings: PollSettings, pacer: &Pacer) -> Outcome {
        let now = self.clock.now();
        let options = settings.list_options(Instant::now());
        let since = now.checked_sub(settings.lookback).unwrap_or(SystemTime::UNIX_EPOCH);
        let query = target.query(unix_ms(since), unix_ms(now));
        let attempt = Attempt { key: &target.key, generation, asked: target.asked };
        let observer = PacedCalls { poller: self, pacer, lane: target.lane() };
        match target.client.list(&target.endpoint, &query, options, &observer).await {
            Ok(listing) => {
                let Some(recorded) = self.store.record_listing(&attempt, &listing.tasks, now) else {
                    return Outcome::Dropped;
                };
                self.failures.succeeded(&target.key, recorded.transition);
                self.observe_durations(&target.key, &recorded.changes, now);
                if !recorded.events.is_empty() {
                    let accounts = self.store.generation().layout.labels_accounts;
                    recorded.events.iter().for_each(|event| events::log(event, accounts));
                }
                tracing::debug!(listing = %target.key, tasks = listing.tasks.len(), pages = listing.pages, duplicates = listing.duplicates, "listed");
                Outcome::Succeeded
            }
            Err(err) => {
                let error = ListingError {
                    code: err.metric_label(),
                    message: Arc::from(bounded(err.to_string(), MAX_ERROR_MESSAGE)),
                    hint: err.hint(),
                };
                let Some(transition) = self.store.record_failure(&attempt, error) else {
                    return Outcome::Dropped;
                };
                self.failures.failed(&target.key, &target.endpoint, &err, transition);
                Outcome::Failed
            }
        }
    }

    /// Tasks seen ending since the last listing: from their creation to this poll.
    fn observe_durations(&self, key: &TargetKey, changes: &Changes, polled: SystemTime) {
        let polled_ms = unix_ms(polled);
        for (state, created_ms) in &changes.completed {
            let Some(created_ms) = created_ms else { continue };
            let seconds = polled_ms.saturating_sub(*created_ms) as f64 / 1000.0;
            self.metrics.observe_task_duration(
                &key.instance.region_id,
                key.task_type,
                state.as_str(),
                seconds,
            );
        }
    }
}

/// Error texts kept for the status page are cut here: some quote a whole request.
const MAX_ERROR_MESSAGE: usize = 400;

fn bounded(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Paces each call of a listing by its lane and counts it.
struct PacedCalls<'a> {
    poller: &'a Poller,
    pacer: &'a Pacer,
    lane: LaneKey,
}

impl CallObserver<Page<TaskSummary>, ApiError> for PacedCalls<'_> {
    fn before_call(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = CallSlot> + Send + '_>> {
        Box::pin(async move { Some(Box::new(self.pacer.call_slot(&self.lane).await) as Box<dyn Send>) })
    }

    fn on_call(&self, elapsed: Duration, outcome: Result<&Page<TaskSummary>, &ApiError>) {
        self.poller.calls.fetch_add(1, Ordering::Relaxed);
        self.poller.metrics.observe_call(&self.lane.region_id, elapsed, outcome.err());
    }
}

#[cfg(test)]
mod tests;
