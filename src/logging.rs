//! Logs to stderr through tracing, as logfmt or JSON, at the level the flags ask for.

use clap::ValueEnum;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// Installs the global subscriber. Only this crate logs at debug; dependencies stay at warn,
/// since hyper and reqwest at debug would log request URLs, which carry the AccessKeyId.
pub fn init(level: LogLevel, format: LogFormat) {
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::WARN.min(level.into()))
        .with_target("dbs_exporter", LevelFilter::from(level));
    let writer = std::io::stderr.with_max_level(tracing::Level::TRACE);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Logfmt => registry.with(tracing_logfmt::builder().layer().with_writer(writer)).try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(writer))
            .try_init(),
    };
    // A second init (tests, or a subcommand that already logged) keeps the first subscriber.
    let _ = result;
}
