//! When each target is listed next, and which due listings may start now.
//!
//! Every target has an anchor: its place in the poll interval, its rank among its lane's
//! targets spread evenly over the interval, so each lane's calls are spread over the interval
//! in steady state. The first listing of a target is due at once; later ones fall on its anchor
//! plus whole intervals, at least half an interval after the previous start (a listing that
//! started late does not make the next one come early; one that started very late skips a slot
//! rather than running back to back).
//!
//! Due listings wait in their lane (an account's region: one token bucket); a lane starts at
//! most `per_lane` listings at once, so a lane out of tokens holds back only its own listings.
//!
//! Targets come and go while the schedule runs: each has a slot, numbered, that keeps its
//! cadence for as long as it stays. A slot removed while its listing runs is freed when the
//! listing ends; the entries a removed slot left in the queues are recognised by its epoch
//! and skipped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Where a target stands in its cadence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    pub anchor: Instant,
    pub next_due: Instant,
}

impl Cadence {
    /// A new target: listed at once, then at `now + interval * rank / count` plus whole
    /// intervals.
    pub fn first(now: Instant, interval: Duration, rank: usize, count: usize) -> Self {
        Cadence { anchor: spread(now, interval, rank, count), next_due: now }
    }

    /// The first slot of the anchor's series at or after `not_before`.
    fn slot_after(&self, not_before: Instant, interval: Duration) -> Instant {
        if not_before <= self.anchor || interval.is_zero() {
            return self.anchor.max(not_before);
        }
        let behind = (not_before - self.anchor).as_secs_f64();
        let periods = (behind / interval.as_secs_f64()).ceil();
        self.anchor + interval.mul_f64(periods)
    }
}

/// The `rank`-th of `count` places spread evenly over the interval after `now`.
fn spread(now: Instant, interval: Duration, rank: usize, count: usize) -> Instant {
    now + interval.mul_f64(rank as f64 / count.max(1) as f64)
}

/// A listing the schedule lets start: the target's slot and when it was due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    pub slot: usize,
    pub due: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Waiting,
    Ready,
    Running,
    /// Removed while its listing runs: freed when the listing ends.
    Leaving,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    lane: usize,
    cadence: Cadence,
    phase: Phase,
}

#[derive(Debug, Default)]
struct Lane {
    ready: VecDeque<(usize, u32)>,
    in_flight: usize,
}

#[derive(Debug)]
pub struct Schedule {
    /// `None`: one pass over every target (the `once` command), nothing is listed again.
    interval: Option<Duration>,
    per_lane: usize,
    slots: Vec<Option<Slot>>,
    /// Per slot number, moved each time the slot is queued anew or freed, so that the queue
    /// entries it left before are skipped (kept across reuse of the number).
    epochs: Vec<u32>,
    free: Vec<usize>,
    waiting: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    lanes: Vec<Lane>,
    /// The lane the next search for a startable listing begins with, so lanes take turns.
    turn: usize,
}

impl Schedule {
    pub fn new(interval: Option<Duration>, per_lane: usize) -> Self {
        Schedule {
            interval,
            per_lane: per_lane.max(1),
            slots: Vec::new(),
            epochs: Vec::new(),
            free: Vec::new(),
            waiting: BinaryHeap::new(),
            lanes: Vec::new(),
            turn: 0,
        }
    }

    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    pub fn set_per_lane(&mut self, per_lane: usize) {
        self.per_lane = per_lane.max(1);
    }

