//! `discovery:` and each region's `discovery_endpoints`: which engines' instances are found,
//! how often, and which tags filter and label them.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::duration::PositiveDuration;
use super::list::{ListItem, Shape, UniqueList};
use super::values::{deserialize_by_parse, Endpoint, Identifier, Scalar};
use crate::discovery::{default_endpoint, Engine, Product};

pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(600);
/// PolarDB and MongoDB take at most 20 `Tag.N` filters.
const MAX_TAGS: usize = 20;

/// The `discovery:` block, validated. Present means every configured region is discovered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryConfig {
    pub engines: Vec<Engine>,
    pub refresh_interval: Duration,
    /// An instance must carry every one of these tags.
    pub tags: Vec<(String, String)>,
    /// Tag keys exported as `tag_<key>` labels of `aliyun_dbs_instance_info`.
    pub tag_labels: Vec<String>,
    pub exclude_instances: Vec<String>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            engines: Engine::ALL.to_vec(),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            tags: Vec::new(),
            tag_labels: Vec::new(),
            exclude_instances: Vec::new(),
        }
    }
}

impl DiscoveryConfig {
    /// The label names of `tag_labels`, in order.
    pub fn label_names(&self) -> Vec<String> {
        self.tag_labels.iter().map(|key| tag_label_name(key)).collect()
    }

    /// Whether instances' tags must be read where a list does not carry them.
    pub fn reads_tags(&self) -> bool {
        !self.tag_labels.is_empty()
    }
}

/// `tag_<key>` with every character a label name may not hold turned into `_`.
pub fn tag_label_name(key: &str) -> String {
    let sanitised: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format!("tag_{sanitised}")
}

/// A region's `discovery_endpoints`: each product's endpoint, or its public one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryEndpoints {
    pub rds: Option<String>,
    pub polardb: Option<String>,
    pub mongodb: Option<String>,
}

impl DiscoveryEndpoints {
    pub fn endpoint(&self, product: Product, region_id: &str) -> String {
        let configured = match product {
            Product::Rds => &self.rds,
            Product::Polardb => &self.polardb,
            Product::Mongodb => &self.mongodb,
        };
        configured.clone().unwrap_or_else(|| default_endpoint(product, region_id))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscoveryEndpoints {
    #[serde(default)]
    rds: Option<Endpoint>,
    #[serde(default)]
    polardb: Option<Endpoint>,
    #[serde(default)]
    mongodb: Option<Endpoint>,
}

impl From<RawDiscoveryEndpoints> for DiscoveryEndpoints {
    fn from(raw: RawDiscoveryEndpoints) -> Self {
        DiscoveryEndpoints {
            rds: raw.rds.map(|e| e.0),
            polardb: raw.polardb.map(|e| e.0),
            mongodb: raw.mongodb.map(|e| e.0),
        }
    }
}

/// `discovery:` as written; `discovery:` with no value turns discovery on with the defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscovery {
    #[serde(default)]
    engines: Option<UniqueList<EngineName>>,
    #[serde(default)]
    refresh_interval: Option<PositiveDuration>,
    #[serde(default)]
    tags: Option<TagMap>,
    #[serde(default)]
    tag_labels: Option<UniqueList<TagLabel>>,
    #[serde(default)]
    exclude_instances: Option<UniqueList<ExcludedId>>,
}

impl RawDiscovery {
    pub fn into_config(raw: Option<RawDiscovery>) -> DiscoveryConfig {
        let Some(raw) = raw else { return DiscoveryConfig::default() };
        let defaults = DiscoveryConfig::default();
        DiscoveryConfig {
            engines: raw.engines.map_or(defaults.engines, |list| list.0.into_iter().map(|e| e.0).collect()),
            refresh_interval: raw.refresh_interval.map_or(defaults.refresh_interval, |d| d.0),
            tags: raw.tags.map(|tags| tags.0).unwrap_or_default(),
            tag_labels: raw
                .tag_labels
                .map(|list| list.0.into_iter().map(|l| l.key).collect())
                .unwrap_or_default(),
            exclude_instances: raw
                .exclude_instances
                .map(|list| list.0.into_iter().map(|id| id.0 .0).collect())
                .unwrap_or_default(),
        }
    }
}

/// One of the four engine names.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct EngineName(pub Engine);

impl Scalar for EngineName {
    const EXPECTING: &'static str = "an engine: rds_mysql, rds_postgresql, polardb_mysql or mongodb";

