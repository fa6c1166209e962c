//! The accept loop and the life of one connection, with the limits that keep one client from
//! starving the others:
//!
//! - every connection runs on its own task;
//! - at most [`Limits::max_connections`] at once: past that the server stops accepting, and new
//!   connections wait in the kernel's backlog until a slot frees (every slot is time-bounded, so
//!   the wait is too);
//! - a request's head (and a TLS handshake) must arrive within [`Limits::header_read_timeout`],
//!   which also closes keep-alive connections idle that long, so a slowloris holds a slot no
//!   longer than that;
//! - a connection is asked to close after [`Limits::connection_max_age`] (once its response is
//!   written) and is dropped [`Limits::close_grace`] later whatever it is doing, so a client
//!   that reads its response slowly holds a slot no longer than that;
//! - no route takes a body: a request that announces one gets 413 and the connection is closed
//!   without reading it;
//! - on shutdown, idle connections close at once and in-flight requests get
//!   [`Limits::drain_timeout`] to finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::body::Chunks;
use super::routes::{text, Routes};
use super::tls;
use super::web_config::{WebConfigWatch, WebSettings};

/// Read buffer per connection: request heads larger than this are refused (431). hyper's
/// default (about 400 KiB) would let a thousand slow clients pin 400 MB.
const MAX_BUF_SIZE: usize = 16 * 1024;
/// At most one "connection limit reached" warning per this long.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// How many connections, and for how long each.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub connection_max_age: Duration,
    pub close_grace: Duration,
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            connection_max_age: Duration::from_secs(60),
            close_grace: Duration::from_secs(10),
            // Kubernetes and systemd wait longer than this before SIGKILL; with it, the process
            // exits within two seconds of SIGTERM.
            drain_timeout: Duration::from_millis(1500),
        }
    }
}

/// A bound listener with its routes, optional web config (TLS, basic auth) and limits.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    routes: Arc<Routes>,
    web_config: Option<WebConfigWatch>,
    limits: Limits,
}

/// What every connection task shares.
#[derive(Debug)]
struct Shared {
    routes: Arc<Routes>,
    web_config: Option<WebConfigWatch>,
    limits: Limits,
    /// Stop accepting, finish what is in flight.
    shutdown: CancellationToken,
    /// The drain took too long: drop every connection.
    stop_now: CancellationToken,
}

/// Serves `routes` on `listener` with the default limits and no web config until `shutdown`.
pub async fn serve(listener: TcpListener, routes: Arc<Routes>, shutdown: CancellationToken) {
    Server::new(listener, routes).run(shutdown).await
}

impl Server {
    pub fn new(listener: TcpListener, routes: Arc<Routes>) -> Self {
        Server { listener, routes, web_config: None, limits: Limits::default() }
    }

    /// TLS and basic auth as the watched web config says, for every connection from now on.
    pub fn with_web_config(mut self, web_config: Option<WebConfigWatch>) -> Self {
        self.web_config = web_config;
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves until `shutdown` is cancelled, then drains for at most the drain timeout.
    pub async fn run(self, shutdown: CancellationToken) {
        let Server { listener, routes, web_config, limits } = self;
        let max_connections = limits.max_connections.clamp(1, u32::MAX as usize);
        let slots = Arc::new(Semaphore::new(max_connections));
        let drain_timeout = limits.drain_timeout;
        let shared =
            Arc::new(Shared { routes, web_config, limits, shutdown, stop_now: CancellationToken::new() });
        let mut last_warning: Option<Instant> = None;
        loop {
            let permit = match Arc::clone(&slots).try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    if !matches!(last_warning, Some(at) if at.elapsed() < LIMIT_WARNING_INTERVAL) {
                        last_warning = Some(Instant::now());
                        tracing::warn!(max_connections, "connection limit reached; new connections wait");
                    }
                    tokio::select! {
                        _ = shared.shutdown.cancelled() => break,
                        permit = Arc::clone(&slots).acquire_owned() => permit.expect("the semaphore is never closed"),
                    }
                }
            };
            let (stream, peer) = tokio::select! {
                _ = shared.shutdown.cancelled() => break,
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
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                shared.connection(stream, peer).await;
                drop(permit);
            });
        }
        drop(listener);
        // Every slot back means every connection has ended.
        let all = u32::try_from(max_connections).expect("clamped to u32");
        if tokio::time::timeout(drain_timeout, slots.acquire_many(all)).await.is_err() {
            tracing::warn!("in-flight requests did not finish within {drain_timeout:?}; closing them");
            shared.stop_now.cancel();
        }
    }
}

impl Shared {
    async fn connection(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let acceptor = self.web_config.as_ref().and_then(|web| web.current().tls.clone());
        let Some(acceptor) = acceptor else { return self.serve_http(stream, peer).await };
        let handshake = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            handshake = tokio::time::timeout(self.limits.header_read_timeout, tls::accept(&acceptor, stream)) => handshake,
        };
        match handshake {
            Ok(Ok(Some(stream))) => self.serve_http(stream, peer).await,
            Ok(Ok(None)) => {}
            Ok(Err(err)) => tracing::debug!(peer = %peer, error = %err, "TLS handshake failed"),
            Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out"),
        }
    }

    async fn serve_http<I>(self: Arc<Self>, io: I, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let handler = Arc::clone(&self);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let handler = Arc::clone(&handler);
            async move { Ok::<_, Infallible>(handler.handle(request).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .max_buf_size(MAX_BUF_SIZE)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let deadline = tokio::time::sleep(self.limits.connection_max_age);
        tokio::pin!(deadline);
        let mut closing = false;
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(err) = ended {
                        tracing::debug!(peer = %peer, error = %err, "connection ended with an error");
                    }
                    return;
                }
                _ = self.stop_now.cancelled() => return,
                _ = self.shutdown.cancelled(), if !closing => {}
                _ = deadline.as_mut() => {
                    if closing {
                        tracing::debug!(peer = %peer, "connection dropped: it did not close in time");
                        return;
                    }
                }
            }
            // Shutdown or old age: finish the response in flight, then close.
            closing = true;
            connection.as_mut().graceful_shutdown();
            deadline.as_mut().reset(tokio::time::Instant::now() + self.limits.close_grace);
        }
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Chunks> {
        let settings = self.web_config.as_ref().map(WebConfigWatch::current);
        let mut response = self.answer(request, settings.as_deref()).await;
        for (name, value) in settings.iter().flat_map(|settings| settings.headers.iter()) {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }

    async fn answer(&self, request: Request<Incoming>, settings: Option<&WebSettings>) -> Response<Chunks> {
        if !request.body().is_end_stream() {
            // Content-Length above 0 or Transfer-Encoding. The body is not read; closing the
            // connection spares hyper from reading it to reach the next request.
            let mut response = text(StatusCode::PAYLOAD_TOO_LARGE, "request bodies are not accepted\n");
            response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        if let Some(auth) = settings.and_then(|settings| settings.auth.as_ref()) {
            if !auth.authorize(request.headers().get(AUTHORIZATION)).await {
                let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"dbs-exporter\""));
                return response;
            }
        }
        self.routes.respond(&request).await
    }
}
