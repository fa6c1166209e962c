//! The one way a test stands up what it runs against, in the manner of zero2prod's `spawn_app`:
//! - [`TestEstate`]: the simulator, accepting the shared key ([`KEY_ID`], [`SECRET`]), with
//!   tasks, db instances, RAM denials, the shared STS key or TLS as the test needs;
//! - [`Exporter`]: an exporter on a configuration file, in this process (`Daemon`) or the real
//!   binary, signing with the shared key unless told otherwise;
//! - [`TestEstate::spawn`]: both, the configuration written from the running simulator;
//! - [`TestExporter`]: what the test holds of a running exporter: its base URL, scrapes, its
//!   configuration file to rewrite before a reload, the binary's log, and a clean stop.
//!
//! Tests that drive the library's pipeline or client directly take [`pipeline`] and
//! [`credentials`], signed with the same key.
//!
//! ```ignore
//! let (sim, mut exporter) = TestEstate::new()
//!     .tasks([SimTask::new("dt-1", "cn-hangzhou", "rm-1", TaskType::Full, "running", now_ms())])
//!     .spawn(Exporter::binary(), |sim| config_text(sim))
//!     .await;
//! let text = exporter.metrics_until("rm-1 listed", |text| text.contains("rm-1")).await;
//! exporter.stop().await;
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dbs_exporter::app::{AccountCredentials, ConfigSource, Daemon, Pipeline, WebOptions};
use dbs_exporter::config;
use dbs_exporter::credentials::{CredentialEndpoints, CredentialEnv, Credentials, StaticCredentials};
use dbs_exporter::poller::Shard;
use dbs_exporter::render::Exposition;
use dbs_exporter::util::WallClock;
use dbs_sim::{SimCa, SimDbInstance, SimHandle, SimTask, Simulator};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{
    eventually, exporter, get, samples, wait_ok, write_config, Running, KEY_ID, LONG_PATIENCE, PATIENCE,
    SECRET, STS_KEY_ID, STS_SECRET, STS_TOKEN,
};

const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// The shared key as credentials, for a pipeline or a client built in the test.
pub fn credentials() -> Arc<StaticCredentials> {
    Arc::new(StaticCredentials::new(Credentials::new(KEY_ID, SECRET)))
}

/// A pipeline on the configuration `text`, signing with the shared key.
pub fn pipeline(text: &str) -> Pipeline {
    pipeline_on(&parse(text))
}

/// A pipeline on `config`, every account signing with the shared key, every instance polled.
pub fn pipeline_on(config: &config::Config) -> Pipeline {
    let credentials = AccountCredentials::Shared(credentials());
    Pipeline::build_with(config, credentials, Shard::default(), WallClock::System).unwrap()
}

/// A pipeline on `text` whose accounts resolve their credentials as the binary does, but from
/// `variables` instead of this process's environment (which every test shares).
pub fn pipeline_with_env(text: &str, variables: &[(&str, &str)]) -> Pipeline {
    let variables: HashMap<String, String> =
        variables.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    let env =
        CredentialEnv::new(move |name| variables.get(name).cloned(), None, CredentialEndpoints::default());
    let credentials = AccountCredentials::Resolved(Arc::new(env));
    Pipeline::build_with(&parse(text), credentials, Shard::default(), WallClock::System).unwrap()
}

fn parse(text: &str) -> config::Config {
    config::parse(text, "test.yaml").unwrap_or_else(|err| panic!("{err}\n{text}"))
}

/// What a pipeline exposes on `/metrics`, as text.
pub fn metrics_of(pipeline: &Pipeline) -> String {
    exposition_text(&pipeline.exposition)
}

/// An exposition as a scrape without gzip would send it.
pub fn exposition_text(exposition: &Exposition) -> String {
    let mut out = Vec::new();
    exposition.write_plain(&mut out).expect("writing to memory");
    String::from_utf8(out).expect("the exposition is UTF-8")
}

/// The simulator with tasks and nothing else, for a test of the client alone.
pub async fn simulator(tasks: impl IntoIterator<Item = SimTask>) -> SimHandle {
    TestEstate::new().tasks(tasks).start().await
}

/// The simulator a test runs against, built up and then started on a loopback port.
pub struct TestEstate {
    simulator: Simulator,
    ca: Option<SimCa>,
}

impl Default for TestEstate {
    fn default() -> Self {
        TestEstate::new()
    }
}

impl TestEstate {
    /// No task, no instance, the shared key accepted.
    pub fn new() -> Self {
        TestEstate { simulator: Simulator::new().with_access_key(KEY_ID, SECRET), ca: None }
    }

    pub fn tasks(self, tasks: impl IntoIterator<Item = SimTask>) -> Self {
        self.with(|simulator| simulator.with_tasks(tasks))
    }

