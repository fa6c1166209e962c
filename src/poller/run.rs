//! The poller at work: the slots of the current targets, the listings in flight, the round,
//! and the edits a new target set makes to them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::round::Round;
use super::schedule::{Cadence, Schedule, Start};
use super::{CycleReport, Outcome, Poller, SetChange, Target, TargetSet, EXPIRY_CHECK};
use crate::pacing::LaneKey;
use crate::store::model::TargetKey;

/// A receiver that never brings a new set (one pass).
pub(super) fn pending_sets() -> watch::Receiver<Arc<TargetSet>> {
    let (sender, receiver) = watch::channel(Arc::new(TargetSet::empty()));
    // Dropping the sender makes `changed()` fail, which `drive` takes as "no more sets".
    drop(sender);
    receiver
}

/// A target's lane, and its rank among the `of` targets of that lane being placed.
#[derive(Clone, Copy, Debug)]
struct Place {
    lane: usize,
    rank: usize,
    of: usize,
}

/// A listing in flight.
#[derive(Debug)]
struct Running {
    slot: usize,
    started: Instant,
}

/// The poller at work on a target set: the slots of its targets, the listings in flight and
/// the round.
pub(super) struct Run<'p> {
    poller: &'p Arc<Poller>,
    set: Arc<TargetSet>,
    schedule: Schedule,
    /// The target in each slot of the schedule.
    slots: Vec<Option<Arc<Target>>>,
    slot_of: HashMap<TargetKey, usize>,
    lanes: HashMap<LaneKey, usize>,
    listings: JoinSet<Outcome>,
    running: HashMap<tokio::task::Id, Running>,
    aborts: HashMap<usize, AbortHandle>,
    round: Round,
    falling_behind: bool,
    report: CycleReport,
}

impl<'p> Run<'p> {
    pub(super) fn new(poller: &'p Arc<Poller>, set: Arc<TargetSet>, interval: Option<Duration>) -> Self {
        let schedule = Schedule::new(interval, set.settings.concurrency);
        let mut run = Run {
            poller,
            set: Arc::new(TargetSet::empty()),
            schedule,
            slots: Vec::new(),
            slot_of: HashMap::new(),
            lanes: HashMap::new(),
            listings: JoinSet::new(),
            running: HashMap::new(),
            aborts: HashMap::new(),
            round: Round::new(std::iter::empty(), Instant::now(), poller.calls()),
            falling_behind: false,
            report: CycleReport::default(),
        };
        run.take(set);
        run.round = Round::new(run.slot_of.values().copied(), Instant::now(), poller.calls());
        run
    }

    /// Takes a new target set: targets that stay keep their slot, cadence and listing in
    /// flight (with the new target's query from their next listing); new ones are due at once;
    /// those that left are aborted and leave the round. A new interval re-spreads every slot.
    /// A set that says how it differs from the one taken last is applied by its change alone.
    fn take(&mut self, set: Arc<TargetSet>) {
        let now = Instant::now();
        match &set.change {
            Some(change) if change.from == self.set.generation => {
                self.take_change(change, set.settings.interval, now)
            }
            _ => self.take_whole(&set, now),
        }
        if let Some(interval) = self.schedule.interval().map(|_| set.settings.interval) {
            if self.schedule.interval() != Some(interval) {
                tracing::info!(poll_interval = ?interval, "poll_interval changed: every target's next listing is re-spread over the new interval");
                self.schedule.respread(interval, now);
            }
        }
        self.schedule.set_per_lane(set.settings.concurrency);
        self.set = set;
    }

    /// Every target of `set` is looked up: the ones not in it leave.
    fn take_whole(&mut self, set: &TargetSet, now: Instant) {
        let places = self.places(&set.targets);
        let mut kept = vec![false; self.slots.len()];
        for (target, place) in set.targets.iter().zip(places) {
            match self.slot_of.get(&target.key) {
                Some(&slot) => {
                    self.slots[slot] = Some(Arc::clone(target));
                    kept[slot] = true;
                }
                None => self.join(target, place, set.settings.interval, now),
            }
        }
        let leaving: Vec<usize> =
            (0..kept.len()).filter(|&slot| !kept[slot] && self.slots[slot].is_some()).collect();
        for slot in leaving {
            self.leave(slot);
        }
    }

    /// Only what changed: targets that left, joined (spread over the interval among
    /// themselves, lane by lane) or were rebuilt with another query.
    fn take_change(&mut self, change: &SetChange, interval: Duration, now: Instant) {
        for key in &change.left {
            if let Some(&slot) = self.slot_of.get(key) {
                self.leave(slot);
            }
        }
        for target in &change.rebuilt {
            if let Some(&slot) = self.slot_of.get(&target.key) {
                self.slots[slot] = Some(Arc::clone(target));
            }
        }
        let places = self.places(&change.joined);
        for (target, place) in change.joined.iter().zip(places) {
            self.join(target, place, interval, now);
        }
    }

    /// Each of `targets`' place among them: its lane, its rank in the lane and the lane's size,
    /// which spread a lane's first listings evenly over the interval.
    fn places(&mut self, targets: &[Arc<Target>]) -> Vec<Place> {
        let lanes: Vec<usize> = targets.iter().map(|target| self.lane_of(target.lane())).collect();
        let mut sizes: HashMap<usize, usize> = HashMap::new();
        for lane in &lanes {
            *sizes.entry(*lane).or_default() += 1;
        }
        let mut ranks: HashMap<usize, usize> = HashMap::new();
        let places = lanes.into_iter().map(|lane| {
            let rank = ranks.entry(lane).or_default();
            *rank += 1;
            Place { lane, rank: *rank - 1, of: sizes[&lane] }
        });
        places.collect()
    }

