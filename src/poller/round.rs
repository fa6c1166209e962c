//! A round over every target: over when every target present at its start has been attempted
//! (or has left). Targets that join meanwhile wait for the next round, so a changing estate
//! never keeps a round, or the readiness that the first round gives, from ending.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::RoundReport;

#[derive(Debug)]
pub(super) struct Round {
    started: Instant,
    /// The slots of the targets not yet attempted in this round.
    pending: HashSet<usize>,
    pub(super) max_lag: Duration,
    calls_at_start: u64,
}

impl Round {
    pub(super) fn new(slots: impl IntoIterator<Item = usize>, started: Instant, calls_at_start: u64) -> Self {
        Round { started, pending: slots.into_iter().collect(), max_lag: Duration::ZERO, calls_at_start }
    }

    /// A target of the slot has been attempted; true when it was the last of the round.
    pub(super) fn attempted(&mut self, slot: usize) -> bool {
        self.pending.remove(&slot) && self.pending.is_empty()
    }

    /// The slot's target left; true when the round was waiting only for it.
    pub(super) fn leave(&mut self, slot: usize) -> bool {
        self.attempted(slot)
    }

    pub(super) fn is_complete(&self) -> bool {
        self.pending.is_empty()
    }

    pub(super) fn report(&self, now: Instant, calls: u64) -> RoundReport {
        RoundReport {
            duration_seconds: (now - self.started).as_secs_f64(),
            api_calls: calls - self.calls_at_start,
            lag_seconds: self.max_lag.as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_round_ends_when_every_target_present_at_its_start_has_been_attempted() {
        let mut round = Round::new([0, 1], Instant::now(), 0);
        assert!(!round.attempted(0));
        assert!(!round.attempted(0), "a second listing of the same target does not count");
        assert!(!round.attempted(7), "a target that joined after the start is not waited for");
        assert!(round.attempted(1));
        assert!(round.is_complete());
        assert!(
            Round::new([], Instant::now(), 0).is_complete(),
            "a shard with no targets is complete at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_that_leaves_is_no_longer_waited_for() {
        let mut round = Round::new([0, 1], Instant::now(), 0);
        assert!(!round.attempted(0));
        assert!(round.leave(1), "the round waited only for the target that left");
    }
}