    /// Instances the discovery APIs list.
    pub fn instances(self, instances: impl IntoIterator<Item = SimDbInstance>) -> Self {
        self.with(|simulator| simulator.with_db_instances(instances))
    }

    /// RAM denies the listing of this instance (HTTP 403 `Forbidden.RAM`).
    pub fn forbidden(self, region: &str, instance: &str) -> Self {
        self.with(|simulator| simulator.with_forbidden_instance(region, instance))
    }

    /// Also accepts the shared STS key ([`STS_KEY_ID`] with [`STS_TOKEN`]) for an hour.
    pub fn sts(self) -> Self {
        self.sts_until(SystemTime::now() + Duration::from_secs(3600))
    }

    /// Also accepts the shared STS key, until `expires_at` (in the past: an expired token).
    pub fn sts_until(self, expires_at: SystemTime) -> Self {
        self.with(|simulator| simulator.with_sts_credentials(STS_KEY_ID, STS_SECRET, STS_TOKEN, expires_at))
    }

    /// Serves HTTPS with a certificate of `ca`.
    pub fn tls(mut self, ca: &SimCa) -> Self {
        self.ca = Some(ca.clone());
        self
    }

    /// Anything else the simulator's builder offers (a task source, a page size cap, more keys).
    pub fn with(mut self, build: impl FnOnce(Simulator) -> Simulator) -> Self {
        self.simulator = build(self.simulator);
        self
    }

    /// The simulator alone, serving on a loopback port.
    pub async fn start(self) -> SimHandle {
        self.simulator.start_with(LOOPBACK, self.ca.as_ref()).await.expect("the simulator starts")
    }

    /// The simulator, and `exporter` on the configuration `config` writes for it.
    pub async fn spawn(
        self,
        exporter: Exporter,
        config: impl FnOnce(&SimHandle) -> String,
    ) -> (SimHandle, TestExporter) {
        let sim = self.start().await;
        let exporter = exporter.start(&config(&sim)).await;
        (sim, exporter)
    }
}

/// How to run an exporter: in this process or the real binary, and with what.
pub struct Exporter {
    binary: bool,
    key_id: String,
    secret: String,
    token: Option<String>,
    lifecycle: bool,
    listen: Option<SocketAddr>,
    args: Vec<String>,
}

impl Exporter {
    /// The daemon (`dbs_exporter::app::Daemon`) on a task of the test's runtime.
    pub fn in_process() -> Self {
        Exporter {
            binary: false,
            key_id: KEY_ID.into(),
            secret: SECRET.into(),
            token: None,
            lifecycle: false,
            listen: None,
            args: Vec::new(),
        }
    }

    /// The real binary in a hermetic environment, the key in its environment.
    pub fn binary() -> Self {
        Exporter { binary: true, ..Exporter::in_process() }
    }

    /// Signs with this key instead of the shared one.
    pub fn key(mut self, key_id: &str, secret: &str) -> Self {
        (self.key_id, self.secret) = (key_id.into(), secret.into());
        self
    }

    /// Signs with the shared STS key and its token (see [`TestEstate::sts`]).
    pub fn sts(self) -> Self {
        self.key(STS_KEY_ID, STS_SECRET).token(STS_TOKEN)
    }

    /// Sends this `SecurityToken` with the key.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }

    /// `--web.enable-lifecycle`: `POST /-/reload` reloads.
    pub fn lifecycle(mut self) -> Self {
        self.lifecycle = true;
        self
    }

    /// The binary listens on `address`, known in advance, instead of a port it picks and logs
    /// (for a log level that hides the startup line).
    pub fn listen(mut self, address: SocketAddr) -> Self {
        self.listen = Some(address);
        self
    }

    /// More flags for the binary.
    pub fn args(mut self, args: &[&str]) -> Self {
        assert!(self.binary, "flags are for the binary");
        self.args.extend(args.iter().map(|arg| arg.to_string()));
        self
    }

    /// Writes `config` to a file of its own and starts the exporter on it.
    pub async fn start(self, config: &str) -> TestExporter {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), config);
        let (base, run) =
            if self.binary { self.start_binary(&path).await } else { self.start_daemon(&path).await };
        TestExporter { base, path, run, _dir: dir }
    }

    async fn start_binary(self, config: &Path) -> (String, Run) {
        let address = self.listen.unwrap_or(LOOPBACK).to_string();
        let mut command = exporter(&self.key_id, &self.secret);
        if let Some(token) = &self.token {
            command.env("ALIBABA_CLOUD_SECURITY_TOKEN", token);
        }
        command.args(["--config.file", config.to_str().unwrap(), "--web.listen-address", &address]);
        if self.lifecycle {
            command.arg("--web.enable-lifecycle");
        }
        let child = Running::spawn(command.args(&self.args));
        let address = match self.listen {
            Some(address) => address,
            None => child.listening().await,
        };
        (format!("http://{address}"), Run::Binary(child))
    }

    async fn start_daemon(self, config: &Path) -> (String, Run) {
        let web = WebOptions {
            listen_address: self.listen.unwrap_or(LOOPBACK),
            telemetry_path: "/metrics".into(),
            web_config_file: None,
            enable_lifecycle: self.lifecycle,
        };
        let mut credentials = Credentials::new(self.key_id, self.secret);
        if let Some(token) = self.token {
            credentials = credentials.with_security_token(token);
        }
        let credentials = AccountCredentials::Shared(Arc::new(StaticCredentials::new(credentials)));
        let source = ConfigSource::File(config.to_path_buf());
        let daemon = Daemon::build(source, credentials, &web, Shard::default()).await.unwrap();
        let base = format!("http://{}", daemon.local_addr());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(daemon.run(shutdown.clone().cancelled_owned()));
        (base, Run::InProcess { shutdown, task: Some(task) })
    }
}

