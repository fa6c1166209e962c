//! Every way a discovery list can fail, with the hint an operator needs (above all the RAM
//! action a denied call lacks).

use std::time::Duration;

use super::engine::Product;
use crate::credentials::CredentialsError;
use crate::rpc::{ErrorClass, Retryable, RpcError};

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The call failed on the wire or the service answered with an error.
    #[error(transparent)]
    Rpc(#[from] RpcError),

    #[error("credentials: {0}")]
    Credentials(#[from] CredentialsError),

    /// The service's paging never ends (a token that repeats, more pages than any account has).
    #[error("paging stopped after {pages} pages: {detail}")]
    Paging { pages: u32, detail: String },
}

impl DiscoveryError {
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            DiscoveryError::Rpc(err) => err.class(),
            DiscoveryError::Credentials(_) | DiscoveryError::Paging { .. } => None,
        }
    }

    /// The usual error classes of `code` labels, as for DescribeDownloadTask calls.
    pub fn metric_label(&self) -> &'static str {
        match self {
            DiscoveryError::Rpc(err) => err.metric_label(),
            DiscoveryError::Credentials(_) => "credentials",
            DiscoveryError::Paging { .. } => "page_cap",
        }
    }

    /// What to do about it, for the log line and `discover`'s output.
    pub fn hint(&self, product: Product) -> String {
        match (self, self.class()) {
            (_, Some(ErrorClass::Forbidden)) => format!(
                "grant the RAM action {} (or leave this engine out of discovery.engines)",
                product.ram_action()
            ),
            (_, Some(ErrorClass::Auth)) => "check the AccessKey pair or the STS token".into(),
            (_, Some(ErrorClass::Throttled)) => {
                "lower rate_limit_per_region or raise refresh_interval".into()
            }
            (DiscoveryError::Rpc(RpcError::Transport { .. }), _) => {
                format!("check network access to the {product} endpoint (discovery_endpoints overrides it)")
            }
            (DiscoveryError::Credentials(_), _) => "check the account's credentials".into(),
            _ => "the previous instance list of this region and engine is kept".into(),
        }
    }
}

impl Retryable for DiscoveryError {
    fn is_retryable(&self) -> bool {
        matches!(self, DiscoveryError::Rpc(err) if err.is_retryable())
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            DiscoveryError::Rpc(err) => err.retry_after(),
            _ => None,
        }
    }

    fn token_refused(&self) -> bool {
        matches!(self, DiscoveryError::Rpc(err) if err.token_refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_call_names_the_missing_ram_action() {
        let denied = DiscoveryError::from(RpcError::Http {
            status: 403,
            code: "Forbidden.RAM".into(),
            message: "User not authorized".into(),
            request_id: "R".into(),
            retry_after: None,
        });
        assert_eq!(denied.metric_label(), "forbidden");
        assert!(denied.hint(Product::Mongodb).contains("dds:DescribeDBInstances"));
        assert!(!Retryable::is_retryable(&denied));
    }
}
