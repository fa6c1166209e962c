//! What tests use to watch and upset the gateway, built only with the `testing` feature: the
//! faults it serves ([`FaultPlan`]) and the log of what it was asked.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use super::faults::{Fault, FaultPlan};
use super::{Call, Gateway, Reply};
use crate::util::lock;

/// The request log keeps this many entries, dropping the oldest, so a soak test cannot grow it
/// without bound.
const REQUEST_LOG_CAPACITY: usize = 10_000;

/// One request, as the log keeps it.
#[derive(Clone, Debug)]
pub struct Logged {
    /// The product it was routed to, if any.
    pub product: Option<&'static str>,
    /// Every parameter, `Signature` included.
    pub params: BTreeMap<String, String>,
    /// The error code it was answered with ([`Reply::error`]); `None` for a success.
    pub error: Option<String>,
}

#[derive(Default)]
pub(crate) struct Instruments {
    faults: Mutex<FaultPlan>,
    log: Mutex<VecDeque<Logged>>,
}

impl Instruments {
    /// The fault the next request gets, if any.
    pub(super) fn next_fault(&self) -> Option<Fault> {
        lock(&self.faults).next()
    }

    /// Logs one request: the product it went to, and the error it was answered with or the
    /// fault it drew.
    pub(super) fn record(
        &self,
        product: Option<&'static str>,
        call: &Call,
        reply: Option<&Reply>,
        fault: Option<&Fault>,
    ) {
        let error = reply.and_then(Reply::error).or_else(|| fault.map(|f| f.kind().to_string()));
        let logged = Logged { product, params: call.params.clone(), error };
        let mut log = lock(&self.log);
        if log.len() == REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(logged);
    }
}

impl Gateway {
    /// Each request answered, oldest first; only the latest 10 000 are kept.
    pub fn log(&self) -> Vec<Logged> {
        lock(&self.shared().instruments.log).iter().cloned().collect()
    }

    /// Serves `fault` to the next `times` requests, after any faults queued before.
    pub fn inject(&self, fault: Fault, times: u32) {
        lock(&self.shared().instruments.faults).enqueue(fault, times);
    }

    /// When no queued fault is pending, serves a fault picked uniformly from `kinds` with this
    /// probability (clamped to 0..=1); 0 or an empty list disables random faults.
    pub fn set_fault_rate(&self, probability: f64, kinds: Vec<Fault>) {
        lock(&self.shared().instruments.faults).set_rate(probability, kinds);
    }

    /// How many faults of each kind ([`Fault::kind`]) were served so far.
    pub fn injected(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.shared().instruments.faults).served().clone()
    }
}
