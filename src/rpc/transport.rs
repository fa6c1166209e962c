//! The HTTP under every call to Alibaba Cloud (RPC APIs and the ECS metadata service alike):
//! timeouts, a capped body, transport failures told apart, and errors that never carry the URL
//! (a signed URL holds the AccessKeyId, the signature and the STS token).

use std::time::Duration;

use super::error::{RpcError, TransportKind};
use super::trust::CaBundle;

const RETRY_AFTER_HEADER: &str = "x-acs-retry-after";

/// How an HTTP client is built.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Whole-request timeout, connect to last body byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Bodies above this size are refused rather than buffered without limit.
    pub max_body_bytes: usize,
    pub user_agent: String,
    /// Whether `HTTPS_PROXY` and its kin apply. The ECS metadata service is on the instance's
    /// own link-local address, which no proxy can reach and no proxy should see.
    pub use_proxies: bool,
    /// Certificate authorities trusted besides the built-in web PKI roots (`tls.ca_file`, or
    /// `SSL_CERT_FILE`).
    pub ca_bundle: Option<CaBundle>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 16 * 1024 * 1024,
            user_agent: format!("dbs-exporter/{}", env!("CARGO_PKG_VERSION")),
            use_proxies: true,
            ca_bundle: None,
        }
    }
}

/// A reqwest client built from `options`: one connection pool, reused by every call.
pub fn client(options: &ClientOptions) -> Result<reqwest::Client, RpcError> {
    let mut builder = reqwest::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.connect_timeout)
        .user_agent(options.user_agent.clone())
        .pool_idle_timeout(Duration::from_secs(90));
    if !options.use_proxies {
        builder = builder.no_proxy();
    }
    for certificate in options.ca_bundle.iter().flat_map(CaBundle::certificates) {
        let certificate = reqwest::Certificate::from_der(certificate)
            .map_err(|err| RpcError::Setup { detail: error_chain(&err) })?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build().map_err(|err| RpcError::Setup { detail: error_chain(&err.without_url()) })
}

/// A status and a complete body.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    pub status: u16,
    /// From `x-acs-retry-after` (milliseconds), when the service said when to come back.
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` and reads the whole answer, refusing a body above `max_body_bytes`;
/// `endpoint` names the service in errors.
pub async fn send(
    request: reqwest::RequestBuilder,
    endpoint: &str,
    max_body_bytes: usize,
) -> Result<HttpAnswer, RpcError> {
    let transport = |kind, err: reqwest::Error| RpcError::Transport {
        kind,
        endpoint: endpoint.to_string(),
        detail: error_chain(&err.without_url()),
    };
    let mut response = request.send().await.map_err(|err| match certificate_error(&err) {
        Some(reason) => RpcError::Certificate { endpoint: endpoint.to_string(), detail: reason },
        None => transport(classify_transport(&err), err),
    })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(8192).min(1 << 20) as usize);
    while let Some(chunk) = response.chunk().await.map_err(|err| transport(classify_body(&err), err))? {
        if body.len() + chunk.len() > max_body_bytes {
            return Err(RpcError::BodyTooLarge { status, cap: max_body_bytes });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpAnswer { status, retry_after, body })
}

fn classify_transport(err: &reqwest::Error) -> TransportKind {
    if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else if is_connection_cut(err) {
        TransportKind::Reset
    } else if err.is_body() || err.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Other
    }
}

fn classify_body(err: &reqwest::Error) -> TransportKind {
    if err.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Body
    }
}

/// Why the server's certificate was refused, when that is what stopped the call: rustls'
/// verdict, wherever it sits in the chain.
fn certificate_error(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(rustls::Error::InvalidCertificate(reason)) = current.downcast_ref::<rustls::Error>() {
            return Some(format!("invalid peer certificate: {reason:?}"));
        }
        source = cause(current);
    }
    None
}

/// The next error down the chain. An I/O error's `source()` skips its own payload (it returns
/// the payload's source), and the payload is where tokio-rustls puts rustls' error.
fn cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a (dyn std::error::Error + 'static)> {
    match err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
        Some(payload) => Some(payload),
        None => err.source(),
    }
}

/// A connection closed or reset before the answer: hyper's "incomplete message" or an I/O
/// reset somewhere down the error chain.
fn is_connection_cut(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(hyper_err) = current.downcast_ref::<hyper::Error>() {
            if hyper_err.is_incomplete_message() || hyper_err.is_closed() {
                return true;
            }
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe) {
                return true;
            }
        }
        source = current.source();
    }
    false
}

/// An error and its causes on one line, each cause once (reqwest and hyper repeat their
/// sources in their own messages). Callers strip request URLs first.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
