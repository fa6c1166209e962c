//! A loopback fake of Alibaba Cloud's API gateway, on which simulated products are mounted.
//!
//! One server (HTTP/1.1, or HTTPS with HTTP/2 and HTTP/1.1 under a CA of its own, [`SimCa`]) checks what the real gateway checks, once for every product: the common
//! parameters, signature V1, the timestamp window, nonce replay (a bounded memory) and STS
//! tokens with their expiry, against one set of keys. It then routes an RPC request by its
//! `Action` and `Version` to the [`Product`] that serves it (DBS here; STS and the ECS metadata
//! service in the test support), or a request outside `/` by its path. It can be told to
//! misbehave (`Fault`) and keeps a log of what it was asked: both only with the `testing`
//! feature (`instruments.rs`, `faults.rs`).

mod auth;
#[cfg(feature = "testing")]
mod faults;
#[cfg(feature = "testing")]
mod instruments;
mod server;
pub mod signature;
mod tls;
mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::auth::{authenticate, NonceCache};
pub use self::auth::{Account, Accounts};
#[cfg(feature = "testing")]
pub use self::faults::Fault;
#[cfg(feature = "testing")]
pub use self::instruments::Logged;
pub use self::tls::SimCa;
pub use self::wire::{GatewayError, Reply};
use crate::util::lock;

/// A request as a product sees it.
pub struct Call {
    pub method: String,
    /// The URL's path: `/` for RPC calls.
    pub path: String,
    /// What the client sent as `Host`, for the `HostId` of errors.
    pub host: String,
    pub headers: hyper::HeaderMap,
    /// The query string and, for a form body, the body's parameters.
    pub params: BTreeMap<String, String>,
    pub now: SystemTime,
}

impl Call {
    /// A parameter, or `""` when it was not sent.
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An RPC action a product serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    pub name: &'static str,
    /// False for actions called without a key (`AssumeRoleWithOIDC`: the token is the proof).
    pub signed: bool,
}

/// What a product answers.
#[derive(Clone, Copy, Debug)]
pub enum Routes {
    /// RPC actions at `/`, in one API version.
    Rpc { version: &'static str, actions: &'static [Action] },
    /// Every path under a prefix, outside the RPC checks (the ECS metadata service).
    Paths(&'static str),
}

/// An API the gateway serves.
pub trait Product: Send + Sync + 'static {
    /// Its name in the `Recommend` link of errors and in the request log: `Dbs`, `Sts`.
    fn name(&self) -> &'static str;

    fn routes(&self) -> Routes;

    /// Sees every request routed to it as it arrives, before any fault or check.
    fn received(&self, _call: &Call) {}

    /// Answers a request that passed the gateway's checks. `accounts` are the gateway's keys,
    /// for products that hand out new ones.
    fn answer(&self, call: &Call, accounts: &Accounts) -> Reply;
}

/// Where a request goes.
struct Route {
    product: Arc<dyn Product>,
    /// The RPC action, for a request at `/`.
    action: Option<Action>,
    /// Whether the product serves the request's `Version` (RPC only).
    version_served: bool,
}

/// State shared by every connection of one gateway.
pub(crate) struct Shared {
    accounts: Accounts,
    nonces: Mutex<NonceCache>,
    /// Faults to serve and the request log (test builds).
    #[cfg(feature = "testing")]
    instruments: instruments::Instruments,
    products: Mutex<Vec<Arc<dyn Product>>>,
    calls: AtomicU64,
    /// Connections accepted, and of them the TLS handshakes completed and those that
    /// negotiated HTTP/2: what connection reuse is measured by.
    connections: AtomicU64,
    handshakes: AtomicU64,
    http2_connections: AtomicU64,
}

impl Shared {
    fn route(&self, call: &Call) -> Option<Route> {
        let products = lock(&self.products);
        if call.path != "/" {
            let product = products
                .iter()
                .find(|p| matches!(p.routes(), Routes::Paths(prefix) if call.path.starts_with(prefix)))?;
            return Some(Route { product: Arc::clone(product), action: None, version_served: true });
        }
        let (action, version) = (call.param("Action"), call.param("Version"));
        let mut found: Option<Route> = None;
        for product in products.iter() {
            let Routes::Rpc { version: served, actions } = product.routes() else { continue };
            let Some(named) = actions.iter().find(|a| a.name == action) else { continue };
            let route = Route {
                product: Arc::clone(product),
                action: Some(*named),
                version_served: served == version,
            };
            if route.version_served {
                return Some(route);
            }
            found.get_or_insert(route);
        }
        found
    }

