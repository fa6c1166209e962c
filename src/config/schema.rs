//! The file as serde reads it. Every value is checked inside its own deserializer call (see
//! [`super::list`] for why), so that a bad value is reported at its line and column.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::accounts::AccountList;
use super::duration::PositiveDuration;
use super::list::{ListItem, Shape, UniqueList};
use super::region::{IfWritten, RawRegion};
use super::sources::RawDiscovery;
use super::values::{FamilyName, StateName, TaskTypeName};
use crate::api::TaskType;

/// The document: the settings, with `regions` or `accounts` (their exclusion is checked by the
/// caller, which can place it at `accounts`). The absence of both is refused inside the call
/// that reads the top-level mapping, so it is placed at the start of the document.
pub(super) struct RawDocument(pub RawConfig);

impl<'de> Deserialize<'de> for RawDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = RawDocument;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of settings with at least `regions` (or `accounts`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDocument, A::Error> {
        let raw = RawConfig::deserialize(MapAccessDeserializer::new(map))?;
        if raw.regions.0.is_none() && raw.accounts.0.is_none() {
            return Err(de::Error::custom("either `regions` or `accounts` is needed: neither is written"));
        }
        Ok(RawDocument(raw))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of settings with at least `regions`")]
pub(super) struct RawConfig {
    #[serde(default = "defaults::poll_interval")]
    pub poll_interval: PositiveDuration,
    #[serde(default = "defaults::lookback")]
    pub lookback: PositiveDuration,
    #[serde(default = "defaults::page_size")]
    pub page_size: Bounded<1, 100>,
    #[serde(default = "defaults::max_pages")]
    pub max_pages: Bounded<1, 10_000>,
    #[serde(default = "defaults::concurrency")]
    pub concurrency: Bounded<1, 256>,
    #[serde(default = "defaults::request_timeout")]
    pub request_timeout: PositiveDuration,
    #[serde(default = "defaults::task_types")]
    pub task_types: UniqueList<TaskTypeName>,
    #[serde(default)]
    pub retry: RawRetry,
    #[serde(default = "defaults::rate_limit_per_region")]
    pub rate_limit_per_region: Rate,
    #[serde(default)]
    pub max_staleness: Option<PositiveDuration>,
    #[serde(default)]
    pub regions: IfWritten<UniqueList<RawRegion>>,
    /// Instead of `regions`: several accounts, each with its credentials and regions.
    #[serde(default)]
    pub accounts: IfWritten<AccountList>,
    #[serde(default)]
    pub metrics: RawMetrics,
    /// Written (even empty): every region's instances are discovered.
    #[serde(default)]
    pub discovery: IfWritten<Option<RawDiscovery>>,
    #[serde(default)]
    pub events: RawEvents,
    #[serde(default)]
    pub tls: Option<super::tls::RawTls>,
}

/// `events: {keep}`: how many task events `/api/v1/events` remembers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvents {
    #[serde(default = "defaults::events_keep")]
    pub keep: Bounded<0, 100_000>,
}

impl Default for RawEvents {
    fn default() -> Self {
        RawEvents { keep: defaults::events_keep() }
    }
}

/// `metrics: {disable, states}`; both may be left out.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    #[serde(default)]
    pub disable: IfWritten<UniqueList<FamilyName>>,
    #[serde(default)]
    pub states: IfWritten<UniqueList<StateName>>,
}

impl ListItem for FamilyName {
    const NOUN: &'static str = "family";
    const EXPECTING: &'static str = <FamilyName as super::values::Scalar>::EXPECTING;
    const SHAPE: Shape = Shape::Scalar;
    fn identity(&self) -> &str {
        self.0.as_str()
    }
}

impl ListItem for StateName {
    const NOUN: &'static str = "state";
    const EXPECTING: &'static str = <StateName as super::values::Scalar>::EXPECTING;
    const SHAPE: Shape = Shape::Scalar;
    fn identity(&self) -> &str {
        self.0.as_str()
    }
}

/// `retry: {max_attempts, base_delay, max_delay}`; any key may be left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: Bounded<1, 10>,
    #[serde(default = "defaults::base_delay")]
    pub base_delay: PositiveDuration,
    #[serde(default = "defaults::max_delay")]
    pub max_delay: PositiveDuration,
}

