//! dbs-exporter: a Prometheus exporter for Alibaba Cloud DBS advanced download tasks.
//!
//! Data flows one way: [`config`] and [`credentials`] feed a signed [`api`] client, the
//! [`poller`] lists every target on a schedule, [`model`] aggregates each listing, [`state`]
//! keeps the latest aggregates, [`render`] turns them into the exposition and [`http`] serves it.

pub mod api;
pub mod credentials;
pub mod metrics;
pub mod model;
pub mod render;
pub mod sim;
pub mod state;
