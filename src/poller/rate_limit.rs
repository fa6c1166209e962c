//! A token bucket per region, so that a large estate spreads its calls over time instead of
//! tripping the API's flow control (`Throttling.User`), whatever `concurrency` allows.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

#[derive(Clone, Debug, Default)]
pub struct RegionLimits {
    buckets: HashMap<Arc<str>, Arc<DefaultDirectRateLimiter>>,
}

impl RegionLimits {
    /// One bucket per region: `per_second` tokens a second, bursting up to that many (at
    /// least one), so a fractional rate such as 0.5 means one call every two seconds.
    pub fn new<'a>(regions: impl IntoIterator<Item = &'a str>, per_second: f64) -> Self {
        let buckets = regions
            .into_iter()
            .map(|region| (Arc::from(region), Arc::new(RateLimiter::direct(quota(per_second)))))
            .collect();
        RegionLimits { buckets }
    }

    /// Waits for the region's next token; regions without a bucket are not limited.
    pub async fn acquire(&self, region: &str) {
        if let Some(bucket) = self.buckets.get(region) {
            bucket.until_ready().await;
        }
    }
}

fn quota(per_second: f64) -> Quota {
    let per_second = per_second.clamp(0.0001, 10_000.0);
    let period = Duration::from_secs_f64(1.0 / per_second);
    let burst = NonZeroU32::new(per_second.ceil() as u32).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period).expect("a positive period").allow_burst(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_is_granted_at_once_then_tokens_arrive_at_the_rate() {
        let limits = RegionLimits::new(["cn-hangzhou"], 5.0);
        let bucket = &limits.buckets[&Arc::<str>::from("cn-hangzhou")];
        for _ in 0..5 {
            assert!(bucket.check().is_ok(), "the burst covers one second of calls");
        }
        assert!(bucket.check().is_err(), "the sixth call must wait for a token");
    }

    #[tokio::test]
    async fn fractional_rates_allow_one_call_then_wait() {
        let limits = RegionLimits::new(["r"], 0.5);
        let bucket = &limits.buckets[&Arc::<str>::from("r")];
        assert!(bucket.check().is_ok());
        assert!(bucket.check().is_err());
    }

    #[tokio::test]
    async fn regions_do_not_share_a_bucket_and_unknown_regions_pass() {
        let limits = RegionLimits::new(["a", "b"], 1.0);
        limits.acquire("a").await;
        assert!(limits.buckets[&Arc::<str>::from("b")].check().is_ok());
        limits.acquire("unconfigured").await;
    }
}
