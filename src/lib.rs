//! dbs-exporter: a Prometheus exporter for Alibaba Cloud DBS advanced download tasks.
//!
//! Data flows one way: [`config`] and [`credentials`] feed a signed [`api`] client, built on the
//! product-agnostic [`rpc`] call; the [`poller`] lists every target on a schedule, [`model`]
//! aggregates each listing, [`state`] keeps the latest aggregates, [`render`] turns them into the
//! exposition and [`http`] serves it. [`app`] assembles them; [`cli`] is the command line; [`sim`]
//! is a DBS simulator on a fake Alibaba gateway, for tests, the [`demo`] and [`simulate`];
//! [`history`] remembers each target's tasks between listings for the transition counters,
//! and [`status`] builds the status page's view of the targets.
//!
//! The modules are declared below in dependency order, bottom first: each one uses only the
//! modules declared before it, never one after. `.ci/check-layering.py` reads this list and fails
//! when a `use crate::…` reaches up it (docs/architecture.md).

// Helpers that know nothing of the domain: one lock, one Unix-ms conversion.
pub mod util;
// Logging setup (logfmt or JSON on stderr).
pub mod logging;
// Pacing of API calls: a token bucket per region, a cap on calls in flight.
pub mod pacing;
// Alibaba's RPC call for any product: signing, the HTTP call, error decoding, retries.
pub mod rpc;
// Where keys come from: the SDKs' chain, STS, OIDC, the ECS RAM role; refreshing.
pub mod credentials;
// The DBS API: DescribeDownloadTask, its paging and its answers.
pub mod api;
// Finding instances: the RDS, PolarDB and MongoDB list APIs.
pub mod discovery;
// The YAML configuration and its validation.
pub mod config;
// Aggregation of one listing.
pub mod model;
// Each target's tasks between two listings, for the transition counters.
pub mod history;
// The latest aggregates of every target.
pub mod state;
// The status page's view of every target.
pub mod status;
// The exporter's own metrics.
pub mod metrics;
// The instances to poll: listed ones and discovered ones, refreshed.
pub mod inventory;
// The exposition, rendered when the store changes.
pub mod render;
// The scheduler: targets, pacing, listings.
pub mod poller;
// Reload requests.
pub mod reload;
// The HTTP server: routes, TLS, basic auth.
pub mod http;
// Assembling the daemon.
pub mod app;
// `dbs-exporter demo`.
pub mod demo;
// `dbs-exporter simulate`.
pub mod simulate;
// The command line.
pub mod cli;

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
    /// A discovery client could not be built.
    #[error("discovery: {0}")]
    Discovery(discovery::DiscoveryError),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("cannot start the demo simulator: {0}")]
    Demo(std::io::Error),
    /// The exposition of `once` could not be written out.
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    /// The `healthcheck` probe's HTTP client could not be built.
    #[error("cannot build the healthcheck's HTTP client: {0}")]
    HealthcheckClient(reqwest::Error),
    /// The CA bundle named by `SSL_CERT_FILE` cannot be used (`tls.ca_file` is a config error).
    #[error("{0}")]
    Trust(String),
    /// A flag or a combination of flags that cannot work.
    #[error("{0}")]
    Usage(String),
}
