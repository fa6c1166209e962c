//! Assembly: config and credentials in, a running poller and HTTP server out.
//!
//! `Daemon::build` validates and binds; `Daemon::run` only runs, until the shutdown future
//! resolves. Tests build one on port 0 and read the bound address. A reload (SIGHUP or
//! `POST /-/reload`) builds a new poller from the re-read config and swaps it in; an invalid
//! config is refused and the running one stays.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{ClientOptions, DbsClient};
use crate::config::{self, AccountConfig, Config};
use crate::credentials::{CredentialEnv, CredentialsProvider};
use crate::http::{self, Routes};
use crate::metrics::ExporterMetrics;
use crate::model::TargetKey;
use crate::poller::{targets_from_config, Cadences, CycleReport, PollSettings, Poller, Shard};
use crate::reload::{self, ReloadReceiver};
use crate::render::{Exposition, Layout};
use crate::state::Store;
use crate::status::{Catalog, StatusBoard, Summary};
use crate::Error;

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
    fn for_account(&self, account: &AccountConfig) -> Result<Arc<dyn CredentialsProvider>, Error> {
        match self {
            AccountCredentials::Shared(provider) => Ok(Arc::clone(provider)),
            AccountCredentials::Resolved(env) => account_provider(account, env),
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

/// The poller and everything it feeds, without the HTTP server (used alone by `once`).
#[derive(Debug)]
pub struct Pipeline {
    pub poller: Arc<Poller>,
    pub exposition: Arc<Exposition>,
    pub status: Arc<StatusBoard>,
    store: Arc<Store>,
    metrics: ExporterMetrics,
    credentials: AccountCredentials,
    shard: Shard,
}

impl Pipeline {
    /// Every account with the same credentials, every instance: for tests and tools.
    pub fn build(config: &Config, credentials: Arc<dyn CredentialsProvider>) -> Result<Self, Error> {
        Self::build_with(config, AccountCredentials::Shared(credentials), Shard::default())
    }

    /// A pipeline that polls the instances of `shard`, each account with its credentials.
    pub fn build_with(config: &Config, credentials: AccountCredentials, shard: Shard) -> Result<Self, Error> {
        let metrics = ExporterMetrics::new(config.regions.iter().map(|r| r.region_id.as_str()));
        metrics.set_shard(shard.index(), shard.count());
        let store = Arc::new(Store::new());
        let poller = build_poller(config, shard, &credentials, &store, &metrics)?;
        let exposition = Arc::new(Exposition::new(store.clone(), metrics.clone(), layout(config, &poller)));
        let status = Arc::new(StatusBoard::new(store.clone(), catalog(config, &poller, shard)));
        Ok(Pipeline { poller, exposition, status, store, metrics, credentials, shard })
    }

    /// One pass over every target, as fast as the pacing allows: for `once` and tests.
    pub async fn poll_once(&self) -> CycleReport {
        self.poller.poll_cycle().await
    }

    /// The poller of `config`, built (credentials included) without touching the running one:
    /// a config that cannot be built is refused before anything stops.
    fn prepare(&self, config: &Config) -> Result<Arc<Poller>, Error> {
        build_poller(config, self.shard, &self.credentials, &self.store, &self.metrics)
    }

    /// Switches to `config` and its prepared poller; the series of removed targets go at once.
    fn switch_to(&mut self, config: &Config, poller: Arc<Poller>) {
        self.metrics.add_regions(config.regions.iter().map(|r| r.region_id.as_str()));
        let keep: HashSet<TargetKey> = poller.targets().iter().map(|t| t.key.clone()).collect();
        self.store.retain_targets(&|target| keep.contains(target));
        self.exposition.set_layout(layout(config, &poller));
        self.status.set_catalog(catalog(config, &poller, self.shard));
        self.poller = poller;
    }
}

/// One client (connection pool and credentials) per account, and the targets that use them.
fn build_poller(
    config: &Config,
    shard: Shard,
    credentials: &AccountCredentials,
    store: &Arc<Store>,
    metrics: &ExporterMetrics,
) -> Result<Arc<Poller>, Error> {
    let options = ClientOptions { timeout: config.request_timeout, ..ClientOptions::default() };
    let mut clients = HashMap::new();
    let mut providers = Vec::new();
    for account in &config.accounts {
        let provider = credentials.for_account(account)?;
        tracing::info!(account = %account.name, source = provider.describe(), "credentials found");
        providers.push(Arc::clone(&provider));
        clients.insert(account.name.clone(), DbsClient::new(options.clone(), provider)?);
    }
    metrics.watch_credentials(providers);
    let targets = targets_from_config(config, shard, &|account| clients[account].clone());
    let settings = PollSettings::from_config(config);
    Ok(Arc::new(Poller::new(targets, settings, Arc::clone(store), metrics.clone())))
}

fn layout(config: &Config, poller: &Poller) -> Layout {
    Layout {
        task_types: config.task_types.clone(),
        target_count: poller.targets().len(),
        metrics: config.metrics.clone(),
    }
}

/// What the status page says of the configuration, and the targets it lists.
fn catalog(config: &Config, poller: &Poller, shard: Shard) -> Catalog {
    let targets: Vec<_> = poller.targets().iter().map(|t| t.key.clone()).collect();
    let mut instances: Vec<_> = targets.iter().map(|key| &key.instance).collect();
    instances.dedup();
    let summary = Summary {
        version: env!("CARGO_PKG_VERSION"),
        accounts: config.accounts.iter().map(|account| account.name.clone()).collect(),
        regions: config.regions.len(),
        instances: instances.len(),
        task_types: config.task_types.iter().map(|t| t.as_str()).collect(),
        shard: shard.to_string(),
        poll_interval: config::format_duration(config.poll_interval),
        lookback: config::format_duration(config.lookback),
    };
    Catalog { summary, targets }
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
        let pipeline = Pipeline::build_with(&config, credentials, shard)?;
        let web_config = web.web_config_file.as_deref().map(http::WebConfigWatch::load).transpose()?;
        let listener = TcpListener::bind(web.listen_address)
            .await
            .map_err(|source| Error::Bind { address: web.listen_address, source })?;
        let telemetry_path = web.telemetry_path.clone();
        let enable_lifecycle = web.enable_lifecycle;
        Ok(Daemon { listener, pipeline, source, telemetry_path, web_config, enable_lifecycle })
    }

    pub fn target_count(&self) -> usize {
        self.pipeline.poller.targets().len()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Polls and serves until `shutdown` resolves, then stops polling and drains requests.
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
        let mut polling = RunningPoller::start(&self.pipeline.poller, &token, Cadences::default());
        let mut hangups = hangup_signals();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(request) = reload_requests.recv() => {
                    let outcome = reload(&mut self.pipeline, &self.source, &mut polling, &token).await;
                    let _ = request.reply.send(outcome);
                }
                Some(()) = next_hangup(&mut hangups) => {
                    let _ = reload(&mut self.pipeline, &self.source, &mut polling, &token).await;
                }
            }
        }
        tracing::info!("shutting down");
        token.cancel();
        // Answered before the drain, so a reload asked for now does not wait for it.
        drain_reload_requests(&mut reload_requests);
        polling.stop().await;
        let _ = server.await;
    }
}

