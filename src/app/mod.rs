//! Assembly: config and credentials in, a running poller and HTTP server out.
//!
//! `Daemon::build` validates and binds; `Daemon::run` only runs, until the shutdown future
//! resolves. Tests build one on port 0 and read the bound address. One poller runs from the
//! first target set to shutdown: a reload (SIGHUP or `POST /-/reload`) or a discovery refresh
//! that changes the instances publishes a new generation and hands the poller its new target
//! set; an invalid config is refused and the running one stays.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod error;
mod pipeline;
mod trust;

pub use error::Error;
pub use pipeline::Pipeline;
pub use trust::{ca_bundle, ca_bundle_from_process, describe as describe_trust, ENV_SSL_CERT_FILE};

use crate::config::{self, AccountConfig, Config};
use crate::credentials::{CredentialEnv, CredentialsProvider};
use crate::http::reload::{self, ReloadReceiver};
use crate::http::{self, Routes};
use crate::inventory::{Discoverer, Refresh};
use crate::poller::{Shard, TargetSet};
use crate::rpc::CaBundle;
use crate::util::WallClock;

/// Flags of the web side.
#[derive(Clone, Debug)]
pub struct WebOptions {
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    /// `--web.config.file`: TLS and basic auth, re-read when it changes.
    pub web_config_file: Option<PathBuf>,
    /// `--web.enable-lifecycle`: `POST /-/reload` reloads; without it, it answers 403.
    pub enable_lifecycle: bool,
}

/// Where the configuration comes from, and so what a reload re-reads.
#[derive(Clone, Debug)]
pub enum ConfigSource {
    File(PathBuf),
    /// Built in code (the demo): a reload re-applies it unchanged.
    Fixed(Box<Config>),
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, Error> {
        match self {
            ConfigSource::File(path) => Ok(config::load(path)?),
            ConfigSource::Fixed(config) => Ok((**config).clone()),
        }
    }
}

/// Where each account's credentials come from.
#[derive(Clone)]
pub enum AccountCredentials {
    /// One provider for every account (the demo, tests).
    Shared(Arc<dyn CredentialsProvider>),
    /// Each account's `credentials:` resolved against the process environment and home; the
    /// implicit single account uses the default chain.
    Resolved(Arc<CredentialEnv>),
}

impl std::fmt::Debug for AccountCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountCredentials::Shared(provider) => write!(f, "Shared({})", provider.describe()),
            AccountCredentials::Resolved(_) => f.write_str("Resolved"),
        }
    }
}

impl AccountCredentials {
    /// The account's provider; its STS calls trust `ca_bundle` besides the built-in roots.
    fn for_account(
        &self,
        account: &AccountConfig,
        ca_bundle: Option<&CaBundle>,
    ) -> Result<Arc<dyn CredentialsProvider>, Error> {
        match self {
            AccountCredentials::Shared(provider) => Ok(Arc::clone(provider)),
            AccountCredentials::Resolved(env) => account_provider(account, &env.trusting(ca_bundle.cloned())),
        }
    }
}

/// An account's credentials provider over `env`, as the daemon builds it (and `check-config`
/// checks it); an error names the account.
pub fn account_provider(
    account: &AccountConfig,
    env: &CredentialEnv,
) -> Result<Arc<dyn CredentialsProvider>, Error> {
    env.provider(&account.credentials).map_err(|source| Error::AccountCredentials {
        account: account.name.clone(),
        source: Box::new(source),
    })
}

#[derive(Debug)]
pub struct Daemon {
    listener: TcpListener,
    pipeline: Pipeline,
    source: ConfigSource,
    telemetry_path: String,
    web_config: Option<http::WebConfigWatch>,
    enable_lifecycle: bool,
}

impl Daemon {
    pub async fn build(
        source: ConfigSource,
        credentials: AccountCredentials,
        web: &WebOptions,
        shard: Shard,
    ) -> Result<Self, Error> {
        let config = source.load()?;
        let pipeline = Pipeline::build_with(&config, credentials, shard, WallClock::System)?;
        let web_config = web.web_config_file.as_deref().map(http::WebConfigWatch::load).transpose()?;
        let listener = TcpListener::bind(web.listen_address)
            .await
            .map_err(|source| Error::Bind { address: web.listen_address, source })?;
        let telemetry_path = web.telemetry_path.clone();
        let enable_lifecycle = web.enable_lifecycle;
        Ok(Daemon { listener, pipeline, source, telemetry_path, web_config, enable_lifecycle })
    }

    /// Listings of the instances known at start: the listed ones (discovery adds its own after
    /// its first refresh).
    pub fn target_count(&self) -> usize {
        self.pipeline.targets().len()
    }

