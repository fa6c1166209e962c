//! Pacing of API calls: a token bucket per account and region, and a cap on requests in flight.
//!
//! Alibaba Cloud's API quota is per account and region, so each (account, region) lane has its
//! own bucket: two accounts in one region each get the full `rate_limit_per_region`. A call
//! first waits for its lane's token, holding nothing, and only then for one of the
//! `concurrency` request slots, which it holds for the call alone (not for retry back-offs
//! or the listing's other pages). So a lane that has run out of tokens never holds a slot
//! that another lane's listing could use. The buckets run on tokio's clock, which tests
//! pause and advance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// One account's region: the unit of Alibaba Cloud's API quota.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LaneKey {
    pub account: Arc<str>,
    pub region_id: Arc<str>,
}

impl LaneKey {
    pub fn new(account: &str, region_id: &str) -> Self {
        LaneKey { account: account.into(), region_id: region_id.into() }
    }
}

/// The token buckets of every lane and the request slots shared by all of them.
#[derive(Debug)]
pub struct Pacer {
    buckets: HashMap<LaneKey, TokenBucket>,
    slots: Arc<Semaphore>,
}

impl Pacer {
    /// One bucket per lane of `per_second` calls a second, bursting up to that many (at
    /// least one, so 0.5 means one call every two seconds); `concurrency` requests in flight.
    pub fn new(lanes: impl IntoIterator<Item = LaneKey>, per_second: f64, concurrency: usize) -> Self {
        let buckets = lanes.into_iter().map(|lane| (lane, TokenBucket::new(per_second))).collect();
        Pacer { buckets, slots: Arc::new(Semaphore::new(concurrency.max(1))) }
    }

    /// Waits for the lane's next token, then for a request slot, which the caller holds
    /// while its call runs. Lanes without a bucket are not rate limited.
    pub async fn call_slot(&self, lane: &LaneKey) -> OwnedSemaphorePermit {
        if let Some(bucket) = self.buckets.get(lane) {
            bucket.take().await;
        }
        Arc::clone(&self.slots).acquire_owned().await.expect("the request semaphore is never closed")
    }
}

/// A token bucket kept as the time at which it will be full again ("theoretical arrival
/// time"): each caller reserves the next free moment under a short lock and sleeps until it,
/// so waiters are served in arrival order without polling.
#[derive(Debug)]
struct TokenBucket {
    period: Duration,
    /// How far ahead of now reservations may run: `burst - 1` periods.
    tolerance: Duration,
    full_at: Mutex<Option<Instant>>,
}

impl TokenBucket {
    fn new(per_second: f64) -> Self {
        let per_second = per_second.clamp(0.0001, 1_000_000.0);
        let period = Duration::from_secs_f64(1.0 / per_second);
        let burst = (per_second.ceil() as u32).max(1);
        TokenBucket { period, tolerance: period * (burst - 1), full_at: Mutex::new(None) }
    }

    /// The moment the next call may go, reserved for the caller.
    fn reserve(&self) -> Instant {
        let now = Instant::now();
        let mut full_at = crate::util::lock(&self.full_at);
        let start = full_at.map_or(now, |at| at.max(now));
        let slot = start.checked_sub(self.tolerance).map_or(now, |at| at.max(now));
        *full_at = Some(start + self.period);
        slot
    }

    async fn take(&self) {
        let slot = self.reserve();
        if slot > Instant::now() {
            tokio::time::sleep_until(slot).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_granted_at_once_then_tokens_arrive_at_the_rate() {
        let bucket = TokenBucket::new(5.0);
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(bucket.reserve(), start, "the burst covers one second of calls");
        }
        assert_eq!(bucket.reserve(), start + Duration::from_millis(200));
        assert_eq!(bucket.reserve(), start + Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_refills_to_its_burst_and_no_further() {
        let bucket = TokenBucket::new(2.0);
        for _ in 0..4 {
            bucket.take().await;
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        let now = Instant::now();
        assert_eq!((bucket.reserve(), bucket.reserve()), (now, now));
        assert_eq!(bucket.reserve(), now + Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn fractional_rates_allow_one_call_then_wait() {
        let bucket = TokenBucket::new(0.5);
        let start = Instant::now();
        assert_eq!(bucket.reserve(), start);
        assert_eq!(bucket.reserve(), start + Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_lane_does_not_delay_another_region_or_another_account() {
        let (a, b) = (LaneKey::new("prod", "a"), LaneKey::new("prod", "b"));
        let staging_a = LaneKey::new("staging", "a");
        let pacer = Arc::new(Pacer::new([a.clone(), b.clone(), staging_a.clone()], 1.0, 4));
        let start = Instant::now();
        drop(pacer.call_slot(&a).await);
        // Lane a's next token is a second away: its call waits, b's and staging's go at once.
        let waiting_on_a = tokio::spawn({
            let (pacer, a) = (Arc::clone(&pacer), a.clone());
            async move {
                drop(pacer.call_slot(&a).await);
                Instant::now()
            }
        });
        tokio::task::yield_now().await;
        drop(pacer.call_slot(&b).await);
        drop(pacer.call_slot(&staging_a).await);
        assert_eq!(Instant::now(), start, "neither b nor another account's a waits for a's empty bucket");
        assert_eq!(waiting_on_a.await.unwrap(), start + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_never_exceed_the_concurrency() {
        let pacer = Pacer::new(std::iter::empty(), 1.0, 2);
        let unlimited = LaneKey::new("default", "unlimited");
        let first = pacer.call_slot(&unlimited).await;
        let _second = pacer.call_slot(&unlimited).await;
        let third = tokio::time::timeout(Duration::from_secs(5), pacer.call_slot(&unlimited)).await;
        assert!(third.is_err(), "a third call waits while two are in flight");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), pacer.call_slot(&unlimited)).await;
        assert!(third.is_ok(), "a freed slot is taken");
    }
}
