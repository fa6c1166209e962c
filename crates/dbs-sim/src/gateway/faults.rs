//! Which fault, if any, the next request gets, and how each fault is answered.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand::seq::IndexedRandom as _;
use rand::Rng as _;

use super::wire::{GatewayError, Reply};

/// A misbehaviour served instead of (or, for latency, before) the normal answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Sleep, then answer normally.
    Latency(Duration),
    /// HTTP 400 `Throttling.User` with `x-acs-retry-after: 100`.
    Throttle,
    /// 500 `InternalError`, 503 `ServiceUnavailable` (JSON); 502/504 an HTML gateway page;
    /// any other status `UnknownError` (JSON).
    ServerError(u16),
    /// HTTP 200 with `Success:"false"` and `ErrCode:"DBS.InternalError"`.
    InBandError,
    /// HTTP 200 whose body is not JSON.
    Malformed,
    /// HTTP 200 whose body stops halfway: `Content-Length` promises more, then the connection closes.
    Truncated,
    /// The connection is reset without any response.
    Reset,
}

impl Fault {
    /// The bounded name under which [`super::Gateway::injected`] counts this fault.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Latency(_) => "latency",
            Fault::Throttle => "throttle",
            Fault::ServerError(_) => "server_error",
            Fault::InBandError => "in_band_error",
            Fault::Malformed => "malformed",
            Fault::Truncated => "truncated",
            Fault::Reset => "reset",
        }
    }
}

/// Queued faults first (FIFO), then random ones at the configured rate.
#[derive(Default)]
pub(super) struct FaultPlan {
    queue: VecDeque<Fault>,
    rate: f64,
    kinds: Vec<Fault>,
    served: BTreeMap<&'static str, u64>,
}

impl FaultPlan {
    pub fn enqueue(&mut self, fault: Fault, times: u32) {
        self.queue.extend(std::iter::repeat_n(fault, times as usize));
    }

    pub fn set_rate(&mut self, probability: f64, kinds: Vec<Fault>) {
        self.rate = if probability.is_finite() { probability.clamp(0.0, 1.0) } else { 0.0 };
        self.kinds = kinds;
    }

    /// Picks the fault for the next request and counts it as served.
    pub fn next(&mut self) -> Option<Fault> {
        let fault = self.queue.pop_front().or_else(|| {
            if self.rate <= 0.0 || self.kinds.is_empty() {
                return None;
            }
            let mut rng = rand::rng();
            if rng.random_bool(self.rate) {
                self.kinds.choose(&mut rng).cloned()
            } else {
                None
            }
        })?;
        *self.served.entry(fault.kind()).or_insert(0) += 1;
        Some(fault)
    }

    pub fn served(&self) -> &BTreeMap<&'static str, u64> {
        &self.served
    }
}

/// How a fault is answered; `None` for the faults the HTTP layer serves itself
/// (latency delays the normal answer, a reset sends nothing).
pub(super) fn reply_for(fault: &Fault) -> Option<Reply> {
    let reply = match fault {
        Fault::Latency(_) | Fault::Reset => return None,
        Fault::Throttle => {
            let mut error =
                GatewayError::new(400, "Throttling.User", "Request was denied due to user flow control.");
            error.retry_after_ms = Some(100);
            Reply::Gateway(error)
        }
        Fault::ServerError(status @ (502 | 504)) => Reply::GatewayPage(*status),
        Fault::ServerError(500) => Reply::Gateway(GatewayError::new(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error, exception or failure.",
        )),
        Fault::ServerError(503) => Reply::Gateway(GatewayError::new(
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        )),
        Fault::ServerError(status) => {
            let status = if (100..=999).contains(status) { *status } else { 500 };
            Reply::Gateway(GatewayError::new(
                status,
                "UnknownError",
                "The server has encountered an unknown error.",
            ))
        }
        Fault::InBandError => Reply::in_band(
            "DBS.InternalError",
            "The request processing has failed due to some unknown error.",
        ),
        Fault::Malformed => Reply::Malformed,
        Fault::Truncated => Reply::Truncated,
    };
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_are_served_in_order_then_stop() {
        let mut plan = FaultPlan::default();
        plan.enqueue(Fault::Throttle, 2);
        plan.enqueue(Fault::Reset, 1);
        let served: Vec<_> = std::iter::from_fn(|| plan.next()).collect();
        assert_eq!(served, [Fault::Throttle, Fault::Throttle, Fault::Reset]);
        assert_eq!(plan.next(), None);
        assert_eq!(plan.served().get("throttle"), Some(&2));
        assert_eq!(plan.served().get("reset"), Some(&1));
    }

    #[test]
    fn a_rate_of_one_always_faults_and_zero_never() {
        let mut plan = FaultPlan::default();
        plan.set_rate(1.0, vec![Fault::Latency(Duration::ZERO)]);
        assert!((0..50).all(|_| plan.next().is_some()));
        plan.set_rate(0.0, vec![Fault::Malformed]);
        assert!((0..50).all(|_| plan.next().is_none()));
        plan.set_rate(f64::NAN, vec![Fault::Malformed]);
        assert_eq!(plan.next(), None);
        assert_eq!(plan.served().get("latency"), Some(&50));
    }
}
