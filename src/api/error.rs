//! Every way a DescribeDownloadTask listing can fail, as data: what the call met on the wire, a
//! listing longer than the page cap, or no credentials to sign with.

use std::time::Duration;

use crate::credentials::CredentialsError;
use crate::rpc::{ErrorClass, Retryable, RpcError};

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

impl ApiError {
    /// The class of a service-side error; `None` for failures that never reached a verdict.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            ApiError::Rpc(err) => err.class(),
            ApiError::PageCap { .. } | ApiError::Credentials(_) => None,
        }
    }

    /// Whether the same request may succeed later: see [`RpcError::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Rpc(err) => err.is_retryable(),
            ApiError::PageCap { .. } | ApiError::Credentials(_) => false,
        }
    }

    /// A small, fixed set of values for the `code` label of error counters.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ApiError::Rpc(err) => err.metric_label(),
            ApiError::PageCap { .. } => "page_cap",
            ApiError::Credentials(_) => "credentials",
        }
    }

    /// The service's error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Rpc(err) => err.code(),
            ApiError::PageCap { .. } | ApiError::Credentials(_) => None,
        }
    }

    /// The service's hint on when to retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Rpc(err) => err.retry_after(),
            ApiError::PageCap { .. } | ApiError::Credentials(_) => None,
        }
    }
}

impl Retryable for ApiError {
    fn is_retryable(&self) -> bool {
        ApiError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        ApiError::retry_after(self)
    }

    fn token_refused(&self) -> bool {
        matches!(self, ApiError::Rpc(err) if err.token_refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