    fn parse(text: &str) -> Result<Self, String> {
        Engine::parse(text).map(EngineName).ok_or_else(|| {
            format!("{text:?} is not an engine: expected rds_mysql, rds_postgresql, polardb_mysql or mongodb")
        })
    }
}

/// An instance id left out of discovery.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ExcludedId(pub Identifier);

impl Scalar for ExcludedId {
    const EXPECTING: &'static str = <Identifier as Scalar>::EXPECTING;

    fn parse(text: &str) -> Result<Self, String> {
        Identifier::parse(text).map(ExcludedId)
    }
}

/// A tag key: what Alibaba accepts (1 to 128 characters, not `aliyun` or `acs:` first).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TagKey(pub String);

impl Scalar for TagKey {
    const EXPECTING: &'static str = "a tag key";

    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            Err("a tag key must not be empty".into())
        } else if text.chars().count() > 128 {
            Err(format!("tag key {text:?} is longer than 128 characters"))
        } else if text.starts_with("aliyun") || text.starts_with("acs:") {
            Err(format!("tag key {text:?} starts with aliyun or acs:, which Alibaba reserves"))
        } else {
            Ok(TagKey(text.to_string()))
        }
    }
}

/// A tag value: up to 128 characters, possibly empty.
struct TagValue(String);

impl Scalar for TagValue {
    const EXPECTING: &'static str = "a tag value";

    fn parse(text: &str) -> Result<Self, String> {
        if text.chars().count() > 128 {
            Err(format!("tag value {text:?} is longer than 128 characters"))
        } else {
            Ok(TagValue(text.to_string()))
        }
    }
}

deserialize_by_parse!(EngineName, ExcludedId, TagKey, TagValue);

impl ListItem for EngineName {
    const NOUN: &'static str = "engine";
    const EXPECTING: &'static str = <EngineName as Scalar>::EXPECTING;
    const SHAPE: Shape = Shape::Scalar;
    fn identity(&self) -> &str {
        self.0.as_str()
    }
}

impl ListItem for ExcludedId {
    const NOUN: &'static str = "instance";
    const EXPECTING: &'static str = <Identifier as Scalar>::EXPECTING;
    const SHAPE: Shape = Shape::Scalar;
    fn identity(&self) -> &str {
        &self.0 .0
    }
}

/// `tags: {key: value, ...}`: at most 20, in the order written.
pub(super) struct TagMap(Vec<(String, String)>);

impl<'de> Deserialize<'de> for TagMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagMapVisitor;

        impl<'de> Visitor<'de> for TagMapVisitor {
            type Value = TagMap;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of tag keys to values, e.g. {env: prod}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TagMap, A::Error> {
                let mut tags = Vec::new();
                while let Some(TagKey(key)) = map.next_key()? {
                    let TagValue(value) = map.next_value()?;
                    if tags.len() == MAX_TAGS {
                        return Err(de::Error::custom(format!("at most {MAX_TAGS} tags can filter")));
                    }
                    tags.push((key, value));
                }
                Ok(TagMap(tags))
            }
        }

        deserializer.deserialize_map(TagMapVisitor)
    }
}

/// A key of `tag_labels`: distinct from the others once sanitised into a label name, which is
/// what the list's duplicate check compares, so `team-a` after `team_a` is refused where written.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TagLabel {
    key: String,
    label: String,
}

impl Scalar for TagLabel {
    const EXPECTING: &'static str = "a tag key";

    fn parse(text: &str) -> Result<Self, String> {
        let TagKey(key) = TagKey::parse(text)?;
        let label = tag_label_name(&key);
        Ok(TagLabel { key, label })
    }
}

deserialize_by_parse!(TagLabel);

impl ListItem for TagLabel {
    const NOUN: &'static str = "tag label";
    const EXPECTING: &'static str = <TagLabel as Scalar>::EXPECTING;
    const SHAPE: Shape = Shape::Scalar;
    fn identity(&self) -> &str {
        &self.label
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_keys_become_valid_label_names() {
        assert_eq!(tag_label_name("env"), "tag_env");
        assert_eq!(tag_label_name("cost-center/team.name"), "tag_cost_center_team_name");
        assert_eq!(tag_label_name("环境"), "tag___");
    }

    #[test]
    fn a_region_without_overrides_uses_each_products_public_endpoint() {
        let endpoints =
            DiscoveryEndpoints { polardb: Some("http://127.0.0.1:9".into()), ..Default::default() };
        assert_eq!(endpoints.endpoint(Product::Polardb, "cn-hangzhou"), "http://127.0.0.1:9");
        assert_eq!(
            endpoints.endpoint(Product::Mongodb, "eu-west-1"),
            "https://mongodb.eu-west-1.aliyuncs.com"
        );
    }
}
