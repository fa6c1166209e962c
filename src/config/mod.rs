//! The YAML configuration: which regions and instances to list, how often and how hard.
//!
//! This is the exporter's public contract, so every mistake in a file is reported as
//! `<file>:<line>:<column>: <field path>: <what is wrong>`. Values are checked while serde_yaml
//! reads them (serde_yaml only knows a position while a value is being read), and the one check
//! that spans two settings looks up the position of the setting it blames.
//! `config/example.yaml` documents every key; `config/example-accounts.yaml` the `accounts:` form.

mod accounts;
mod duration;
mod error;
mod list;
mod metrics;
mod probe;
mod region;
mod schema;
mod sources;
mod tls;
mod values;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use self::accounts::AccountConfig;
pub use self::duration::{format_duration, parse_duration};
pub use self::error::{ConfigError, Location, Place};
pub use self::metrics::{MetricsOptions, OptionalFamily, OTHER_STATE};
use self::region::{RawInstance, RawRegion};
use self::schema::{RawConfig, RawDocument};
use self::sources::RawDiscovery;
pub use self::sources::{tag_label_name, DiscoveryConfig, DiscoveryEndpoints, DEFAULT_REFRESH_INTERVAL};
pub use self::tls::TlsConfig;
use crate::api::endpoint::default_endpoint;
use crate::api::{RetryPolicy, TaskType};

pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const DEFAULT_MAX_PAGES: u32 = 100;
pub const DEFAULT_CONCURRENCY: usize = 8;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(10),
};
/// Requests per second per region: sustained, with a burst of as many.
pub const DEFAULT_RATE_LIMIT_PER_REGION: f64 = 10.0;
/// Aggregates of a failing target are kept this many poll intervals, unless `max_staleness` says.
pub const DEFAULT_STALENESS_INTERVALS: u32 = 3;
/// Task events `/api/v1/events` keeps unless `events.keep` says (a few hundred KiB).
pub const DEFAULT_EVENTS_KEEP: u32 = 1_000;

/// A validated configuration. Every field has been checked against its range; the lists are
/// non-empty and free of duplicates.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// How often every target is listed.
    pub poll_interval: Duration,
    /// Listings ask for tasks created in `[now - lookback, now]`.
    pub lookback: Duration,
    /// Tasks per page, 1..=100.
    pub page_size: u32,
    /// Pages per listing before it is abandoned as too large, 1..=10000.
    pub max_pages: u32,
    /// API requests in flight at once across all targets, 1..=256.
    pub concurrency: usize,
    /// Per request; shorter than `poll_interval`.
    pub request_timeout: Duration,
    /// One listing per instance and task type.
    pub task_types: Vec<TaskType>,
    /// Retries of each failed API call (throttling, 5xx, transport), within the poll interval.
    pub retry: RetryPolicy,
    /// Token bucket per region, on top of `concurrency`.
    pub rate_limit_per_region: f64,
    /// How long a failing target's last good aggregates stay before they are removed.
    pub max_staleness: Duration,
    /// Which task series are written.
    pub metrics: MetricsOptions,
    /// How many task events `/api/v1/events` keeps (`events.keep`).
    pub events_keep: usize,
    /// Instances found by the RDS, PolarDB and MongoDB list APIs of every region, besides
    /// those listed; `None` when only listed instances are polled.
    pub discovery: Option<DiscoveryConfig>,
    /// The CA bundle of the API calls, besides the built-in roots.
    pub tls: TlsConfig,
    /// Every region of every account, in account order: what is listed, whatever the account.
    pub regions: Vec<RegionConfig>,
    /// Never empty. A file with top-level `regions` has one account, [`AccountConfig::implicit`]
    /// (named `default`, the default credential chain, those regions); a file with `accounts:`
    /// has those. The regions of `accounts` concatenated are `regions`.
    pub accounts: Vec<AccountConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionConfig {
    pub region_id: String,
    /// An `http(s)://` URL, validated; `None` means the region's public endpoint.
    pub endpoint: Option<String>,
    /// Where discovery lists the region's instances.
    pub discovery_endpoints: DiscoveryEndpoints,
    /// Listed by hand: polled whatever discovery finds, their fields winning over its. Shared:
    /// a configuration holds each region twice (top-level and under its account) and the
    /// running pipeline keeps a copy, so a list of 10,000 instances is not copied each time.
    pub instances: Arc<[InstanceConfig]>,
}