    pub fn discovers(&self) -> bool {
        self.pipeline.discoverer().is_some()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Polls and serves until `shutdown` resolves, then stops polling and drains requests.
    /// With discovery, the first refresh runs before the first poll, so the first cycle
    /// already covers the estate; later refreshes run every `refresh_interval` beside polling.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let token = CancellationToken::new();
        let (reload_sender, mut reload_requests) = reload::channel();
        let routes = Routes::new(Arc::clone(&self.pipeline.exposition), self.telemetry_path.clone())
            .with_status(Arc::clone(&self.pipeline.status));
        let routes = if self.enable_lifecycle {
            routes.with_reload(reload_sender)
        } else {
            routes.with_reload_disabled()
        };
        let server =
            http::Server::new(self.listener, Arc::new(routes)).with_web_config(self.web_config.take());
        let server = tokio::spawn(server.run(token.clone()));
        let mut discovery = Discovery::start(&self.pipeline);
        let mut polling = Polling::new(self.pipeline.target_set());
        if !discovery.is_on() {
            // Without discovery the first target set is complete now; with it, the first poll
            // waits for the first refresh, so that the first round covers the estate.
            polling.start(&self.pipeline, &token);
        }
        let mut hangups = hangup_signals();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(request) = reload_requests.recv() => {
                    let outcome = reload(&mut self.pipeline, &self.source);
                    if outcome.is_ok() {
                        after_reload(&self.pipeline, &mut discovery, &mut polling, &token);
                    }
                    let _ = request.reply.send(outcome);
                }
                Some(()) = next_hangup(&mut hangups) => {
                    if reload(&mut self.pipeline, &self.source).is_ok() {
                        after_reload(&self.pipeline, &mut discovery, &mut polling, &token);
                    }
                }
                refresh = discovery.next_refresh() => {
                    let changed = self.pipeline.apply(refresh);
                    if !polling.is_running() {
                        polling.start(&self.pipeline, &token);
                    } else if changed {
                        polling.hand(&self.pipeline);
                    }
                }
            }
        }
        tracing::info!("shutting down");
        token.cancel();
        discovery.stop();
        // Answered before the drain, so a reload asked for now does not wait for it.
        drain_reload_requests(&mut reload_requests);
        polling.stop().await;
        let _ = server.await;
    }
}

/// A new configuration is in place: discovery starts over with it, and the poller takes its
/// target set (or starts, when discovery was turned off before it had run).
fn after_reload(
    pipeline: &Pipeline,
    discovery: &mut Discovery,
    polling: &mut Polling,
    token: &CancellationToken,
) {
    discovery.restart(pipeline);
    if polling.is_running() {
        polling.hand(pipeline);
    } else if !discovery.is_on() {
        polling.start(pipeline, token);
    }
}

/// The one poller of the process and the channel that hands it target sets.
struct Polling {
    sets: watch::Sender<Arc<TargetSet>>,
    task: Option<JoinHandle<()>>,
}

impl Polling {
    fn new(first: Arc<TargetSet>) -> Self {
        Polling { sets: watch::channel(first).0, task: None }
    }

    fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// Starts the poller on the pipeline's current target set; it runs until `token` is
    /// cancelled.
    fn start(&mut self, pipeline: &Pipeline, token: &CancellationToken) {
        self.sets.send_replace(pipeline.target_set());
        let poller = Arc::clone(&pipeline.poller);
        self.task = Some(tokio::spawn(poller.run(self.sets.subscribe(), token.clone())));
    }

    /// Hands the running poller the pipeline's current target set.
    fn hand(&self, pipeline: &Pipeline) {
        self.sets.send_replace(pipeline.target_set());
    }

    /// Waits for the poller to stop (its token is cancelled first).
    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Discovery refreshes: one at a time, the next `refresh_interval` after the last began.
struct Discovery {
    discoverer: Option<Arc<Discoverer>>,
    running: Option<JoinHandle<Refresh>>,
    next: tokio::time::Instant,
}

impl Discovery {
    /// Starts the first refresh at once, when the pipeline's configuration has discovery.
    fn start(pipeline: &Pipeline) -> Self {
        let mut discovery = Discovery { discoverer: None, running: None, next: tokio::time::Instant::now() };
        discovery.restart(pipeline);
        discovery
    }

    fn is_on(&self) -> bool {
        self.discoverer.is_some()
    }

    /// Drops a refresh in flight (it lists for the previous configuration) and refreshes now.
    fn restart(&mut self, pipeline: &Pipeline) {
        self.stop();
        self.discoverer = pipeline.discoverer();
        if let Some(discoverer) = &self.discoverer {
            self.next = tokio::time::Instant::now() + discoverer.refresh_interval();
            self.running = Some(tokio::spawn(Arc::clone(discoverer).refresh()));
        }
    }

    fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }

    /// The next finished refresh; pending forever without discovery.
    async fn next_refresh(&mut self) -> Refresh {
        let Some(discoverer) = self.discoverer.clone() else {
            return std::future::pending().await;
        };
        loop {
            match &mut self.running {
                Some(running) => {
                    let joined = running.await;
                    self.running = None;
                    match joined {
                        Ok(refresh) => return refresh,
                        Err(err) => tracing::error!(error = %err, "a discovery refresh ended abnormally"),
                    }
                }
                None => {
                    tokio::time::sleep_until(self.next).await;
                    self.next = tokio::time::Instant::now() + discoverer.refresh_interval();
                    self.running = Some(tokio::spawn(Arc::clone(&discoverer).refresh()));
                }
            }
        }
    }
}

/// Re-reads the config; on success its generation is published at once: targets that stay
/// keep their series and their cadence, new ones are listed at once, removed ones are dropped.
fn reload(pipeline: &mut Pipeline, source: &ConfigSource) -> Result<(), String> {
    let prepared = source.load().and_then(|config| pipeline.prepare(&config));
    match prepared {
        Ok(setup) => {
            let targets = setup.config().target_count();
            pipeline.switch_to(setup);
            pipeline.metrics.record_reload(true);
            tracing::info!(listed_targets = targets, "configuration reloaded");
            Ok(())
        }
        Err(err) => {
            pipeline.metrics.record_reload(false);
            tracing::error!(error = %err, "configuration reload refused; the previous configuration keeps running");
            Err(err.to_string())
        }
    }
}

fn drain_reload_requests(requests: &mut ReloadReceiver) {
    requests.close();
    while let Ok(request) = requests.try_recv() {
        let _ = request.reply.send(Err("the exporter is shutting down".into()));
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangup_signals() -> Hangups {
    None
}

/// The next SIGHUP; pending forever where there are none.
async fn next_hangup(hangups: &mut Hangups) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = hangups {
        return signal.recv().await;
    }
    let _ = hangups;
    std::future::pending().await
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
