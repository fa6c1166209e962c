//! Loopback fakes of STS and of the ECS metadata service, for this crate's tests and the
//! integration tests. Each is a small HTTP/1.1 server on `127.0.0.1:0` that checks what the real
//! service checks (STS: action, version, the V1 signature of `AssumeRole`, nonce replay, the
//! caller's STS token and its expiry; metadata: the IMDSv2 token), hands out numbered temporary
//! credentials with a short, adjustable lifetime, fails on request, and records what it saw.
//!
//! Not for production: the fakes keep the secrets they issue in plain strings, so tests can check
//! that none of them leaks.

mod metadata;
mod sts;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use time::format_description::well_known::Rfc3339;

pub use self::metadata::{FakeMetadata, MetadataCounts};
pub use self::sts::{FakeSts, StsCall};

/// Temporary credentials as a fake hands them out (or is told to, with [`FakeSts::plan`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expires_at: SystemTime,
}

impl IssuedCredentials {
    pub(super) fn numbered(prefix: &str, serial: u64, expires_at: SystemTime) -> Self {
        IssuedCredentials {
            access_key_id: format!("STS.{prefix}{serial}"),
            access_key_secret: format!("{prefix}-secret-{serial}"),
            security_token: format!("{prefix}-token-{serial}"),
            expires_at,
        }
    }

    pub(super) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "AccessKeyId": self.access_key_id,
            "AccessKeySecret": self.access_key_secret,
            "SecurityToken": self.security_token,
            "Expiration": format_expiration(self.expires_at),
        })
    }
}

/// `2025-01-02T03:04:05Z`, with fractional seconds when the instant has them (short test
/// lifetimes need better than the real services' whole seconds).
pub fn format_expiration(at: SystemTime) -> String {
    time::OffsetDateTime::from(at).format(&Rfc3339).expect("a UTC instant formats")
}

/// A request as the fakes see it.
pub(super) struct Received {
    method: String,
    path: String,
    query: String,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(super) struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply { status, content_type: "application/json", body: body.to_string() }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply { status, content_type: "text/plain", body: body.to_string() }
    }
}

pub(super) type Handler = Arc<dyn Fn(Received) -> Reply + Send + Sync>;

/// A loopback HTTP/1.1 server, stopped (with its connections) when dropped.
pub(super) struct Loopback {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Loopback {
    pub async fn start(handler: Handler) -> std::io::Result<Loopback> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let handler = Arc::clone(&handler);
                        connections.spawn(async move {
                            let service = service_fn(move |request| answer(Arc::clone(&handler), request));
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Loopback { addr, task })
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(handler: Handler, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, 64 * 1024).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let received = Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
    };
    let reply = handler(received);
    let response = Response::builder()
        .status(reply.status)
        .header(hyper::header::CONTENT_TYPE, reply.content_type)
        .body(Full::new(Bytes::from(reply.body)))
        .expect("a status and a header always build");
    Ok(response)
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
