//! One region as written, at the top level or under an account: its id, endpoints, and the
//! instances listed by hand.

use serde::de::Deserializer;
use serde::Deserialize;

use super::list::{ListItem, Shape, UniqueList};
use super::sources::RawDiscoveryEndpoints;
use super::values::{Endpoint, Identifier, RegionId};

/// A key that may be left out but, when written, must hold a `T`: unlike `Option`, an empty
/// value (`regions:`) is refused at the value rather than read as absent.
pub(super) struct IfWritten<T>(pub Option<T>);

impl<T> Default for IfWritten<T> {
    fn default() -> Self {
        IfWritten(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for IfWritten<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(|value| IfWritten(Some(value)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegion {
    pub region_id: RegionId,
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    #[serde(default)]
    pub discovery_endpoints: Option<RawDiscoveryEndpoints>,
    /// Required without `discovery` (checked by the caller, which knows whether it is on).
    #[serde(default)]
    pub instances: IfWritten<UniqueList<RawInstance>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInstance {
    pub instance_id: Identifier,
    #[serde(default)]
    pub cluster_name: Option<Identifier>,
    #[serde(default)]
    pub datasource_id: Option<Identifier>,
    #[serde(default)]
    pub backup_set_id: Option<Identifier>,
}

impl ListItem for RawRegion {
    const NOUN: &'static str = "region";
    const EXPECTING: &'static str = "a region: a mapping with `region_id` and `instances` (or discovery)";
    const SHAPE: Shape = Shape::Mapping;
    fn identity(&self) -> &str {
        &self.region_id.0
    }
}

impl ListItem for RawInstance {
    const NOUN: &'static str = "instance";
    const EXPECTING: &'static str = "an instance: a mapping with `instance_id`";
    const SHAPE: Shape = Shape::Mapping;
    fn identity(&self) -> &str {
        &self.instance_id.0
    }
}
