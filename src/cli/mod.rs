//! The command line, in the flag conventions of Prometheus exporters, and its subcommands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::app::{shutdown_signal, AccountCredentials, ConfigSource, Daemon, Pipeline, WebOptions};
use crate::config::{self, Config};
use crate::credentials::CredentialEnv;
use crate::http::parse_listen_address;
use crate::logging::{self, LogFormat, LogLevel};
use crate::poller::Shard;
use crate::util::WallClock;
use crate::{demo, simulate, Error};

mod discover;
mod summary;

pub use summary::summary;

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
    #[arg(id = "config.file", long = "config.file", value_name = "PATH", global = true)]
    pub config_file: Option<PathBuf>,
    /// Address to listen on: HOST:PORT, [IPv6]:PORT, or :PORT for every interface.
    #[arg(id = "web.listen-address", long = "web.listen-address", value_name = "ADDRESS", default_value = DEFAULT_LISTEN_ADDRESS, global = true)]
    pub listen_address: String,
    /// Path under which metrics are served.
    #[arg(
        id = "web.telemetry-path",
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics",
        global = true
    )]
    pub telemetry_path: String,
    /// Web config (TLS, basic auth) in the Prometheus exporter-toolkit format; re-read on change.
    #[arg(id = "web.config.file", long = "web.config.file", value_name = "PATH", global = true)]
    pub web_config_file: Option<PathBuf>,
    /// Enable POST and PUT /-/reload (as Prometheus' flag of the same name). SIGHUP always reloads.
    #[arg(id = "web.enable-lifecycle", long = "web.enable-lifecycle", global = true)]
    pub enable_lifecycle: bool,
    /// Only log messages at this level or above.
    #[arg(
        id = "log.level",
        long = "log.level",
        value_name = "LEVEL",
        value_enum,
        default_value = "info",
        global = true
    )]
    pub log_level: LogLevel,
    /// Log line format.
    #[arg(
        id = "log.format",
        long = "log.format",
        value_name = "FORMAT",
        value_enum,
        default_value = "logfmt",
        global = true
    )]
    pub log_format: LogFormat,
    /// Poll only the instances of this shard: a number below --shard.count, or `auto` for the
    /// ordinal of a StatefulSet pod's name (from HOSTNAME).
    #[arg(
        id = "shard.index",
        long = "shard.index",
        value_name = "INDEX",
        default_value = "0",
        global = true
    )]
    pub shard_index: String,
    /// How many exporters split the configured instances between them.
    #[arg(
        id = "shard.count",
        long = "shard.count",
        value_name = "COUNT",
        default_value_t = 1,
        global = true
    )]
    pub shard_count: u32,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and every flag the daemon would be given (shards, web config,
    /// each account's credential source), print a summary, exit 0 if valid and 1 if not.
    CheckConfig,
    /// Poll every target once, print the exposition to stdout, exit 1 if any target failed.
    Once,
    /// List what discovery finds, region by region and engine by engine, without polling DBS;
    /// exit 1 if any list call failed.
    Discover,
    /// Run against a built-in DBS simulator with changing demo data: no Alibaba account needed.
    Demo,
    /// Serve the built-in DBS simulator alone, and print its endpoint and AccessKey, to run the
    /// exporter on a configuration of your own against it.
    Simulate {
        /// Where the simulator listens: a loopback HOST:PORT.
        #[arg(long = "simulator.listen-address", value_name = "ADDRESS", default_value = simulate::DEFAULT_ADDRESS)]
        listen_address: String,
    },
    /// Probe /-/healthy of a running exporter at --web.listen-address (for images without a shell).
    Healthcheck,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::CheckConfig => "check-config",
            Command::Once => "once",
            Command::Discover => "discover",
            Command::Demo => "demo",
            Command::Simulate { .. } => "simulate",
            Command::Healthcheck => "healthcheck",
        }
    }

    /// The global flags this subcommand does nothing with, and why: given one of them, it
    /// refuses to start rather than silently ignore it. `check-config` takes them all, since it
    /// checks what the daemon would be given.
    /// (Each global flag's argument id is its long name, so the two are the same here.)
    fn ignored_flags(&self) -> &'static [(&'static str, &'static str)] {
        const WEB: [(&str, &str); 4] = [
            ("web.listen-address", "it serves no HTTP"),
            ("web.telemetry-path", "it serves no HTTP"),
            ("web.config.file", "it serves no HTTP"),
            ("web.enable-lifecycle", "it serves no HTTP"),
        ];
        const SHARD: [(&str, &str); 2] = [
            ("shard.index", "it polls no shard of a configuration"),
            ("shard.count", "it polls no shard of a configuration"),
        ];
        match self {
            Command::CheckConfig => &[],
            Command::Once | Command::Discover => &WEB,
            Command::Demo => &[
                (
                    "config.file",
                    "the demo runs its own configuration; to try yours, see `dbs-exporter simulate`",
                ),
                ("shard.index", "the demo polls every simulated instance"),
                ("shard.count", "the demo polls every simulated instance"),
            ],
            Command::Simulate { .. } => &[
                ("web.listen-address", "the simulator listens on --simulator.listen-address"),
                ("web.telemetry-path", "the simulator serves no metrics"),
                ("web.config.file", "the simulator serves plain HTTP on loopback"),
                ("web.enable-lifecycle", "the simulator has no lifecycle API"),
                SHARD[0],
                SHARD[1],
            ],
            Command::Healthcheck => &[
                ("config.file", "it only asks /-/healthy of a running exporter"),
                ("web.telemetry-path", "it asks /-/healthy, not the metrics"),
                ("web.enable-lifecycle", "it only asks /-/healthy of a running exporter"),
                SHARD[0],
                SHARD[1],
            ],
        }
    }
}

