//! dbs-exporter: a Prometheus exporter for Alibaba Cloud DBS advanced download tasks.
//!
//! Data flows one way: [`config`] and [`credentials`] feed a signed [`api`] client, the
//! [`poller`] lists every target on a schedule, [`model`] aggregates each listing, [`state`]
//! keeps the latest aggregates, [`render`] turns them into the exposition and [`http`] serves
//! it. [`app`] assembles them; [`cli`] is the command line; [`sim`] is a DBS simulator for
//! tests, the [`demo`] and [`simulate`].

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod history;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod poller;
pub mod reload;
pub mod render;
pub mod sim;
pub mod simulate;
pub mod state;
pub mod status;

use std::net::SocketAddr;

/// Errors that stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    /// An account's credential source cannot be built (a missing variable, an unreadable file).
    #[error("credentials of account {account}: {source}")]
    AccountCredentials { account: String, source: Box<credentials::CredentialsError> },
    #[error(transparent)]
    Api(#[from] api::ApiError),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("cannot start the demo simulator: {0}")]
    Demo(std::io::Error),
    #[error("{0}")]
    Usage(String),
}

/// An error and its causes on one line, each cause once (reqwest and hyper repeat their
/// sources in their own messages). Callers strip request URLs first: a signed URL carries the
/// AccessKeyId and the STS token.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
