//! Why the daemon (or `once`, `discover`, `check-config`, which build the same parts) cannot be
//! built from a configuration.

use std::net::SocketAddr;

use crate::{api, config, credentials, discovery};

/// What stops the daemon from being assembled; a reload that meets one keeps the old
/// configuration instead.
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
    /// The CA bundle named by `SSL_CERT_FILE` cannot be used (`tls.ca_file` is a config error).
    #[error("{0}")]
    Trust(String),
}
