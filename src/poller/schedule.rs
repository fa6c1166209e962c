//! When each target is listed next, and which due listings may start now.
//!
//! Every target has an anchor: its place in the poll interval, its rank among its region's
//! targets spread evenly over the interval, so each region's calls are spread over the
//! interval in steady state. The first listing of a target is due at once; later ones fall
//! on its anchor plus whole intervals, at least half an interval after the previous start
//! (a listing that started late does not make the next one come early; one that started very
//! late skips a slot rather than running back to back).
//!
//! Due listings wait in their region's lane; a lane starts at most `per_region` listings at
//! once, so a region out of tokens holds back only its own listings.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Where a target stands in its cadence; carried over a reload for the targets that stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    pub anchor: Instant,
    pub next_due: Instant,
}

impl Cadence {
    /// A new target: listed at once, then at `now + interval * rank / count` plus whole
    /// intervals.
    pub fn first(now: Instant, interval: Duration, rank: usize, count: usize) -> Self {
        let offset = interval.mul_f64(rank as f64 / count.max(1) as f64);
        Cadence { anchor: now + offset, next_due: now }
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

/// A listing the schedule lets start: the target's index and when it was due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    pub target: usize,
    pub due: Instant,
}

#[derive(Debug, Default)]
struct Lane {
    ready: VecDeque<usize>,
    in_flight: usize,
}

#[derive(Debug)]
pub struct Schedule {
    /// `None`: one pass over every target (the `once` command), nothing is listed again.
    interval: Option<Duration>,
    per_region: usize,
    lane_of: Vec<usize>,
    cadences: Vec<Cadence>,
    waiting: BinaryHeap<Reverse<(Instant, usize)>>,
    lanes: Vec<Lane>,
    /// The lane the next search for a startable listing begins with, so lanes take turns.
    turn: usize,
}

impl Schedule {
    /// `lane_of[i]` is target `i`'s region, numbered from 0; `cadences[i]` its cadence.
    pub fn new(
        lane_of: Vec<usize>,
        cadences: Vec<Cadence>,
        interval: Option<Duration>,
        per_region: usize,
    ) -> Self {
        assert_eq!(lane_of.len(), cadences.len(), "one cadence per target");
        let lanes = (0..lane_of.iter().max().map_or(0, |max| max + 1)).map(|_| Lane::default()).collect();
        let waiting = cadences.iter().enumerate().map(|(i, c)| Reverse((c.next_due, i))).collect();
        Schedule { interval, per_region: per_region.max(1), lane_of, cadences, waiting, lanes, turn: 0 }
    }

    /// Moves the listings due by `now` into their lanes.
    pub fn promote_due(&mut self, now: Instant) {
        while let Some(Reverse((due, target))) = self.waiting.peek().copied() {
            if due > now {
                break;
            }
            self.waiting.pop();
            self.lanes[self.lane_of[target]].ready.push_back(target);
        }
    }

    /// The next due listing whose region has room, lanes taking turns.
    pub fn next_start(&mut self) -> Option<Start> {
        let count = self.lanes.len();
        for step in 0..count {
            let index = (self.turn + step) % count;
            let lane = &mut self.lanes[index];
            if lane.in_flight >= self.per_region {
                continue;
            }
            if let Some(target) = lane.ready.pop_front() {
                lane.in_flight += 1;
                self.turn = (index + 1) % count;
                return Some(Start { target, due: self.cadences[target].next_due });
            }
        }
        None
    }

    /// A listing that started at `started` has ended: its region has room again, and the
    /// target is due at its next slot.
    pub fn finished(&mut self, target: usize, started: Instant) {
        let lane = &mut self.lanes[self.lane_of[target]];
        lane.in_flight = lane.in_flight.saturating_sub(1);
        let Some(interval) = self.interval else { return };
        let cadence = &mut self.cadences[target];
        cadence.next_due = cadence.slot_after(started + interval / 2, interval);
        self.waiting.push(Reverse((cadence.next_due, target)));
    }

    /// When the next waiting listing falls due.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.waiting.peek().map(|Reverse((due, _))| *due)
    }

    /// Nothing waiting, ready or running: a one-pass schedule is complete.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.lanes.iter().all(|lane| lane.ready.is_empty() && lane.in_flight == 0)
    }

    /// Every target's cadence, by index; a listing still running or queued keeps the due
    /// time it had, so after a reload it is listed again at once.
    pub fn cadences(&self) -> &[Cadence] {
        &self.cadences
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn starts(schedule: &mut Schedule) -> Vec<usize> {
        std::iter::from_fn(|| schedule.next_start()).map(|s| s.target).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn every_target_is_due_at_once_and_regions_take_turns() {
        let now = Instant::now();
        let cadences = (0..4).map(|rank| Cadence::first(now, MINUTE, rank % 2, 2)).collect();
        let mut schedule = Schedule::new(vec![0, 0, 1, 1], cadences, Some(MINUTE), 8);
        schedule.promote_due(now);
        assert_eq!(starts(&mut schedule), [0, 2, 1, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_lane_does_not_hold_back_another_region() {
        let now = Instant::now();
        let cadences = (0..5).map(|_| Cadence::first(now, MINUTE, 0, 1)).collect();
        let mut schedule = Schedule::new(vec![0, 0, 0, 0, 1], cadences, Some(MINUTE), 2);
        schedule.promote_due(now);
        assert_eq!(starts(&mut schedule), [0, 4, 1], "region 0 runs two, region 1 still starts");
        schedule.finished(0, now);
        assert_eq!(starts(&mut schedule), [2]);
    }

    #[tokio::test(start_paused = true)]
    async fn steady_state_spreads_a_region_over_the_interval() {
        let now = Instant::now();
        let cadences = (0..4).map(|rank| Cadence::first(now, MINUTE, rank, 4)).collect();
        let mut schedule = Schedule::new(vec![0; 4], cadences, Some(MINUTE), 8);
        schedule.promote_due(now);
        for start in std::iter::from_fn(|| schedule.next_start()).collect::<Vec<_>>() {
            schedule.finished(start.target, now);
        }
        let next: Vec<Duration> = schedule.cadences().iter().map(|c| c.next_due - now).collect();
        let secs = |s| Duration::from_secs(s);
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
        let mut schedule = Schedule::new(vec![0, 1], vec![Cadence::first(now, MINUTE, 0, 1); 2], None, 1);
        schedule.promote_due(now);
        let started = starts(&mut schedule);
        assert!(!schedule.is_idle());
        for target in started {
            schedule.finished(target, now);
        }
        assert!(schedule.is_idle());
        assert_eq!(schedule.next_wakeup(), None);
    }
}