/// One database instance; the optional fields are passed through as `DescribeDownloadTask`
/// filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    pub instance_id: String,
    /// MongoDB sharded clusters only.
    pub cluster_name: Option<String>,
    pub datasource_id: Option<String>,
    pub backup_set_id: Option<String>,
}

impl Config {
    /// Listings per poll: every instance once per task type.
    pub fn target_count(&self) -> usize {
        self.instance_count() * self.task_types.len()
    }

    pub fn instance_count(&self) -> usize {
        self.regions.iter().map(|region| region.instances.len()).sum()
    }

    /// Whether series carry an `account` label: only when more than one account is configured,
    /// so that the single-account series of today keep their label set.
    pub fn labels_accounts(&self) -> bool {
        self.accounts.len() > 1
    }
}

impl RegionConfig {
    /// The configured endpoint, or the region's public DBS endpoint.
    pub fn endpoint_or_default(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| default_endpoint(&self.region_id))
    }
}

/// Reads and validates the file at `path`; messages name the file as given.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { origin: origin.clone(), source })?;
    parse(&text, &origin)
}

/// Validates a configuration's text; `origin` names it in messages (usually the file name).
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    // A schema-free read first: it tells a file that is not YAML (or is empty) apart from one
    // that is YAML but not a configuration, which serde_yaml reports alike, and it places a
    // repeated key at the repeat.
    probe::check_document(text, origin)?;
    let RawDocument(raw) = serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
        .map_err(|err| error::invalid(origin, err.path(), err.inner()))?;
    check_regions_or_accounts(&raw, text, origin)?;
    check_instances_or_discovery(&raw, text, origin)?;
    let config = Config::from(raw);
    check_timeout_fits_interval(&config, text, origin)?;
    check_staleness_covers_interval(&config, text, origin)?;
    Ok(config)
}

/// Top-level `regions` belong to the implicit account: next to `accounts` they would have none.
fn check_regions_or_accounts(raw: &RawConfig, text: &str, origin: &str) -> Result<(), ConfigError> {
    if raw.regions.0.is_none() || raw.accounts.0.is_none() {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        place: Place {
            origin: origin.to_string(),
            location: probe::locate_top_level_value(text, "accounts"),
        },
        field: Some("accounts".to_string()),
        message: "cannot be used with top-level `regions`: move those regions into an account".to_string(),
    })
}

/// Without discovery, a region with no instances would poll nothing.
fn check_instances_or_discovery(raw: &RawConfig, text: &str, origin: &str) -> Result<(), ConfigError> {
    if raw.discovery.0.is_some() {
        return Ok(());
    }
    let top_level = raw.regions.0.iter().flat_map(|regions| regions.0.iter().enumerate());
    if let Some((index, _)) = top_level.clone().find(|(_, region)| region.instances.0.is_none()) {
        return Err(ConfigError::Invalid {
            place: Place {
                origin: origin.to_string(),
                location: probe::locate_top_level_value(text, "regions"),
            },
            field: Some(format!("regions[{index}].instances")),
            message: "missing: list the region's instances, or turn on `discovery`".to_string(),
        });
    }
    let accounts = raw.accounts.0.iter().flat_map(|accounts| accounts.0.iter().enumerate());
    for (account_index, account) in accounts {
        if let Some(index) = account.regions.0.iter().position(|region| region.instances.0.is_none()) {
            return Err(ConfigError::Invalid {
                place: Place {
                    origin: origin.to_string(),
                    location: probe::locate_top_level_value(text, "accounts"),
                },
                field: Some(format!("accounts[{account_index}].regions[{index}].instances")),
                message: "missing: list the region's instances, or turn on `discovery`".to_string(),
            });
        }
    }
    Ok(())
}