/// The poller's task and the token that stops it.
struct RunningPoller {
    token: CancellationToken,
    task: JoinHandle<Cadences>,
}

impl RunningPoller {
    fn start(poller: &Arc<Poller>, parent: &CancellationToken, carried: Cadences) -> Self {
        let token = parent.child_token();
        let task = tokio::spawn(Arc::clone(poller).run(token.clone(), carried));
        RunningPoller { token, task }
    }

    /// Stops polling (listings in flight are dropped) and returns each target's cadence.
    async fn stop(&mut self) -> Cadences {
        self.token.cancel();
        (&mut self.task).await.unwrap_or_default()
    }
}

/// Re-reads the config; on success the old poller stops (its in-flight listings are dropped)
/// and the new one starts: targets that stay keep their series and their cadence, new ones
/// are listed at once.
async fn reload(
    pipeline: &mut Pipeline,
    source: &ConfigSource,
    polling: &mut RunningPoller,
    parent: &CancellationToken,
) -> Result<(), String> {
    let prepared = source.load().and_then(|config| {
        let poller = pipeline.prepare(&config)?;
        Ok((config, poller))
    });
    match prepared {
        Ok((config, poller)) => {
            // The old poller is stopped before removed instances are dropped, so none of its
            // in-flight listings can write one back afterwards.
            let carried = polling.stop().await;
            pipeline.switch_to(&config, poller);
            *polling = RunningPoller::start(&pipeline.poller, parent, carried);
            pipeline.metrics.record_reload(true);
            tracing::info!(targets = config.target_count(), "configuration reloaded");
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
