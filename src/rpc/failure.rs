//! "An Alibaba call failed", whichever product it was for. DBS's `ApiError` and discovery's
//! `DiscoveryError` each add failures of their own that never reach the wire (credentials,
//! paging); everything else about them (class, `code` label, retry, the hint an operator
//! reads) comes from the [`RpcError`] underneath, here, once.

use std::borrow::Cow;
use std::time::Duration;

use super::{ErrorClass, Retryable, RpcError};

/// The first thing to check for an identity the service refused.
const AUTH_HINT: &str =
    "check the AccessKey pair (ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET), an expired STS token, and the host clock";

/// A refused certificate is most often a proxy that re-signs TLS with a company CA.
pub const CERTIFICATE_HINT: &str = "the endpoint's TLS certificate is not trusted: give the CA that signed it (a TLS-intercepting proxy's company CA, a private endpoint's CA) with tls.ca_file or SSL_CERT_FILE";

/// What differs between products in the advice for a failed call.
#[derive(Clone, Debug)]
pub struct Advice {
    /// The RAM action a `Forbidden` answer lacks, with what else the operator may do.
    pub forbidden: Cow<'static, str>,
    /// Which settings slow the calls down when the service throttles.
    pub throttled: &'static str,
    /// Where the endpoint of a call that never got an answer comes from.
    pub unreachable: &'static str,
    /// For any other failure.
    pub otherwise: &'static str,
}

/// Where a call failed.
#[derive(Clone, Copy, Debug)]
pub enum Failed<'a> {
    /// On the network or at the service.
    Wire(&'a RpcError),
    /// Before or after the wire, in the caller's own terms (no credentials, endless paging),
    /// with the `code` label and the hint of that failure.
    Caller { label: &'static str, hint: &'static str },
}

/// A failed call of any product.
pub trait CallFailure: std::error::Error {
    fn failed(&self) -> Failed<'_>;

    /// What this product advises where the class alone does not say.
    fn advice(&self) -> Advice;

    /// The wire error, when the call got that far.
    fn rpc(&self) -> Option<&RpcError> {
        match self.failed() {
            Failed::Wire(rpc) => Some(rpc),
            Failed::Caller { .. } => None,
        }
    }

    /// The class of a service-side error; `None` for failures that never reached a verdict.
    fn class(&self) -> Option<ErrorClass> {
        self.rpc().and_then(RpcError::class)
    }

    /// A small, fixed set of values for the `code` label of error counters.
    fn metric_label(&self) -> &'static str {
        match self.failed() {
            Failed::Wire(rpc) => rpc.metric_label(),
            Failed::Caller { label, .. } => label,
        }
    }

    /// The service's error code, when it sent one.
    fn code(&self) -> Option<&str> {
        self.rpc().and_then(RpcError::code)
    }

    /// What an operator should check first.
    fn hint(&self) -> Cow<'static, str> {
        let rpc = match self.failed() {
            Failed::Wire(rpc) => rpc,
            Failed::Caller { hint, .. } => return Cow::Borrowed(hint),
        };
        let advice = self.advice();
        match (rpc.class(), rpc) {
            (Some(ErrorClass::Auth), _) => Cow::Borrowed(AUTH_HINT),
            (Some(ErrorClass::Forbidden), _) => advice.forbidden,
            (Some(ErrorClass::Throttled), _) => Cow::Borrowed(advice.throttled),
            (_, RpcError::Certificate { .. }) => Cow::Borrowed(CERTIFICATE_HINT),
            (_, RpcError::Transport { .. }) => Cow::Borrowed(advice.unreachable),
            _ => Cow::Borrowed(advice.otherwise),
        }
    }
}

impl<F: CallFailure> Retryable for F {
    fn is_retryable(&self) -> bool {
        self.rpc().is_some_and(RpcError::is_retryable)
    }

    fn retry_after(&self) -> Option<Duration> {
        self.rpc().and_then(RpcError::retry_after)
    }

    fn token_refused(&self) -> bool {
        self.rpc().is_some_and(Retryable::token_refused)
    }
}
