//! When and how long to wait before trying a failed call again, and the loop that does it.
//!
//! Bounded exponential backoff with full jitter (a random wait between zero and the capped
//! exponential), so that many targets throttled at once do not come back in lockstep. A
//! service hint (`x-acs-retry-after`) is honoured as a floor.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use rand::Rng;

use super::client::{RpcClient, RpcRequest, RpcResponse};
use super::error::RpcError;
use super::key::KeySource;

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

/// What the retry loop needs to know of a failure.
pub trait Retryable {
    /// Whether the same request may succeed later.
    fn is_retryable(&self) -> bool;
    /// The service's hint on when to retry.
    fn retry_after(&self) -> Option<Duration>;
    /// Whether the service refused the STS token the call was signed with (`InvalidSecurityToken.*`).
    fn token_refused(&self) -> bool;
}

impl Retryable for RpcError {
    fn is_retryable(&self) -> bool {
        RpcError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        RpcError::retry_after(self)
    }

    fn token_refused(&self) -> bool {
        self.code().is_some_and(|code| code.starts_with("InvalidSecurityToken"))
    }
}

impl RetryPolicy {
    pub const NONE: RetryPolicy =
        RetryPolicy { max_attempts: 1, base_delay: Duration::ZERO, max_delay: Duration::ZERO };

    /// The wait before attempt `attempt + 1` after `err` on attempt `attempt` (1-based), or
    /// `None` when the error is final, attempts are used up, or the wait would end past `deadline`.
    pub fn next_delay(
        &self,
        attempt: u32,
        err: &(impl Retryable + ?Sized),
        deadline: Option<Instant>,
    ) -> Option<Duration> {
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

/// Whatever `before_call` reserved for one call (a request slot, say); dropped when the call
/// ends, before any retry back-off.
pub type CallSlot = Option<Box<dyn Send>>;

/// Told about every HTTP call, so the caller can pace, count and time them without the
/// client knowing anything of rate limits or metrics. `T` is what a successful call decodes to,
/// `E` its error.
pub trait CallObserver<T, E>: Send + Sync {
    /// Awaited before each call, retries included: where a rate limiter waits for a token.
    /// The slot it returns is held for that call only.
    fn before_call(&self) -> Pin<Box<dyn Future<Output = CallSlot> + Send + '_>> {
        Box::pin(std::future::ready(None))
    }

    fn on_call(&self, elapsed: Duration, outcome: Result<&T, &E>);
}

impl<T, E> CallObserver<T, E> for () {
    fn on_call(&self, _: Duration, _: Result<&T, &E>) {}
}

/// How one call is tried: the policy, the moment no retry wait may end past (a poll's
/// budget), and who is told about each attempt.
pub struct Attempts<'a, T, E> {
    pub retry: RetryPolicy,
    pub deadline: Option<Instant>,
    pub observer: &'a dyn CallObserver<T, E>,
}

impl RpcClient {
    /// Calls `request` until an attempt succeeds or the policy gives up: each attempt asks
    /// `keys` for its key, signs, sends, and `decode`s the answer into a `T`. A refused STS
    /// token makes `keys` forget it and the call goes once more, whatever the policy says.
    pub async fn call_with_retries<T, E, K>(
        &self,
        endpoint: &str,
        request: &RpcRequest,
        keys: &K,
        attempts: &Attempts<'_, T, E>,
        decode: impl Fn(&RpcResponse) -> Result<T, E>,
    ) -> Result<T, E>
    where
        K: KeySource + ?Sized,
        E: From<RpcError> + From<K::Error> + Retryable + fmt::Display,
    {
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            let slot = attempts.observer.before_call().await;
            let started = Instant::now();
            let result = self.attempt(endpoint, request, keys, &decode).await;
            drop(slot);
            attempts.observer.on_call(started.elapsed(), result.as_ref());
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if !refreshed && err.token_refused() {
                refreshed = true;
                tracing::debug!(endpoint, error = %err, "security token refused; fetching new credentials");
                keys.token_refused();
                continue;
            }
            let Some(delay) = attempts.retry.next_delay(attempt, &err, attempts.deadline) else {
                return Err(err);
            };
            let action = request.action();
            tracing::debug!(endpoint, action, attempt, delay_ms = delay.as_millis() as u64, error = %err, "retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt<T, E, K>(
        &self,
        endpoint: &str,
        request: &RpcRequest,
        keys: &K,
        decode: &impl Fn(&RpcResponse) -> Result<T, E>,
    ) -> Result<T, E>
    where
        K: KeySource + ?Sized,
        E: From<RpcError> + From<K::Error>,
    {
        let key = keys.key().await?;
        let response = self.call(endpoint, request, Some(&key)).await?;
        decode(&response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::error::TransportKind;

    fn throttled(retry_after: Option<Duration>) -> RpcError {
        RpcError::Http {
            status: 400,
            code: "Throttling.User".into(),
            message: String::new(),
            request_id: "R".into(),
            retry_after,
        }
    }

    fn transport() -> RpcError {
        RpcError::Transport { kind: TransportKind::Reset, endpoint: "e".into(), detail: "d".into() }
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
        let auth = RpcError::Http {
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