enum Run {
    InProcess { shutdown: CancellationToken, task: Option<JoinHandle<()>> },
    Binary(Running),
}

/// A running exporter. Dropped without [`TestExporter::stop`], it is stopped all the same (the
/// binary killed, the daemon cancelled), as a failing test leaves it.
pub struct TestExporter {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    path: PathBuf,
    run: Run,
    _dir: tempfile::TempDir,
}

impl Drop for TestExporter {
    fn drop(&mut self) {
        if let Run::InProcess { shutdown, .. } = &self.run {
            shutdown.cancel();
        }
    }
}

impl TestExporter {
    /// `path` on the exporter: `url("/metrics")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Replaces the configuration file, for the next reload.
    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }

    /// `GET path`: the status and body, or `None` if nothing answered.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        get(&self.url(path)).await
    }

    /// One scrape of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.expect("the exporter answers").1
    }

    /// One scrape of `/metrics`, read by the strict reader (see [`samples`]).
    pub async fn samples(&self) -> BTreeMap<String, f64> {
        samples(&self.metrics().await)
    }

    /// Scrapes until `check` holds and returns that scrape; fails the test, with `what` and
    /// the last scrape, after [`LONG_PATIENCE`].
    pub async fn metrics_until(&self, what: &str, check: impl FnMut(&str) -> bool) -> String {
        scrape_until(&self.url("/metrics"), what, check).await
    }

    /// Whether `/-/ready` answers 200 now.
    pub async fn ready(&self) -> bool {
        matches!(self.get("/-/ready").await, Some((200, _)))
    }

    /// Whether `/-/ready` answers 200 within [`LONG_PATIENCE`].
    pub async fn wait_ready(&self) -> bool {
        wait_ok(&self.url("/-/ready"), LONG_PATIENCE).await
    }

    /// `POST /-/reload`.
    pub async fn reload(&self) -> reqwest::Response {
        reqwest::Client::new().post(self.url("/-/reload")).timeout(PATIENCE).send().await.unwrap()
    }

    /// The binary's process: signals, its output.
    pub fn process(&mut self) -> &mut Running {
        match &mut self.run {
            Run::Binary(child) => child,
            Run::InProcess { .. } => panic!("an exporter in this process has no process of its own"),
        }
    }

    /// Sends `kill -<signal>` to the binary (`HUP` reloads).
    pub fn signal(&mut self, signal: &str) {
        self.process().signal(signal);
    }

    /// The binary's log (its stderr) so far; all of it once stopped.
    pub fn log(&mut self) -> String {
        self.process().stderr()
    }

    /// Stops the exporter (SIGTERM to the binary, cancellation in this process) and fails the
    /// test unless it stops cleanly within [`PATIENCE`].
    pub async fn stop(&mut self) {
        match &mut self.run {
            Run::Binary(child) => {
                let status = child.terminate(PATIENCE).expect("the exporter exits after SIGTERM");
                assert!(status.success(), "{status:?}");
            }
            Run::InProcess { shutdown, task } => {
                shutdown.cancel();
                let task = task.take().expect("stopped once");
                tokio::time::timeout(PATIENCE, task).await.expect("the exporter stops").unwrap();
            }
        }
    }
}

/// Scrapes `url` until `check` holds and returns that scrape; fails the test, with `what` and
/// the last scrape, after [`LONG_PATIENCE`]. A scrape that gets no answer reads as empty.
async fn scrape_until(url: &str, what: &str, check: impl FnMut(&str) -> bool) -> String {
    let scrape = || async { get(url).await.map(|(_, text)| text).unwrap_or_default() };
    let check = RefCell::new(check);
    let last = RefCell::new(String::new());
    let held = eventually(LONG_PATIENCE, || async {
        let text = scrape().await;
        let held = (check.borrow_mut())(&text);
        *last.borrow_mut() = text;
        held
    })
    .await;
    let last = last.into_inner();
    assert!(held, "{what} never happened; last scrape:\n{last}");
    last
}
