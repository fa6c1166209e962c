//! The command line, in the flag conventions of Prometheus exporters, and its subcommands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::app::{shutdown_signal, AccountCredentials, ConfigSource, Daemon, WebOptions};
use crate::config::{self, Config};
use crate::credentials::CredentialEnv;
use crate::http::parse_listen_address;
use crate::logging::{self, LogFormat, LogLevel};
use crate::poller::Shard;

mod check_config;
pub mod demo;
mod discover;
mod error;
mod healthcheck;
mod once;
pub mod simulate;

pub use check_config::summary;
pub use error::Error;

/// The default port: outside 9100-9999, which Prometheus' registry of exporter ports has
/// fully allocated, so it collides with no registered exporter.
pub const DEFAULT_LISTEN_ADDRESS: &str = ":19680";

#[derive(Debug, Parser)]
#[command(
    name = "dbs-exporter",
    version,
    long_version = crate::util::build::LONG_VERSION,
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
        /// Serve HTTPS with a certificate from a CA made at start, written to --simulator.ca-file.
        #[arg(long)]
        tls: bool,
        /// Where --tls writes the CA certificate (default: dbs-exporter-simulator-PORT-ca.pem in the
        /// temporary directory).
        #[arg(long = "simulator.ca-file", value_name = "PATH", requires = "tls")]
        ca_file: Option<PathBuf>,
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
                ("web.config.file", "the simulator serves HTTPS with --tls, under a CA of its own"),
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
    let matches = command_line().get_matches();
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

/// The command line, each subcommand's `--help` listing only the flags it takes: the global
/// flags it does nothing with are hidden there (and refused when given).
fn command_line() -> clap::Command {
    let mut cli = Cli::command();
    let globals: Vec<clap::Arg> = cli.get_arguments().filter(|arg| arg.is_global_set()).cloned().collect();
    let every = [
        Command::CheckConfig,
        Command::Once,
        Command::Discover,
        Command::Demo,
        Command::Simulate { listen_address: String::new(), tls: false, ca_file: None },
        Command::Healthcheck,
    ];
    // A subcommand that already has an argument of a global's id keeps its own copy when the
    // globals are handed down: a hidden one, for the flags it does nothing with.
    for command in every {
        let hidden =
            globals.iter().filter(|arg| command.ignored_flags().iter().any(|(flag, _)| arg.get_id() == flag));
        let hidden: Vec<clap::Arg> = hidden.map(|arg| arg.clone().hide(true)).collect();
        cli = cli.mut_subcommand(command.name(), |sub| sub.args(hidden));
    }
    cli
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
        let mut cli = command_line();
        let usage = match cli.find_subcommand_mut(command.name()) {
            Some(sub) => sub.error(clap::error::ErrorKind::ArgumentConflict, message),
            None => cli.error(clap::error::ErrorKind::ArgumentConflict, message),
        };
        usage.exit();
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    match &cli.command {
        Some(Command::CheckConfig) => check_config::run(&cli),
        Some(Command::Once) => once::run(&cli).await,
        Some(Command::Discover) => discover::run(&load_config(&cli)?, credentials(), shard(&cli)?).await,
        Some(Command::Demo) => {
            demo::run(web_options(&cli)?, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Simulate { listen_address, tls, ca_file }) => {
            let config = cli.config_file.as_deref().map(config::load).transpose()?;
            let tls = tls.then(|| simulate::Tls { ca_file: ca_file.clone() });
            simulate::run(listen_address, tls, config.as_ref(), shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Healthcheck) => healthcheck::run(&cli).await,
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