/// Parses the command line, starts logging and runs the chosen command. An error that stops
/// the command is reported once: logged by the daemon and `once` (so that it lands in the log
/// format the operator chose), printed as plain text by the other subcommands.
pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    if let Some(command) = &cli.command {
        refuse_ignored_flags(command, &matches);
    }
    logging::init(cli.log_level, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("dbs-exporter: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let logs_errors = matches!(cli.command, None | Some(Command::Once) | Some(Command::Discover));
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) if logs_errors => {
            tracing::error!(error = %err, "exiting");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("dbs-exporter: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Exits with a usage error (status 2, as for any other bad flag) when a flag the subcommand
/// does nothing with was given.
fn refuse_ignored_flags(command: &Command, matches: &ArgMatches) {
    let sub = matches.subcommand().map(|(_, sub)| sub);
    let given = |id: &str| {
        [Some(matches), sub].into_iter().flatten().any(|m| {
            matches!(m.try_contains_id(id), Ok(true)) && m.value_source(id) == Some(ValueSource::CommandLine)
        })
    };
    if let Some((flag, why)) = command.ignored_flags().iter().find(|(flag, _)| given(flag)) {
        let message = format!("--{flag} does not apply to `{}`: {why}", command.name());
        let mut cli = Cli::command();
        cli.build();
        let usage = match cli.find_subcommand_mut(command.name()) {
            Some(sub) => sub.error(clap::error::ErrorKind::ArgumentConflict, message),
            None => cli.error(clap::error::ErrorKind::ArgumentConflict, message),
        };
        usage.exit();
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    match &cli.command {
        Some(Command::CheckConfig) => check_config(&cli),
        Some(Command::Once) => once(&cli).await,
        Some(Command::Discover) => discover::run(&load_config(&cli)?, credentials(), shard(&cli)?).await,
        Some(Command::Demo) => {
            demo::run(web_options(&cli)?, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Simulate { listen_address }) => {
            let config = cli.config_file.as_deref().map(config::load).transpose()?;
            simulate::run(listen_address, config.as_ref(), shutdown_signal()).await?;
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
    if crate::http::BUILT_IN_PATHS.contains(&cli.telemetry_path.as_str()) {
        return Err(Error::Usage(format!(
            "--web.telemetry-path {:?} is a path the exporter serves itself ({}); choose another, such as /metrics",
            cli.telemetry_path,
            crate::http::BUILT_IN_PATHS.join(", ")
        )));
    }
    Ok(WebOptions {
        listen_address: parse_listen_address(&cli.listen_address).map_err(Error::Usage)?,
        telemetry_path: cli.telemetry_path.clone(),
        web_config_file: cli.web_config_file.clone(),
        enable_lifecycle: cli.enable_lifecycle,
    })
}

fn shard(cli: &Cli) -> Result<Shard, Error> {
    let hostname = std::env::var("HOSTNAME").ok();
    let index = Shard::parse_index(&cli.shard_index, hostname.as_deref()).map_err(Error::Usage)?;
    Shard::new(index, cli.shard_count).map_err(Error::Usage)
}

fn config_path(cli: &Cli) -> Result<&Path, Error> {
    cli.config_file.as_deref().ok_or_else(|| {
        Error::Usage(
            "--config.file is required (try `dbs-exporter demo` to run without one, or `dbs-exporter simulate` to try one without an account)".into(),
        )
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
        listed_targets = daemon.target_count(),
        discovery = daemon.discovers(),
        "dbs-exporter listening"
    );
    daemon.run(shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

/// Everything the daemon would refuse at startup, short of binding the port: the file, the
/// flags (listen address, telemetry path, shard, web config) and each account's credential
/// source, built as the daemon builds it (nothing is fetched from the network).
fn check_config(cli: &Cli) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    let shard = shard(cli)?;
    web_options(cli)?;
    if let Some(path) = &cli.web_config_file {
        crate::http::WebSettings::load(path)?;
    }
    let env = CredentialEnv::from_process();
    let mut sources = Vec::new();
    for account in &config.accounts {
        let provider = crate::app::account_provider(account, &env)?;
        sources.push((account.name.as_str(), provider));
    }
    let path = cli.config_file.as_deref().unwrap_or(Path::new("?"));
    println!("{}", summary(path, &config, shard, &sources));
    Ok(ExitCode::SUCCESS)
}

async fn once(cli: &Cli) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    let mut pipeline = Pipeline::build_with(&config, credentials(), shard(cli)?, WallClock::System)?;
    pipeline.discover().await;
    let report = pipeline.poll_once().await;
    // Written as it is rendered: at 10,000 instances the exposition is tens of megabytes.
    pipeline.exposition.write_plain(std::io::stdout().lock()).map_err(Error::Stdout)?;
    let failing_lists = pipeline.inventory().failing_sources();
    if report.failed > 0 {
        eprintln!(
            "dbs-exporter: {} of {} listings failed (see the log above)",
            report.failed,
            pipeline.targets().len()
        );
    }
    if failing_lists > 0 {
        eprintln!("dbs-exporter: {failing_lists} discovery list(s) failed (see the log above): their instances are missing");
    }
    if report.failed > 0 || failing_lists > 0 {
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