    /// A new target in `lane` with `cadence`; returns its slot.
    pub fn add(&mut self, lane: usize, cadence: Cadence) -> usize {
        if self.lanes.len() <= lane {
            self.lanes.resize_with(lane + 1, Lane::default);
        }
        let slot = Slot { lane, cadence, phase: Phase::Waiting };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(slot);
                index
            }
            None => {
                self.slots.push(Some(slot));
                self.epochs.push(0);
                self.slots.len() - 1
            }
        };
        self.queue(index);
        index
    }

    /// Takes a target out. A listing of it that is running keeps its place in the lane until
    /// [`Schedule::finished`] is called for it.
    pub fn remove(&mut self, index: usize) {
        let Some(slot) = self.slots[index].as_mut() else { return };
        if slot.phase == Phase::Running {
            slot.phase = Phase::Leaving;
        } else {
            self.release(index);
        }
    }

    /// A new interval: every target that stays gets a new anchor spread over it (in the order
    /// of their next listings, lane by lane) and is due at the latest at that anchor, so no
    /// target waits for a slot of the old interval.
    pub fn respread(&mut self, interval: Duration, now: Instant) {
        self.interval = Some(interval);
        for lane in 0..self.lanes.len() {
            let mut members: Vec<usize> = (0..self.slots.len())
                .filter(|&i| self.slots[i].is_some_and(|s| s.lane == lane && s.phase != Phase::Leaving))
                .collect();
            members.sort_by_key(|&i| self.slots[i].map(|s| s.cadence.next_due));
            let count = members.len();
            for (rank, index) in members.into_iter().enumerate() {
                let anchor = spread(now, interval, rank, count);
                let Some(slot) = self.slots[index].as_mut() else { continue };
                slot.cadence.anchor = anchor;
                if slot.phase == Phase::Waiting && slot.cadence.next_due > anchor {
                    slot.cadence.next_due = anchor;
                    self.queue(index);
                }
            }
        }
    }

    /// Moves the listings due by `now` into their lanes.
    pub fn promote_due(&mut self, now: Instant) {
        while let Some(Reverse((due, index, epoch))) = self.waiting.peek().copied() {
            if due > now {
                break;
            }
            self.waiting.pop();
            let Some(slot) = self.slots[index].as_mut() else { continue };
            if self.epochs[index] != epoch || slot.phase != Phase::Waiting {
                continue;
            }
            slot.phase = Phase::Ready;
            self.lanes[slot.lane].ready.push_back((index, epoch));
        }
    }

    /// The next due listing whose lane has room, lanes taking turns.
    pub fn next_start(&mut self) -> Option<Start> {
        let count = self.lanes.len();
        for step in 0..count {
            let lane_index = (self.turn + step) % count;
            if self.lanes[lane_index].in_flight >= self.per_lane {
                continue;
            }
            while let Some((index, epoch)) = self.lanes[lane_index].ready.pop_front() {
                let Some(slot) = self.slots[index].as_mut() else { continue };
                if self.epochs[index] != epoch || slot.phase != Phase::Ready {
                    continue;
                }
                slot.phase = Phase::Running;
                self.lanes[lane_index].in_flight += 1;
                self.turn = (lane_index + 1) % count;
                return Some(Start { slot: index, due: slot.cadence.next_due });
            }
        }
        None
    }

    /// A listing that started at `started` has ended: its lane has room again, and the target
    /// is due at its next slot (or its slot is freed, when it was removed meanwhile).
    pub fn finished(&mut self, index: usize, started: Instant) {
        let Some(slot) = self.slots[index].as_mut() else { return };
        let lane = &mut self.lanes[slot.lane];
        lane.in_flight = lane.in_flight.saturating_sub(1);
        match (slot.phase, self.interval) {
            (Phase::Leaving, _) => self.release(index),
            (Phase::Running, Some(interval)) => {
                slot.cadence.next_due = slot.cadence.slot_after(started + interval / 2, interval);
                slot.phase = Phase::Waiting;
                self.queue(index);
            }
            // One pass: listed once, then done.
            (Phase::Running, None) => self.release(index),
            _ => {}
        }
    }

    /// When the next waiting listing falls due.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.waiting.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Nothing waiting, ready or running: a one-pass schedule is complete.
    pub fn is_idle(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// The cadence of a slot that is in use.
    #[cfg(test)]
    pub fn cadence(&self, index: usize) -> Option<Cadence> {
        self.slots.get(index).copied().flatten().map(|slot| slot.cadence)
    }

    /// Queues a waiting slot at its due time under a new epoch.
    fn queue(&mut self, index: usize) {
        let Some(slot) = self.slots[index].as_mut() else { return };
        slot.phase = Phase::Waiting;
        let epoch = &mut self.epochs[index];
        *epoch = epoch.wrapping_add(1);
        self.waiting.push(Reverse((slot.cadence.next_due, index, *epoch)));
    }

    fn release(&mut self, index: usize) {
        self.epochs[index] = self.epochs[index].wrapping_add(1);
        self.slots[index] = None;
        self.free.push(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn starts(schedule: &mut Schedule) -> Vec<usize> {
        std::iter::from_fn(|| schedule.next_start()).map(|s| s.slot).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn every_target_is_due_at_once_and_lanes_take_turns() {
        let now = Instant::now();
        let mut schedule = Schedule::new(Some(MINUTE), 8);
        for (lane, rank) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            schedule.add(lane, Cadence::first(now, MINUTE, rank, 2));
        }
        schedule.promote_due(now);
        assert_eq!(starts(&mut schedule), [0, 2, 1, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_lane_does_not_hold_back_another_lane() {
        let now = Instant::now();
        let mut schedule = Schedule::new(Some(MINUTE), 2);
        for lane in [0, 0, 0, 0, 1] {
            schedule.add(lane, Cadence::first(now, MINUTE, 0, 1));
        }
        schedule.promote_due(now);
        assert_eq!(starts(&mut schedule), [0, 4, 1], "lane 0 runs two, lane 1 still starts");
        schedule.finished(0, now);
        assert_eq!(starts(&mut schedule), [2]);
    }

    #[tokio::test(start_paused = true)]
    async fn steady_state_spreads_a_lane_over_the_interval() {
        let now = Instant::now();
        let mut schedule = Schedule::new(Some(MINUTE), 8);
        for rank in 0..4 {
            schedule.add(0, Cadence::first(now, MINUTE, rank, 4));
        }
        schedule.promote_due(now);
        for slot in starts(&mut schedule) {
            schedule.finished(slot, now);
        }
        let next: Vec<Duration> = (0..4).map(|i| schedule.cadence(i).unwrap().next_due - now).collect();
        let secs = Duration::from_secs;
        assert_eq!(next, [secs(60), secs(75), secs(30), secs(45)], "half an interval to one and a half");
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_start_keeps_the_cadence_and_a_very_late_one_skips_a_slot() {
        let now = Instant::now();
        let cadence = Cadence { anchor: now, next_due: now };
        assert_eq!(cadence.slot_after(now + Duration::from_secs(50), MINUTE), now + MINUTE);
        assert_eq!(cadence.slot_after(now + MINUTE, MINUTE), now + MINUTE);
        assert_eq!(cadence.slot_after(now + Duration::from_secs(61), MINUTE), now + MINUTE * 2);
        assert_eq!(cadence.slot_after(now - MINUTE, MINUTE), now);
    }

    #[tokio::test(start_paused = true)]
    async fn a_one_pass_schedule_ends_idle() {
        let now = Instant::now();
        let mut schedule = Schedule::new(None, 1);
        schedule.add(0, Cadence::first(now, MINUTE, 0, 1));
        schedule.add(1, Cadence::first(now, MINUTE, 0, 1));
        schedule.promote_due(now);
        let started = starts(&mut schedule);
        assert!(!schedule.is_idle());
        for slot in started {
            schedule.finished(slot, now);
        }
        assert!(schedule.is_idle());
    }

    #[tokio::test(start_paused = true)]
    async fn a_removed_target_is_never_started_and_its_slot_is_reused_cleanly() {
        let now = Instant::now();
        let mut schedule = Schedule::new(Some(MINUTE), 8);
        let gone = schedule.add(0, Cadence::first(now, MINUTE, 0, 2));
        let stays = schedule.add(0, Cadence::first(now, MINUTE, 1, 2));
        schedule.remove(gone);
        let new = schedule.add(0, Cadence { anchor: now + MINUTE, next_due: now + MINUTE });
        assert_eq!(new, gone, "the number is reused");
        schedule.promote_due(now);
        assert_eq!(starts(&mut schedule), [stays], "the old entry of the reused slot is skipped");
        schedule.promote_due(now + MINUTE);
        assert_eq!(starts(&mut schedule), [new]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_removed_while_running_frees_its_lane_when_it_ends() {
        let now = Instant::now();
        let mut schedule = Schedule::new(Some(MINUTE), 1);
        let running = schedule.add(0, Cadence::first(now, MINUTE, 0, 2));
        let waiting = schedule.add(0, Cadence::first(now, MINUTE, 1, 2));
        schedule.promote_due(now);
        assert_eq!(starts(&mut schedule), [running]);
        schedule.remove(running);
        assert_eq!(starts(&mut schedule), Vec::<usize>::new(), "the lane is still busy");
        schedule.finished(running, now);
        assert_eq!(starts(&mut schedule), [waiting]);
        assert_eq!(schedule.cadence(running), None, "freed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_interval_brings_every_waiting_target_within_one_new_interval() {
        let now = Instant::now();
        let ten_minutes = MINUTE * 10;
        let mut schedule = Schedule::new(Some(ten_minutes), 8);
        for rank in 0..3 {
            schedule.add(0, Cadence::first(now, ten_minutes, rank, 3));
        }
        schedule.promote_due(now);
        for slot in starts(&mut schedule) {
            schedule.finished(slot, now);
        }
        let later = now + Duration::from_secs(5);
        let two = Duration::from_secs(2);
        schedule.respread(two, later);
        for slot in 0..3 {
            let due = schedule.cadence(slot).unwrap().next_due;
            assert!(due <= later + two, "slot {slot} is due {:?} after the change", due - later);
        }
        schedule.promote_due(later + two);
        assert_eq!(starts(&mut schedule).len(), 3);
    }
}
