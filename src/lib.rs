//! dbs-exporter: a Prometheus exporter for Alibaba Cloud DBS advanced download tasks.
//!
//! Data flows one way: [`config`] and [`credentials`] feed a signed [`api`] client and the
//! [`discovery`] client, both built on the product-agnostic [`rpc`] call; the [`inventory`] says
//! which instances to poll, the [`poller`] lists every target on a schedule, the [`store`] keeps
//! what the listings said (aggregates, task history, tasks in progress), [`render`] turns it into
//! the exposition and [`http`] serves it with the status pages. [`app`] assembles them; [`cli`] is
//! the command line and every subcommand. The simulator behind `demo`, `simulate` and the tests
//! is a crate of its own, `dbs-sim` (crates/dbs-sim).
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
// What the exporter knows: each listing aggregated, each target's tasks between listings, the
// latest aggregates of every target and the generation they are shown under.
pub mod store;
// The exporter's own metrics.
pub mod metrics;
// The instances to poll: listed ones and discovered ones, refreshed.
pub mod inventory;
// The exposition, rendered when the store changes.
pub mod render;
// The scheduler: targets, pacing, listings.
pub mod poller;
// The HTTP server: routes, TLS, basic auth, the status page and its view of the targets, the
// reload channel.
pub mod http;
// Assembling the daemon.
pub mod app;
// The command line and every subcommand.
pub mod cli;
