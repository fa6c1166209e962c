//! Alibaba Cloud's RPC-style API call, for any product: given an endpoint, an action, its API
//! version and parameters, it adds the common parameters (timestamp, nonce), signs them with
//! signature V1, POSTs, reads the answer whole, and turns what comes back into a typed payload
//! or an [`RpcError`] (transport, HTTP status, in-band `Success: false`, `Code`/`Message`).
//! [`RpcClient::call_with_retries`] retries what may succeed later and tells a [`CallObserver`]
//! about every attempt.
//!
//! Nothing here knows which product it talks to: the DBS client, STS and the discovery clients
//! sit on top, and nothing above signs by itself.

mod answer;
mod client;
mod error;
mod failure;
mod key;
mod retry;
pub mod sign;
mod timestamp;
pub mod transport;
mod trust;

pub use answer::{decode_answer, Answer, Loose, Payload, UNKNOWN_REQUEST_ID};
pub use client::{RpcClient, RpcRequest, RpcResponse};
pub use error::{ErrorClass, RpcError, TransportKind};
pub use failure::{Advice, CallFailure, Failed, CERTIFICATE_HINT};
pub use key::{Credentials, KeyFuture, KeySource, Secret};
pub use retry::{Attempts, CallObserver, CallSlot, RetryPolicy, Retryable};
pub use timestamp::{format_timestamp, parse_timestamp};
pub use transport::ClientOptions;
pub use trust::CaBundle;