    /// A target joins: a slot in its lane, listed at once, then at its place in the interval.
    fn join(&mut self, target: &Arc<Target>, place: Place, interval: Duration, now: Instant) {
        let cadence = Cadence::first(now, interval, place.rank, place.of);
        let slot = self.schedule.add(place.lane, cadence);
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, None);
        }
        self.slots[slot] = Some(Arc::clone(target));
        self.slot_of.insert(target.key.clone(), slot);
    }

    /// A target left: its listing in flight is aborted, it leaves the round and the failure
    /// log.
    fn leave(&mut self, slot: usize) {
        let Some(target) = self.slots[slot].take() else { return };
        self.slot_of.remove(&target.key);
        self.schedule.remove(slot);
        if let Some(abort) = self.aborts.remove(&slot) {
            abort.abort();
        }
        self.poller.failures.forget(&target.key);
        if self.round.leave(slot) {
            self.end_round();
        }
    }

    fn lane_of(&mut self, key: LaneKey) -> usize {
        let next = self.lanes.len();
        *self.lanes.entry(key).or_insert(next)
    }

    /// Starts whatever the schedule lets start, and takes the results and new target sets,
    /// until `shutdown` or, for a one-pass schedule, until every target has been listed.
    pub(super) async fn drive(
        &mut self,
        sets: &mut watch::Receiver<Arc<TargetSet>>,
        shutdown: &CancellationToken,
    ) -> CycleReport {
        let mut expiry = tokio::time::interval(EXPIRY_CHECK);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sets_open = true;
        if self.round.is_complete() {
            self.end_round();
        }
        loop {
            let now = Instant::now();
            self.schedule.promote_due(now);
            while let Some(start) = self.schedule.next_start() {
                self.start(start, now);
            }
            if self.schedule.interval().is_none() && self.schedule.is_idle() {
                break;
            }
            let wakeup = self.schedule.next_wakeup();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = sets.changed(), if sets_open => match changed {
                    Ok(()) => {
                        let set = Arc::clone(&sets.borrow_and_update());
                        self.take(set);
                    }
                    Err(_) => sets_open = false,
                },
                Some(joined) = self.listings.join_next_with_id() => self.finished(joined),
                _ = sleep_until_some(wakeup) => {}
                _ = expiry.tick() => self.poller.expire_stale(self.set.settings.max_staleness),
            }
        }
        // Dropping the set aborts the listings still in flight.
        self.listings.shutdown().await;
        self.report
    }

    fn start(&mut self, start: Start, now: Instant) {
        let Some(target) = self.slots[start.slot].clone() else { return };
        self.note_lag(start, now);
        let poller = Arc::clone(self.poller);
        let set = Arc::clone(&self.set);
        let handle = self
            .listings
            .spawn(async move { poller.list(&target, set.generation, set.settings, &set.pacer).await });
        self.running.insert(handle.id(), Running { slot: start.slot, started: now });
        self.aborts.insert(start.slot, handle);
    }

    fn finished(&mut self, joined: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>) {
        let (id, outcome) = match joined {
            Ok((id, outcome)) => (id, outcome),
            Err(err) if err.is_cancelled() => (err.id(), Outcome::Dropped),
            Err(err) => {
                tracing::error!(error = %err, "a listing ended abnormally");
                (err.id(), Outcome::Failed)
            }
        };
        let Some(Running { slot, started }) = self.running.remove(&id) else { return };
        if self.aborts.get(&slot).is_some_and(|abort| abort.id() == id) {
            self.aborts.remove(&slot);
        }
        self.schedule.finished(slot, started);
        self.report.add(outcome);
        if outcome != Outcome::Dropped && self.round.attempted(slot) {
            self.end_round();
        }
    }

    fn note_lag(&mut self, start: Start, now: Instant) {
        let interval = self.set.settings.interval;
        let lag = now.saturating_duration_since(start.due);
        self.round.max_lag = self.round.max_lag.max(lag);
        if lag > interval && !self.falling_behind && self.schedule.interval().is_some() {
            self.falling_behind = true;
            tracing::warn!(
                lag_seconds = lag.as_secs_f64(),
                poll_interval = ?interval,
                "polling cannot keep up with poll_interval: listings start more than an interval late; raise rate_limit_per_region or concurrency, or poll_interval (aliyun_dbs_poll_lag_seconds)"
            );
        }
    }

    /// Every target present at the round's start has been attempted (or has left): the round
    /// is recorded and the next one starts with the targets present now.
    fn end_round(&mut self) {
        let now = Instant::now();
        let calls = self.poller.calls();
        let report = self.round.report(now, calls);
        self.poller.store.record_round(report);
        self.poller.failures.summarise();
        self.poller.expire_stale(self.set.settings.max_staleness);
        if self.falling_behind && self.round.max_lag <= self.set.settings.interval / 2 {
            self.falling_behind = false;
            tracing::info!("polling keeps up with poll_interval again");
        }
        tracing::debug!(
            seconds = report.duration_seconds,
            calls = report.api_calls,
            lag_seconds = report.lag_seconds,
            "round over every target done"
        );
        self.round = Round::new(self.slot_of.values().copied(), now, calls);
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
