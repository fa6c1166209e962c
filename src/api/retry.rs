//! When and how long to wait before trying a failed call again.
//!
//! Bounded exponential backoff with full jitter (a random wait between zero and the capped
//! exponential), so that many targets throttled at once do not come back in lockstep. A
//! service hint (`x-acs-retry-after`) is honoured as a floor.

use std::time::{Duration, Instant};

use rand::Rng;

use super::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included; 1 disables retries.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    pub const NONE: RetryPolicy =
        RetryPolicy { max_attempts: 1, base_delay: Duration::ZERO, max_delay: Duration::ZERO };

    /// The wait before attempt `attempt + 1` after `err` on attempt `attempt` (1-based), or
    /// `None` when the error is final, attempts are used up, or the wait would end past `deadline`.
    pub fn next_delay(&self, attempt: u32, err: &ApiError, deadline: Option<Instant>) -> Option<Duration> {
        if !err.is_retryable() || attempt >= self.max_attempts {
            return None;
        }
        let delay =
            self.backoff(attempt).max(err.retry_after().unwrap_or(Duration::ZERO).min(self.max_delay));
        match deadline {
            Some(deadline) if Instant::now() + delay >= deadline => None,
            _ => Some(delay),
        }
    }

    /// Full jitter: uniform in `[0, min(max_delay, base_delay * 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(1u32 << (attempt.saturating_sub(1)).min(20));
        let cap = exponential.min(self.max_delay);
        if cap.is_zero() {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::rng().random_range(0..=cap.as_nanos().min(u64::MAX as u128) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::TransportKind;

    fn throttled(retry_after: Option<Duration>) -> ApiError {
        ApiError::Http {
            status: 400,
            code: "Throttling.User".into(),
            message: String::new(),
            request_id: "R".into(),
            retry_after,
        }
    }

    fn transport() -> ApiError {
        ApiError::Transport { kind: TransportKind::Reset, endpoint: "e".into(), detail: "d".into() }
    }

    #[test]
    fn waits_stay_within_the_capped_exponential() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        for _ in 0..200 {
            assert!(policy.next_delay(1, &transport(), None).unwrap() <= Duration::from_millis(100));
            assert!(policy.next_delay(2, &transport(), None).unwrap() <= Duration::from_millis(200));
            assert!(policy.next_delay(9, &transport(), None).unwrap() <= Duration::from_millis(500));
        }
    }

    #[test]
    fn the_service_hint_is_a_floor_capped_by_max_delay() {
        let policy = RetryPolicy::default();
        let delay = policy.next_delay(1, &throttled(Some(Duration::from_secs(2))), None).unwrap();
        assert!(delay >= Duration::from_secs(2));
        let delay = policy.next_delay(1, &throttled(Some(Duration::from_secs(600))), None).unwrap();
        assert_eq!(delay, policy.max_delay);
    }

    #[test]
    fn final_errors_exhausted_attempts_and_deadlines_stop_retrying() {
        let policy = RetryPolicy::default();
        let auth = ApiError::Http {
            status: 400,
            code: "SignatureDoesNotMatch".into(),
            message: String::new(),
            request_id: "R".into(),
            retry_after: None,
        };
        assert_eq!(policy.next_delay(1, &auth, None), None);
        assert_eq!(policy.next_delay(policy.max_attempts, &transport(), None), None);
        let soon = Instant::now() + Duration::from_millis(1);
        assert_eq!(policy.next_delay(1, &throttled(Some(Duration::from_secs(1))), Some(soon)), None);
        assert_eq!(RetryPolicy::NONE.next_delay(1, &transport(), None), None);
    }
}
