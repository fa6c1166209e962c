//! Every way an RPC call can fail on the wire, as data: retryable or not, and a bounded label for
//! metrics. Messages carry the RequestId for support tickets and never a secret.

use std::time::Duration;

/// How the connection failed before a complete answer arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    Connect,
    Timeout,
    /// The peer closed or reset the connection before answering.
    Reset,
    /// The answer started but its body did not arrive whole.
    Body,
    /// The request could not be built or sent for another reason.
    Other,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            TransportKind::Reset => "connection reset",
            TransportKind::Body => "truncated body",
            TransportKind::Other => "request",
        }
    }
}

/// What an error code from a service means to the exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Flow control (`Throttling*`): retry later, with backoff.
    Throttled,
    /// The request's identity is wrong: secret, AccessKey, STS token, clock or nonce.
    Auth,
    /// The identity is fine but RAM does not allow the action.
    Forbidden,
    /// The service failed (5xx, `InternalError`, `ServiceUnavailable`): retry later.
    Server,
    /// Anything else the caller sent wrong (parameters, action, version).
    Client,
}

impl ErrorClass {
    /// Classifies a `Code`/`ErrCode` value, falling back on the HTTP status when the code is
    /// unknown (or absent, as behind a gateway's HTML error page).
    pub fn of(code: &str, http_status: Option<u16>) -> ErrorClass {
        let bare = without_product_prefix(code);
        let has_prefix = |prefix: &str| bare == prefix || bare.starts_with(&format!("{prefix}."));
        if has_prefix("Throttling") {
            ErrorClass::Throttled
        } else if ["SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidSecurityToken", "InvalidTimeStamp"]
            .iter()
            .any(|p| has_prefix(p))
            || bare == "SignatureNonceUsed"
            || bare == "IncompleteSignature"
        {
            ErrorClass::Auth
        } else if has_prefix("Forbidden") || bare == "Request.Forbidden" || http_status == Some(403) {
            ErrorClass::Forbidden
        } else if ["InternalError", "ServiceUnavailable", "UnknownError"].contains(&bare)
            || http_status.is_some_and(|s| s >= 500)
        {
            ErrorClass::Server
        } else {
            ErrorClass::Client
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::Throttled => "throttled",
            ErrorClass::Auth => "auth",
            ErrorClass::Forbidden => "forbidden",
            ErrorClass::Server => "server",
            ErrorClass::Client => "client",
        }
    }
}

