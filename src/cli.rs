//! The command line, in the flag conventions of Prometheus exporters, and its subcommands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::app::{shutdown_signal, AccountCredentials, ConfigSource, Daemon, Pipeline, WebOptions};
use crate::config::{self, Config};
use crate::credentials::CredentialEnv;
use crate::http::parse_listen_address;
use crate::logging::{self, LogFormat, LogLevel};
use crate::poller::Shard;
use crate::{demo, Error};

/// The default port: outside 9100-9999, which Prometheus' registry of exporter ports has
/// fully allocated, so it collides with no registered exporter.
pub const DEFAULT_LISTEN_ADDRESS: &str = ":19680";

#[derive(Debug, Parser)]
#[command(
    name = "dbs-exporter",
    version,
    about = "Prometheus exporter for Alibaba Cloud DBS advanced download tasks"
)]
pub struct Cli {
    /// Path to the YAML configuration.
    #[arg(long = "config.file", value_name = "PATH", global = true)]
    pub config_file: Option<PathBuf>,
    /// Address to listen on: HOST:PORT, [IPv6]:PORT, or :PORT for every interface.
    #[arg(long = "web.listen-address", value_name = "ADDRESS", default_value = DEFAULT_LISTEN_ADDRESS, global = true)]
    pub listen_address: String,
    /// Path under which metrics are served.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", global = true)]
    pub telemetry_path: String,
    /// Web config (TLS, basic auth) in the Prometheus exporter-toolkit format; re-read on change.
    #[arg(long = "web.config.file", value_name = "PATH", global = true)]
    pub web_config_file: Option<PathBuf>,
    /// Only log messages at this level or above.
    #[arg(long = "log.level", value_enum, default_value = "info", global = true)]
    pub log_level: LogLevel,
    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value = "logfmt", global = true)]
    pub log_format: LogFormat,
    /// Poll only the instances of this shard: a number below --shard.count, or `auto` for the
    /// ordinal of a StatefulSet pod's name (from HOSTNAME).
    #[arg(long = "shard.index", value_name = "INDEX", default_value = "0", global = true)]
    pub shard_index: String,
    /// How many exporters split the configured instances between them.
    #[arg(long = "shard.count", value_name = "COUNT", default_value_t = 1, global = true)]
    pub shard_count: u32,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration, print a summary, exit 0 if valid and 1 if not.
    CheckConfig,
    /// Poll every target once, print the exposition to stdout, exit 1 if any target failed.
    Once,
    /// Run against a built-in DBS simulator with changing demo data: no Alibaba account needed.
    Demo,
    /// Probe /-/healthy of a running exporter at --web.listen-address (for images without a shell).
    Healthcheck,
}

/// Parses the command line, starts logging and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_level, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("dbs-exporter: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!(error = %err, "exiting");
            eprintln!("dbs-exporter: {err}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Some(Command::CheckConfig) => check_config(&cli),
        Some(Command::Once) => once(&cli).await,
        Some(Command::Demo) => {
            demo::run(web_options(&cli)?, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Healthcheck) => healthcheck(&cli).await,
        None => serve(&cli).await,
    }
}

fn web_options(cli: &Cli) -> Result<WebOptions, Error> {
    if !cli.telemetry_path.starts_with('/') {
        return Err(Error::Usage(format!(
            "--web.telemetry-path must start with '/', got {:?}",
            cli.telemetry_path
        )));
    }
    Ok(WebOptions {
        listen_address: parse_listen_address(&cli.listen_address).map_err(Error::Usage)?,
        telemetry_path: cli.telemetry_path.clone(),
        web_config_file: cli.web_config_file.clone(),
    })
}

fn shard(cli: &Cli) -> Result<Shard, Error> {
    let hostname = std::env::var("HOSTNAME").ok();
    let index = Shard::parse_index(&cli.shard_index, hostname.as_deref()).map_err(Error::Usage)?;
    Shard::new(index, cli.shard_count).map_err(Error::Usage)
}

fn config_path(cli: &Cli) -> Result<&Path, Error> {
    cli.config_file.as_deref().ok_or_else(|| {
        Error::Usage("--config.file is required (try `dbs-exporter demo` to run without one)".into())
    })
}

fn load_config(cli: &Cli) -> Result<Config, Error> {
    Ok(config::load(config_path(cli)?)?)
}

/// Each account's credentials resolved against this process's environment and home.
fn credentials() -> AccountCredentials {
    AccountCredentials::Resolved(Arc::new(CredentialEnv::from_process()))
}

async fn serve(cli: &Cli) -> Result<ExitCode, Error> {
    let web = web_options(cli)?;
    let path = config_path(cli)?;
    let shard = shard(cli)?;
    let daemon = Daemon::build(ConfigSource::File(path.to_path_buf()), credentials(), &web, shard).await?;
    tracing::info!(
        shard = %shard,
        address = %daemon.local_addr(),
        telemetry_path = %web.telemetry_path,
        config = %path.display(),
        targets = daemon.target_count(),
        "dbs-exporter listening"
    );
    daemon.run(shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

fn check_config(cli: &Cli) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    println!("{}", summary(cli.config_file.as_deref().unwrap_or(Path::new("?")), &config));
    Ok(ExitCode::SUCCESS)
}

/// What a configuration asks of the API, in a few lines.
pub fn summary(path: &Path, config: &Config) -> String {
    let listings = config.target_count();
    let calls_per_hour = listings as f64 * 3600.0 / config.poll_interval.as_secs_f64().max(0.001);
    format!(
        "{}: valid\n  regions: {}\n  instances: {}\n  task types: {}\n  listings per cycle: {} (at least one API call each; one more per extra page of {} tasks)\n  poll interval: {:?}, lookback: {:?}, concurrency: {}\n  API calls per hour, at least: {:.0}",
        path.display(),
        config.regions.len(),
        config.instance_count(),
        config.task_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
        listings,
        config.page_size,
        config.poll_interval,
        config.lookback,
        config.concurrency,
        calls_per_hour,
    )
}

async fn once(cli: &Cli) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    let pipeline = Pipeline::build_with(&config, credentials(), shard(cli)?)?;
    let report = pipeline.poll_once().await;
    let body = pipeline.exposition.body();
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&body).and_then(|_| stdout.flush()).map_err(Error::Stdout)?;
    if report.failed > 0 {
        eprintln!(
            "dbs-exporter: {} of {} listings failed (see the log above)",
            report.failed,
            config.target_count()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn healthcheck(cli: &Cli) -> Result<ExitCode, Error> {
    let mut address = parse_listen_address(&cli.listen_address).map_err(Error::Usage)?;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    // With --web.config.file the probe speaks TLS when the server does. It checks that this
    // process answers, not who it is, so the certificate is not verified, and a 401 from
    // basic auth counts as alive: the probe has no password, only the hashes exist.
    let tls = match &cli.web_config_file {
        Some(path) => crate::http::WebSettings::load(path)?.tls.is_some(),
        None => false,
    };
    let url = format!("{}://{address}/-/healthy", if tls { "https" } else { "http" });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .danger_accept_invalid_certs(tls)
        .build()
        .map_err(Error::HealthcheckClient)?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(response)
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && cli.web_config_file.is_some() =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Ok(response) => {
            eprintln!("{url}: HTTP {}", response.status());
            Ok(ExitCode::FAILURE)
        }
        Err(err) => {
            eprintln!("{url}: {}", err.without_url());
            Ok(ExitCode::FAILURE)
        }
    }
}
