//! Why a command stopped: the daemon could not be built, or something only a command does
//! failed (its flags, the demo's simulator, writing out `once`'s exposition, the probe's client).

use std::net::SocketAddr;

use crate::{app, config};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    App(#[from] app::Error),
    /// The file `--config.file` names (read by `simulate` without building anything from it).
    #[error(transparent)]
    Config(#[from] config::ConfigError),
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
    /// A CA the demo wrote for its simulator cannot be trusted.
    #[error("{0}")]
    Trust(String),
    /// A flag or a combination of flags that cannot work.
    #[error("{0}")]
    Usage(String),
}
