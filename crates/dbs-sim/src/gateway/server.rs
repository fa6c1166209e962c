//! The hyper glue: accepting connections, reading parameters, and writing answers, including
//! the broken ones (a body that stops halfway, a connection reset).

use std::collections::BTreeMap;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::ready;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::wire::{self, Rendered, Rendering, Reply};
#[cfg(feature = "testing")]
use super::Fault;
use super::{Call, Route, Shared};

/// Requests are tiny; a larger body is refused rather than buffered.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a truncated body waits between its first part and its failure.
const TRUNCATION_PAUSE: Duration = Duration::from_millis(20);

/// Accepts connections until `shutdown`, then drops every open connection. With an acceptor,
/// each connection is a TLS one first.
pub(super) async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(serve_connection(stream, acceptor.clone(), Arc::clone(&shared)));
                }
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::debug!(%error, "gateway accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let reset = Arc::new(AtomicBool::new(false));
    let stream = ResettableStream { stream, reset: Arc::clone(&reset) };
    let Some(acceptor) = acceptor else {
        return serve_http(TokioIo::new(stream), false, shared, reset).await;
    };
    let tls = match acceptor.accept(stream).await {
        Ok(tls) => tls,
        Err(error) => {
            tracing::trace!(%error, "gateway TLS handshake failed");
            return;
        }
    };
    shared.handshakes.fetch_add(1, Ordering::Relaxed);
    let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    if http2 {
        shared.http2_connections.fetch_add(1, Ordering::Relaxed);
    }
    serve_http(TokioIo::new(tls), http2, shared, reset).await;
}

/// HTTP/1.1, or HTTP/2 when the handshake chose it, until the client goes.
async fn serve_http<I>(io: TokioIo<I>, http2: bool, shared: Arc<Shared>, reset: Arc<AtomicBool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let (shared, reset) = (Arc::clone(&shared), Arc::clone(&reset));
        async move { answer(&shared, request, &reset).await }
    });
    let served = if http2 {
        http2::Builder::new(TokioExecutor::new()).timer(TokioTimer::new()).serve_connection(io, service).await
    } else {
        http1::Builder::new().timer(TokioTimer::new()).serve_connection(io, service).await
    };
    if let Err(error) = served {
        tracing::trace!(%error, "gateway connection ended");
    }
}

/// The service: count, route, maybe misbehave, otherwise check and answer as the product
/// would. An `Err` makes hyper drop the connection without writing anything (the reset fault).
async fn answer(
    shared: &Shared,
    request: Request<Incoming>,
    reset: &AtomicBool,
) -> io::Result<Response<SimBody>> {
    let (parts, body) = request.into_parts();
    let header = |name| parts.headers.get(name).and_then(|h: &HeaderValue| h.to_str().ok());
    // HTTP/2 carries the host in the URI's authority rather than a `Host` header.
    let authority = parts.uri.authority().map(|a| a.as_str());
    let host = header(HOST).or(authority).unwrap_or("dbs-api.aliyuncs.com").to_string();
    let is_form = header(CONTENT_TYPE)
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let mut params = BTreeMap::new();
    if let Some(query) = parts.uri.query() {
        params.extend(url::form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    let body = Limited::new(body, MAX_BODY_BYTES).collect().await.map(|b| b.to_bytes());
    if let (true, Ok(body)) = (is_form, &body) {
        params.extend(url::form_urlencoded::parse(body).into_owned());
    }
    let mut call = Call {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        host,
        headers: parts.headers,
        params,
        now: SystemTime::now(),
    };
    shared.calls.fetch_add(1, Ordering::Relaxed);
    let route = shared.route(&call);
    if let Some(route) = &route {
        route.product.received(&call);
    }
    if body.is_err() {
        let reply = Reply::text(413, "Payload Too Large");
        #[cfg(feature = "testing")]
        shared.instruments.record(route.as_ref().map(|r| r.product.name()), &call, Some(&reply), None);
        return Ok(respond(wire::render(reply, &rendering(&call, route.as_ref()))));
    }

    let reply = reply(shared, &mut call, route.as_ref(), reset).await?;
    Ok(respond(wire::render(reply, &rendering(&call, route.as_ref()))))
}

/// The answer to a request read in full: the gateway's checks, then the product.
#[cfg(not(feature = "testing"))]
async fn reply(
    shared: &Shared,
    call: &mut Call,
    route: Option<&Route>,
    _reset: &AtomicBool,
) -> io::Result<Reply> {
    Ok(shared.dispatch(call, route))
}

/// The answer to a request read in full, in a test build: a fault's when one is due (a reset
/// answers nothing, latency delays the normal answer), else the gateway's own; logged.
#[cfg(feature = "testing")]
async fn reply(
    shared: &Shared,
    call: &mut Call,
    route: Option<&Route>,
    reset: &AtomicBool,
) -> io::Result<Reply> {
    let product = route.map(|r| r.product.name());
    let fault = shared.instruments.next_fault();
    let reply = match &fault {
        Some(Fault::Reset) => {
            shared.instruments.record(product, call, None, fault.as_ref());
            reset.store(true, Ordering::SeqCst);
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "simulated reset"));
        }
        Some(Fault::Latency(delay)) => {
            tokio::time::sleep(*delay).await;
            // Checked when it goes through, as the real gateway would.
            call.now = SystemTime::now();
            None
        }
        Some(other) => super::faults::reply_for(other),
        None => None,
    };
    let reply = reply.unwrap_or_else(|| shared.dispatch(call, route));
    shared.instruments.record(product, call, Some(&reply), fault.as_ref());
    Ok(reply)
}

/// How `call` asked to be answered.
fn rendering<'a>(call: &'a Call, route: Option<&'a Route>) -> Rendering<'a> {
    Rendering {
        json: call.param("Format").eq_ignore_ascii_case("json"),
        action: call.param("Action"),
        host: &call.host,
        product: route.map_or("OpenAPI", |r| r.product.name()),
    }
}

fn respond(rendered: Rendered) -> Response<SimBody> {
    let full_length = rendered.body.len();
    let body = match rendered.cut_at {
        Some(cut) => SimBody::Truncated(Some(Bytes::from(rendered.body).slice(..cut)), None),
        None => SimBody::Full(Some(Bytes::from(rendered.body))),
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(rendered.content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(full_length));
    for (name, value) in rendered.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// A response body: whole, or one that yields its first part and then fails, which makes hyper
/// abort the connection short of the promised `Content-Length`.
pub(super) enum SimBody {
    Full(Option<Bytes>),
    /// The first part, then a pause, then the error. Failing at once would make hyper drop the
    /// part still in its write buffer; the pause lets it flush the part to the client first.
    Truncated(Option<Bytes>, Option<Pin<Box<tokio::time::Sleep>>>),
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            SimBody::Full(chunk) => Poll::Ready(chunk.take().map(|c| Ok(Frame::data(c)))),
            SimBody::Truncated(chunk, pause) => {
                if let Some(chunk) = chunk.take() {
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                // Started only now, so the first poll is always pending and hyper flushes.
                let pause = pause.get_or_insert_with(|| Box::pin(tokio::time::sleep(TRUNCATION_PAUSE)));
                ready!(pause.as_mut().poll(cx));
                Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, "simulated truncation"))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, SimBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(chunk) => SizeHint::with_exact(chunk.as_ref().map_or(0, |c| c.len() as u64)),
            SimBody::Truncated(..) => SizeHint::default(),
        }
    }
}

/// A TCP stream that, once flagged, closes with `SO_LINGER` 0, so the peer sees a reset
/// (RST) rather than an orderly end of stream.
struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