/// A request that may outlast the poll interval would let one slow listing overlap the next.
fn check_timeout_fits_interval(config: &Config, text: &str, origin: &str) -> Result<(), ConfigError> {
    if config.request_timeout < config.poll_interval {
        return Ok(());
    }
    let (timeout, interval) =
        (format_duration(config.request_timeout), format_duration(config.poll_interval));
    // Blame the setting that was written: request_timeout if both were.
    let (field, location, message) = match probe::locate_top_level_value(text, "request_timeout") {
        Some(location) => (
            "request_timeout",
            Some(location),
            format!("must be shorter than poll_interval ({interval}), got {timeout}"),
        ),
        None => (
            "poll_interval",
            probe::locate_top_level_value(text, "poll_interval"),
            format!("must be longer than request_timeout ({timeout} by default), got {interval}"),
        ),
    };
    Err(ConfigError::Invalid {
        place: Place { origin: origin.to_string(), location },
        field: Some(field.to_string()),
        message,
    })
}

/// Counts kept for less than a poll interval would vanish between two listings of a target
/// that fails once.
fn check_staleness_covers_interval(config: &Config, text: &str, origin: &str) -> Result<(), ConfigError> {
    if config.max_staleness >= config.poll_interval {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        place: Place {
            origin: origin.to_string(),
            location: probe::locate_top_level_value(text, "max_staleness"),
        },
        field: Some("max_staleness".to_string()),
        message: format!(
            "must be at least poll_interval ({}), got {}",
            format_duration(config.poll_interval),
            format_duration(config.max_staleness)
        ),
    })
}

impl From<RawConfig> for Config {
    fn from(raw: RawConfig) -> Config {
        let accounts = match (raw.regions.0, raw.accounts.0) {
            (Some(regions), _) => {
                vec![AccountConfig::implicit(regions.0.into_iter().map(RegionConfig::from).collect())]
            }
            (None, Some(accounts)) => accounts.0.into_iter().map(|account| account.into_config()).collect(),
            (None, None) => Vec::new(),
        };
        Config {
            poll_interval: raw.poll_interval.0,
            lookback: raw.lookback.0,
            page_size: raw.page_size.0,
            max_pages: raw.max_pages.0,
            concurrency: raw.concurrency.0 as usize,
            request_timeout: raw.request_timeout.0,
            task_types: raw.task_types.0.into_iter().map(|name| name.0).collect(),
            retry: RetryPolicy {
                max_attempts: raw.retry.max_attempts.0,
                base_delay: raw.retry.base_delay.0,
                max_delay: raw.retry.max_delay.0,
            },
            rate_limit_per_region: raw.rate_limit_per_region.0,
            max_staleness: raw
                .max_staleness
                .map_or(raw.poll_interval.0 * DEFAULT_STALENESS_INTERVALS, |staleness| staleness.0),
            metrics: MetricsOptions {
                disabled: raw
                    .metrics
                    .disable
                    .0
                    .map(|list| list.0.into_iter().map(|name| name.0).collect())
                    .unwrap_or_default(),
                states: raw.metrics.states.0.map(|list| list.0.into_iter().map(|name| name.0).collect()),
            },
            discovery: raw.discovery.0.map(RawDiscovery::into_config),
            events_keep: raw.events.keep.0 as usize,
            tls: TlsConfig::from(raw.tls),
            regions: accounts.iter().flat_map(|account| account.regions.iter().cloned()).collect(),
            accounts,
        }
    }
}

impl From<RawRegion> for RegionConfig {
    fn from(raw: RawRegion) -> RegionConfig {
        RegionConfig {
            region_id: raw.region_id.0,
            endpoint: raw.endpoint.map(|endpoint| endpoint.0),
            discovery_endpoints: raw.discovery_endpoints.map(DiscoveryEndpoints::from).unwrap_or_default(),
            instances: raw
                .instances
                .0
                .map(|list| list.0.into_iter().map(InstanceConfig::from).collect())
                .unwrap_or_default(),
        }
    }
}

impl From<RawInstance> for InstanceConfig {
    fn from(raw: RawInstance) -> InstanceConfig {
        InstanceConfig {
            instance_id: raw.instance_id.0,
            cluster_name: raw.cluster_name.map(|id| id.0),
            datasource_id: raw.datasource_id.map(|id| id.0),
            backup_set_id: raw.backup_set_id.map(|id| id.0),
        }
    }
}

#[cfg(test)]
mod tests;
