//! Every way a discovery list can fail, with the hint an operator needs (above all the RAM
//! action a denied call lacks).

use std::time::Duration;

use super::engine::Product;
use crate::credentials::CredentialsError;
use crate::rpc::{ErrorClass, Retryable, RpcError};

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The call failed on the wire or the service answered with an error; `ram_action` is the
    /// RAM action of the call, once the list knows which of its calls failed.
    #[error("{}{source}", ram_action.map(|action| format!("{action}: ")).unwrap_or_default())]
    Rpc { source: RpcError, ram_action: Option<&'static str> },

    #[error("credentials: {0}")]
    Credentials(#[from] CredentialsError),

    /// The service's paging never ends (a token that repeats, more pages than any account has).
    #[error("paging stopped after {pages} pages: {detail}")]
    Paging { pages: u32, detail: String },
}

impl From<RpcError> for DiscoveryError {
    fn from(source: RpcError) -> Self {
        DiscoveryError::Rpc { source, ram_action: None }
    }
}

impl DiscoveryError {
    /// Names the RAM action of the call that failed, for the message and the hint.
    pub(super) fn in_call(self, action: &'static str) -> Self {
        match self {
            DiscoveryError::Rpc { source, .. } => DiscoveryError::Rpc { source, ram_action: Some(action) },
            other => other,
        }
    }

    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            DiscoveryError::Rpc { source, .. } => source.class(),
            DiscoveryError::Credentials(_) | DiscoveryError::Paging { .. } => None,
        }
    }

    /// The usual error classes of `code` labels, as for DescribeDownloadTask calls.
    pub fn metric_label(&self) -> &'static str {
        match self {
            DiscoveryError::Rpc { source, .. } => source.metric_label(),
            DiscoveryError::Credentials(_) => "credentials",
            DiscoveryError::Paging { .. } => "page_cap",
        }
    }

    /// What to do about it, for the log line and `discover`'s output.
    pub fn hint(&self, product: Product) -> String {
        match (self, self.class()) {
            (DiscoveryError::Rpc { ram_action, .. }, Some(ErrorClass::Forbidden)) => format!(
                "grant the RAM action {} (or leave this engine out of discovery.engines)",
                ram_action.unwrap_or(product.ram_action())
            ),
            (_, Some(ErrorClass::Auth)) => "check the AccessKey pair or the STS token".into(),
            (_, Some(ErrorClass::Throttled)) => {
                "lower rate_limit_per_region or raise refresh_interval".into()
            }
            (DiscoveryError::Rpc { source: RpcError::Certificate { .. }, .. }, _) => format!(
                "the {product} endpoint's TLS certificate is not trusted: give the CA that signed it (a TLS-intercepting proxy's company CA) with tls.ca_file or SSL_CERT_FILE"
            ),
            (DiscoveryError::Rpc { source: RpcError::Transport { .. }, .. }, _) => {
                format!("check network access to the {product} endpoint (discovery_endpoints overrides it)")
            }
            (DiscoveryError::Credentials(_), _) => "check the account's credentials".into(),
            _ => "the previous instance list of this region and engine is kept".into(),
        }
    }
}

impl Retryable for DiscoveryError {
    fn is_retryable(&self) -> bool {
        matches!(self, DiscoveryError::Rpc { source, .. } if source.is_retryable())
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            DiscoveryError::Rpc { source, .. } => source.retry_after(),
            _ => None,
        }
    }

    fn token_refused(&self) -> bool {
        matches!(self, DiscoveryError::Rpc { source, .. } if source.token_refused())
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
        let tags = denied.in_call("rds:ListTagResources");
        assert!(tags.hint(Product::Rds).contains("grant the RAM action rds:ListTagResources"));
        assert!(tags.to_string().starts_with("rds:ListTagResources: "), "{tags}");
    }
}