    /// Answers a request that drew no fault, running the gateway's checks first.
    fn dispatch(&self, call: &Call, route: Option<&Route>) -> Reply {
        if call.path != "/" {
            return match route {
                Some(route) => route.product.answer(call, &self.accounts),
                None => Reply::text(404, "Not Found"),
            };
        }
        if call.method != "GET" && call.method != "POST" {
            return Reply::text(405, "Method Not Allowed");
        }
        let signed = route.and_then(|r| r.action).is_none_or(|action| action.signed);
        if signed {
            if let Err(error) =
                authenticate(&self.accounts, &self.nonces, &call.method, &call.params, call.now)
            {
                return Reply::Gateway(error);
            }
        }
        match route {
            None => Reply::Gateway(GatewayError::new(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )),
            Some(route) if !route.version_served => Reply::Gateway(GatewayError::new(
                400,
                "InvalidVersion",
                "Specified parameter Version is not valid.",
            )),
            Some(route) => route.product.answer(call, &self.accounts),
        }
    }
}

/// Stops the server when the last [`Gateway`] clone goes away.
struct Running {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Whether it serves HTTPS.
    tls: bool,
    shutdown: CancellationToken,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A running gateway. Clones share one server; dropping the last clone stops it.
#[derive(Clone)]
pub struct Gateway {
    running: Arc<Running>,
}

impl Gateway {
    /// Binds `addr` (port 0 picks a free port) and serves, with no product and no key yet.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Gateway> {
        Gateway::start_with(addr, None).await
    }

    /// Binds `addr` and serves HTTPS with a certificate of `ca`, offering HTTP/2 and HTTP/1.1.
    pub async fn start_tls(addr: SocketAddr, ca: &SimCa) -> std::io::Result<Gateway> {
        Gateway::start_with(addr, Some(ca)).await
    }

    /// HTTPS with `ca`'s certificate, or plain HTTP without one.
    pub async fn start_with(addr: SocketAddr, ca: Option<&SimCa>) -> std::io::Result<Gateway> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            accounts: Accounts::default(),
            nonces: Mutex::new(NonceCache::default()),
            #[cfg(feature = "testing")]
            instruments: instruments::Instruments::default(),
            products: Mutex::new(Vec::new()),
            calls: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            handshakes: AtomicU64::new(0),
            http2_connections: AtomicU64::new(0),
        });
        let shutdown = CancellationToken::new();
        let acceptor = ca.map(SimCa::acceptor);
        let server =
            tokio::spawn(server::accept_loop(listener, acceptor, Arc::clone(&shared), shutdown.clone()));
        let running = Running { shared, addr, tls: ca.is_some(), shutdown, server: Mutex::new(Some(server)) };
        Ok(Gateway { running: Arc::new(running) })
    }

    /// Serves `product` from now on, besides those mounted before.
    pub fn mount(&self, product: Arc<dyn Product>) {
        lock(&self.shared().products).push(product);
    }

    /// Accepts requests signed with this key, for every product.
    pub fn accept(&self, access_key_id: impl Into<String>, account: Account) {
        self.shared().accounts.grant(access_key_id, account);
    }

    /// `http://127.0.0.1:PORT` (`https://` when it serves HTTPS), ready to be used as an
    /// endpoint override.
    pub fn url(&self) -> String {
        let scheme = if self.running.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.running.addr)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared().connections.load(Ordering::Relaxed)
    }

    /// TLS handshakes completed so far (0 over plain HTTP).
    pub fn handshakes(&self) -> u64 {
        self.shared().handshakes.load(Ordering::Relaxed)
    }

    /// Connections that negotiated HTTP/2 (with ALPN, over HTTPS).
    pub fn http2_connections(&self) -> u64 {
        self.shared().http2_connections.load(Ordering::Relaxed)
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.running.shared
    }

    /// Every HTTP request received, whatever was answered.
    pub fn calls(&self) -> u64 {
        self.shared().calls.load(Ordering::Relaxed)
    }

    /// Stops accepting, drops open connections and waits for the server to finish. Other clones
    /// then point at a stopped server.
    pub async fn shutdown(self) {
        self.running.shutdown.cancel();
        let server = lock(&self.running.server).take();
        if let Some(server) = server {
            let _ = server.await;
        }
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("addr", &self.running.addr).finish_non_exhaustive()
    }
}