/// Codes come as `Throttling.User` and, in some products' in-band errors, behind the product's
/// name in capitals: DBS answers `DBS.InternalError`.
fn without_product_prefix(code: &str) -> &str {
    match code.split_once('.') {
        Some((product, rest)) if product.len() >= 2 && product.bytes().all(|b| b.is_ascii_uppercase()) => {
            rest
        }
        _ => code,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The HTTP client could not be built (TLS roots, proxy settings): nothing was sent.
    #[error("cannot build an HTTP client: {detail}")]
    Setup { detail: String },

    /// The server's TLS certificate is not trusted (unknown CA, wrong name, expired): the same
    /// call would meet the same certificate, so it is not retried.
    #[error("TLS certificate of {endpoint} refused: {detail}")]
    Certificate { endpoint: String, detail: String },

    #[error("transport error ({}) calling {endpoint}: {detail}", kind.as_str())]
    Transport { kind: TransportKind, endpoint: String, detail: String },

    #[error("HTTP {status} {code}: {message} (RequestId {request_id})")]
    Http {
        status: u16,
        code: String,
        message: String,
        request_id: String,
        /// From `x-acs-retry-after`, when the service said when to come back.
        retry_after: Option<Duration>,
    },

    #[error("API error {code}: {message} (RequestId {request_id})")]
    InBand { code: String, message: String, request_id: String },

    #[error("undecodable response (HTTP {status}, RequestId {request_id}): {detail}")]
    Decode { status: u16, request_id: String, detail: String },

    /// Not retried: the same request would bring the same oversized answer.
    #[error("answer refused (HTTP {status}): the body exceeds the {cap} byte cap")]
    BodyTooLarge { status: u16, cap: usize },
}

impl RpcError {
    /// The class of a service-side error; `None` for failures that never reached a verdict.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            RpcError::Http { status, code, .. } => Some(ErrorClass::of(code, Some(*status))),
            RpcError::InBand { code, .. } => Some(ErrorClass::of(code, None)),
            _ => None,
        }
    }

    /// Whether the same request may succeed later: throttling, server faults and transport
    /// trouble. A truncated or undecodable body from a flaky gateway counts as transient too.
    pub fn is_retryable(&self) -> bool {
        match self {
            RpcError::Transport { .. } => true,
            RpcError::Decode { status, .. } => *status >= 500 || *status == 200,
            RpcError::Http { .. } | RpcError::InBand { .. } => {
                matches!(self.class(), Some(ErrorClass::Throttled | ErrorClass::Server))
            }
            RpcError::Setup { .. } | RpcError::BodyTooLarge { .. } | RpcError::Certificate { .. } => false,
        }
    }

    /// A small, fixed set of values for the `code` label of error counters.
    pub fn metric_label(&self) -> &'static str {
        match self {
            RpcError::Setup { .. } | RpcError::Transport { .. } => "transport",
            RpcError::Certificate { .. } => "certificate",
            RpcError::Decode { .. } | RpcError::BodyTooLarge { .. } => "decode",
            RpcError::Http { .. } | RpcError::InBand { .. } => {
                self.class().map_or("client", ErrorClass::label)
            }
        }
    }

    /// The service's error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            RpcError::Http { code, .. } | RpcError::InBand { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }

    /// The service's hint on when to retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RpcError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Removes each of `secrets` from what the service sent back, in every encoding it may come
    /// back in: `SignatureDoesNotMatch` quotes the server's string-to-sign, which holds the STS
    /// token percent-encoded twice.
    pub fn redact(self, secrets: &[&str]) -> RpcError {
        let scrub = |mut text: String| {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                let once = super::sign::percent_encode(secret);
                let twice = super::sign::percent_encode(&once);
                text = text.replace(&twice, "***").replace(&once, "***").replace(secret, "***");
            }
            text
        };
        match self {
            RpcError::Http { status, code, message, request_id, retry_after } => {
                RpcError::Http { status, code, message: scrub(message), request_id, retry_after }
            }
            RpcError::InBand { code, message, request_id } => {
                RpcError::InBand { code, message: scrub(message), request_id }
            }
            RpcError::Decode { status, request_id, detail } => {
                RpcError::Decode { status, request_id, detail: scrub(detail) }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn http(status: u16, code: &str) -> RpcError {
        RpcError::Http {
            status,
            code: code.into(),
            message: "m".into(),
            request_id: "R".into(),
            retry_after: None,
        }
    }

    #[test]
    fn throttling_and_server_faults_are_retryable() {
        for err in [
            http(400, "Throttling.User"),
            http(400, "Throttling"),
            http(503, "ServiceUnavailable"),
            http(502, ""),
        ] {
            assert!(err.is_retryable(), "{err}");
        }
        assert_eq!(http(400, "Throttling.Api").metric_label(), "throttled");
        assert_eq!(http(504, "").metric_label(), "server");
    }

    #[test]
    fn identity_and_permission_errors_are_final() {
        for (code, status, label) in [
            ("SignatureDoesNotMatch", 400, "auth"),
            ("InvalidAccessKeyId.NotFound", 404, "auth"),
            ("InvalidSecurityToken.Expired", 400, "auth"),
            ("InvalidTimeStamp.Expired", 400, "auth"),
            ("Forbidden.RAM", 403, "forbidden"),
            ("Request.Forbidden", 403, "forbidden"),
            ("InvalidParameter", 400, "client"),
        ] {
            let err = http(status, code);
            assert!(!err.is_retryable(), "{code}");
            assert_eq!(err.metric_label(), label, "{code}");
        }
    }

    #[test]
    fn in_band_errors_are_classified_by_their_code() {
        let err = RpcError::InBand {
            code: "DBS.InternalError".into(),
            message: "x".into(),
            request_id: "R".into(),
        };
        assert_eq!(err.metric_label(), "server");
        assert!(err.is_retryable());
        let err =
            RpcError::InBand { code: "InvalidParameter".into(), message: "x".into(), request_id: "R".into() };
        assert_eq!(err.metric_label(), "client");
        assert!(!err.is_retryable());
    }

    #[test]
    fn redaction_removes_a_token_in_every_encoding() {
        let token = "CAIS/x+y=";
        let once = crate::rpc::sign::percent_encode(token);
        let twice = crate::rpc::sign::percent_encode(&once);
        let err = RpcError::Http {
            status: 400,
            code: "SignatureDoesNotMatch".into(),
            message: format!("server string to sign is: {twice} / {once} / {token}"),
            request_id: "R".into(),
            retry_after: None,
        }
        .redact(&[token]);
        let text = err.to_string();
        assert!(!text.contains("CAIS"), "{text}");
        assert_eq!(text.matches("***").count(), 3);
    }

    #[test]
    fn messages_carry_the_request_id() {
        assert!(http(400, "Throttling.User").to_string().contains("RequestId R"));
    }
}
