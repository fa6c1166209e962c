//! Every way a DescribeDownloadTask listing can fail, as data: what the call met on the wire, a
//! listing longer than the page cap, or no credentials to sign with. What it says of itself
//! (class, label, retry, hint) is `rpc::CallFailure`'s, with DBS's advice.

use crate::credentials::CredentialsError;
use crate::rpc::{Advice, CallFailure, Failed, RpcError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The call failed on the wire or the service answered with an error.
    #[error(transparent)]
    Rpc(#[from] RpcError),

    #[error("listing stopped at the page cap of {cap} pages, but the service reports {total_pages} pages: raise max_pages or narrow lookback")]
    PageCap { cap: u32, total_pages: u64 },

    #[error("credentials: {0}")]
    Credentials(#[from] CredentialsError),
}

impl CallFailure for ApiError {
    fn failed(&self) -> Failed<'_> {
        match self {
            ApiError::Rpc(err) => Failed::Wire(err),
            ApiError::PageCap { .. } => {
                Failed::Caller { label: "page_cap", hint: "raise max_pages or shorten lookback" }
            }
            ApiError::Credentials(_) => Failed::Caller { label: "credentials", hint: "see the error text" },
        }
    }

    fn advice(&self) -> Advice {
        Advice {
            forbidden: "grant the RAM action dbs:DescribeDownloadTask on this instance".into(),
            throttled: "lower concurrency or rate_limit_per_region, or raise poll_interval",
            unreachable: "check network access to the endpoint",
            otherwise: "see the error text",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{ErrorClass, Retryable};

    #[test]
    fn listing_and_credential_failures_are_final_and_labelled() {
        let cap = ApiError::PageCap { cap: 1, total_pages: 2 };
        assert!(!cap.is_retryable());
        assert_eq!(cap.metric_label(), "page_cap");
        let credentials = ApiError::Credentials(CredentialsError::NotConfigured);
        assert!(!credentials.is_retryable());
        assert_eq!(credentials.metric_label(), "credentials");
    }

    #[test]
    fn wire_errors_keep_their_class_label_and_message() {
        let err = ApiError::from(RpcError::InBand {
            code: "DBS.InternalError".into(),
            message: "x".into(),
            request_id: "R".into(),
        });
        assert_eq!(err.metric_label(), "server");
        assert!(err.is_retryable());
        assert_eq!(err.to_string(), "API error DBS.InternalError: x (RequestId R)");
        let refused = ApiError::from(RpcError::Http {
            status: 400,
            code: "InvalidSecurityToken.Expired".into(),
            message: String::new(),
            request_id: "R".into(),
            retry_after: None,
        });
        assert!(Retryable::token_refused(&refused));
        assert_eq!(refused.class(), Some(ErrorClass::Auth));
    }
}
