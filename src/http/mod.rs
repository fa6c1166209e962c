//! The HTTP server: `/metrics` (or the telemetry path), `/-/healthy`, `/-/ready` and a landing
//! page. It knows nothing of the API: it serves what the renderer produced.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::render::Exposition;

/// The content type of the Prometheus text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Routes {
    exposition: Arc<Exposition>,
    telemetry_path: String,
}

impl Routes {
    pub fn new(exposition: Arc<Exposition>, telemetry_path: impl Into<String>) -> Self {
        Routes { exposition, telemetry_path: telemetry_path.into() }
    }

    /// Answers one request; every route is GET (or HEAD) only.
    pub fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        let known = path == self.telemetry_path || matches!(path, "/" | "/-/healthy" | "/-/ready");
        if !known {
            return text(StatusCode::NOT_FOUND, "not found\n");
        }
        if method != Method::GET && method != Method::HEAD {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match path {
            "/-/healthy" => text(StatusCode::OK, "dbs-exporter is healthy.\n"),
            "/-/ready" if self.exposition.store().first_cycle_done() => {
                text(StatusCode::OK, "dbs-exporter is ready.\n")
            }
            "/-/ready" => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "dbs-exporter is not ready: first poll cycle running.\n",
            ),
            "/" => self.landing_page(),
            _ => {
                let mut response = Response::new(Full::new(Bytes::from(self.exposition.body())));
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
                response
            }
        }
    }

    fn landing_page(&self) -> Response<Full<Bytes>> {
        let path = html_escape(&self.telemetry_path);
        let html = format!(
            "<!DOCTYPE html>\n<html><head><title>DBS Exporter</title></head><body>\n\
             <h1>Alibaba Cloud DBS download task exporter</h1>\n\
             <p>Version {}</p>\n<ul>\n<li><a href=\"{path}\">Metrics</a></li>\n\
             <li><a href=\"/-/healthy\">Health</a></li>\n<li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n\
             </body></html>\n",
            env!("CARGO_PKG_VERSION")
        );
        let mut response = Response::new(Full::new(Bytes::from(html)));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        response
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Serves `routes` on `listener` until `shutdown`, then lets in-flight requests finish
/// (bounded by a drain timeout).
pub async fn serve(listener: TcpListener, routes: Arc<Routes>, shutdown: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let routes = Arc::clone(&routes);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let response = routes.respond(request.method(), request.uri().path());
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(peer = %peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Parses `--web.listen-address`: `HOST:PORT`, `[v6]:PORT`, or `:PORT` for every interface.
pub fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let with_host = if text.starts_with(':') { format!("0.0.0.0{text}") } else { text.to_string() };
    if let Ok(addr) = with_host.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some((host, port)) = with_host.rsplit_once(':') {
        if host == "localhost" {
            if let Ok(port) = port.parse::<u16>() {
                return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
            }
        }
    }
    Err(format!("invalid listen address {text:?}: want HOST:PORT, [IPv6]:PORT or :PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_follow_prometheus_conventions() {
        assert_eq!(parse_listen_address(":19680").unwrap(), "0.0.0.0:19680".parse().unwrap());
        assert_eq!(parse_listen_address("127.0.0.1:0").unwrap(), "127.0.0.1:0".parse().unwrap());
        assert_eq!(parse_listen_address("[::1]:9000").unwrap(), "[::1]:9000".parse().unwrap());
        assert_eq!(parse_listen_address("localhost:8080").unwrap(), "127.0.0.1:8080".parse().unwrap());
        assert!(parse_listen_address("nope").is_err());
        assert!(parse_listen_address(":99999").is_err());
    }
}
