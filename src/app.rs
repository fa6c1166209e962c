//! Assembly: config and credentials in, a running poller and HTTP server out.
//!
//! `Daemon::build` validates and binds; `Daemon::run` only runs, until the shutdown future
//! resolves. Tests build one on port 0 and read the bound address.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{ClientOptions, DbsClient};
use crate::config::Config;
use crate::credentials::CredentialsProvider;
use crate::http::{self, Routes};
use crate::metrics::ExporterMetrics;
use crate::poller::{targets_from_config, CycleReport, PollSettings, Poller};
use crate::render::{Exposition, Layout};
use crate::state::Store;
use crate::Error;

/// Flags of the web side.
#[derive(Clone, Debug)]
pub struct WebOptions {
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
}

/// The poller and everything it feeds, without the HTTP server (used alone by `once`).
#[derive(Debug)]
pub struct Pipeline {
    pub poller: Arc<Poller>,
    pub exposition: Arc<Exposition>,
}

impl Pipeline {
    pub fn build(config: &Config, credentials: Arc<dyn CredentialsProvider>) -> Result<Self, Error> {
        let options = ClientOptions { timeout: config.request_timeout, ..ClientOptions::default() };
        let client = DbsClient::new(options, credentials)?;
        let metrics = ExporterMetrics::new(config.regions.iter().map(|r| r.region_id.as_str()));
        let store = Arc::new(Store::new());
        let targets = targets_from_config(config);
        let layout = Layout { task_types: config.task_types.clone(), target_count: targets.len() };
        let poller = Arc::new(Poller::new(
            client,
            targets,
            PollSettings::from_config(config),
            store.clone(),
            metrics.clone(),
        ));
        let exposition = Arc::new(Exposition::new(store, metrics, layout));
        Ok(Pipeline { poller, exposition })
    }

    /// One cycle over every target, no spreading: for `once` and tests.
    pub async fn poll_once(&self) -> CycleReport {
        self.poller.poll_cycle(None).await
    }
}

#[derive(Debug)]
pub struct Daemon {
    listener: TcpListener,
    pipeline: Pipeline,
    telemetry_path: String,
}

impl Daemon {
    pub async fn build(
        config: &Config,
        credentials: Arc<dyn CredentialsProvider>,
        web: &WebOptions,
    ) -> Result<Self, Error> {
        let pipeline = Pipeline::build(config, credentials)?;
        let listener = TcpListener::bind(web.listen_address)
            .await
            .map_err(|source| Error::Bind { address: web.listen_address, source })?;
        Ok(Daemon { listener, pipeline, telemetry_path: web.telemetry_path.clone() })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Polls and serves until `shutdown` resolves, then stops polling and drains requests.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let token = CancellationToken::new();
        let poller = tokio::spawn(Arc::clone(&self.pipeline.poller).run(token.clone()));
        let routes = Arc::new(Routes::new(self.pipeline.exposition, self.telemetry_path));
        let server = tokio::spawn(http::serve(self.listener, routes, token.clone()));
        shutdown.await;
        tracing::info!("shutting down");
        token.cancel();
        let _ = poller.await;
        let _ = server.await;
    }
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