impl Default for RawRetry {
    fn default() -> Self {
        RawRetry {
            max_attempts: defaults::max_attempts(),
            base_delay: defaults::base_delay(),
            max_delay: defaults::max_delay(),
        }
    }
}

/// Requests per second: a positive number up to 10000.
pub(super) struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_f64(RateVisitor)
    }
}

struct RateVisitor;

impl Visitor<'_> for RateVisitor {
    type Value = Rate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("requests per second, a number above 0 and at most 10000")
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Rate, E> {
        if value.is_finite() && value > 0.0 && value <= 10_000.0 {
            Ok(Rate(value))
        } else {
            Err(E::custom(format!("must be above 0 and at most 10000 requests per second, got {value}")))
        }
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Rate, E> {
        self.visit_f64(value as f64)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Rate, E> {
        self.visit_f64(value as f64)
    }
}

impl ListItem for TaskTypeName {
    const NOUN: &'static str = "task type";
    const EXPECTING: &'static str = "a task type: full or pitr";
    const SHAPE: Shape = Shape::Scalar;
    fn identity(&self) -> &str {
        self.0.as_str()
    }
}

mod defaults {
    use super::*;
    use crate::config::{
        DEFAULT_CONCURRENCY, DEFAULT_LOOKBACK, DEFAULT_MAX_PAGES, DEFAULT_PAGE_SIZE, DEFAULT_POLL_INTERVAL,
        DEFAULT_RATE_LIMIT_PER_REGION, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY,
    };

    pub fn max_attempts() -> Bounded<1, 10> {
        Bounded(DEFAULT_RETRY.max_attempts)
    }
    pub fn base_delay() -> PositiveDuration {
        PositiveDuration(DEFAULT_RETRY.base_delay)
    }
    pub fn max_delay() -> PositiveDuration {
        PositiveDuration(DEFAULT_RETRY.max_delay)
    }
    pub fn rate_limit_per_region() -> Rate {
        Rate(DEFAULT_RATE_LIMIT_PER_REGION)
    }

    pub fn poll_interval() -> PositiveDuration {
        PositiveDuration(DEFAULT_POLL_INTERVAL)
    }
    pub fn lookback() -> PositiveDuration {
        PositiveDuration(DEFAULT_LOOKBACK)
    }
    pub fn request_timeout() -> PositiveDuration {
        PositiveDuration(DEFAULT_REQUEST_TIMEOUT)
    }
    pub fn events_keep() -> Bounded<0, 100_000> {
        Bounded(crate::config::DEFAULT_EVENTS_KEEP)
    }
    pub fn page_size() -> Bounded<1, 100> {
        Bounded(DEFAULT_PAGE_SIZE)
    }
    pub fn max_pages() -> Bounded<1, 10_000> {
        Bounded(DEFAULT_MAX_PAGES)
    }
    pub fn concurrency() -> Bounded<1, 256> {
        Bounded(DEFAULT_CONCURRENCY as u32)
    }
    pub fn task_types() -> UniqueList<TaskTypeName> {
        UniqueList(TaskType::ALL.into_iter().map(TaskTypeName).collect())
    }
}

/// An integer setting within `MIN..=MAX`.
pub(super) struct Bounded<const MIN: u32, const MAX: u32>(pub u32);

impl<'de, const MIN: u32, const MAX: u32> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_u64(BoundedVisitor::<MIN, MAX>)
    }
}

struct BoundedVisitor<const MIN: u32, const MAX: u32>;

impl<const MIN: u32, const MAX: u32> Visitor<'_> for BoundedVisitor<MIN, MAX> {
    type Value = Bounded<MIN, MAX>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer from {MIN} to {MAX}")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        match u32::try_from(value) {
            Ok(value) if (MIN..=MAX).contains(&value) => Ok(Bounded(value)),
            _ => Err(E::custom(format!("must be from {MIN} to {MAX}, got {value}"))),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(E::custom(format!("must be from {MIN} to {MAX}, got {value}"))),
        }
    }
}
