//! Every way a discovery list can fail, with the hint an operator needs (above all the RAM
//! action a denied call lacks).

use crate::credentials::CredentialsError;
use crate::rpc::{Advice, CallFailure, Failed, RpcError};

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
}

impl CallFailure for DiscoveryError {
    fn failed(&self) -> Failed<'_> {
        match self {
            DiscoveryError::Rpc { source, .. } => Failed::Wire(source),
            DiscoveryError::Credentials(_) => {
                Failed::Caller { label: "credentials", hint: "check the account's credentials" }
            }
            DiscoveryError::Paging { .. } => Failed::Caller {
                label: "page_cap",
                hint: "the previous instance list of this region and engine is kept",
            },
        }
    }

    fn advice(&self) -> Advice {
        let action = match self {
            DiscoveryError::Rpc { ram_action: Some(action), .. } => action,
            _ => "of the engine's list call",
        };
        Advice {
            forbidden: format!(
                "grant the RAM action {action} (or leave this engine out of discovery.engines)"
            )
            .into(),
            throttled: "lower rate_limit_per_region or raise refresh_interval",
            unreachable: "check network access to the endpoint (discovery_endpoints overrides it)",
            otherwise: "the previous instance list of this region and engine is kept",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::Retryable;

    #[test]
    fn a_denied_call_names_the_missing_ram_action() {
        let denied = || {
            DiscoveryError::from(RpcError::Http {
                status: 403,
                code: "Forbidden.RAM".into(),
                message: "User not authorized".into(),
                request_id: "R".into(),
                retry_after: None,
            })
        };
        assert_eq!(denied().metric_label(), "forbidden");
        assert!(!Retryable::is_retryable(&denied()));
        assert!(denied().in_call("dds:DescribeDBInstances").hint().contains("dds:DescribeDBInstances"));
        let tags = denied().in_call("rds:ListTagResources");
        assert!(tags.hint().contains("grant the RAM action rds:ListTagResources"));
        assert!(tags.to_string().starts_with("rds:ListTagResources: "), "{tags}");
    }
}
