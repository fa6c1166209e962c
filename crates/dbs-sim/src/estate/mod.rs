//! The three list APIs that instance discovery reads, served from one simulated estate: RDS
//! `2014-08-15` (`DescribeDBInstances`, `ListTagResources`), PolarDB `2017-08-01`
//! (`DescribeDBClusters`) and MongoDB `2015-12-01` (`DescribeDBInstances`), each a product on
//! the gateway, so signatures, nonces and faults apply to them as to DBS.
//!
//! Every answer lists only instances of the request's `RegionId` and of its own product, sorted
//! by id, so paging is stable.

mod instances;
mod mongodb;
mod params;
mod polardb;
mod rds;
mod rds_tags;
mod token;

use std::sync::Arc;

pub(crate) use self::instances::Estate;
use crate::gateway::{Accounts, Action, Call, Gateway, Product, Reply, Routes};

/// One database instance (or cluster) of the simulated account, as the list APIs show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDbInstance {
    pub region: String,
    pub id: String,
    pub kind: SimDbKind,
    /// As the API spells it: `Running`, `Creating`, `Deleting`, ...
    pub status: String,
    pub description: String,
    /// In the order given; a key appears once.
    pub tags: Vec<(String, String)>,
}

/// Which product lists an instance, and what it says about its engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimDbKind {
    /// RDS: engine as the API spells it ("MySQL", "PostgreSQL", "SQLServer", "MariaDB"),
    /// DBInstanceType ("Primary", "Readonly", ...), DBInstanceStorageType ("cloud_essd",
    /// "local_ssd", ...)
    Rds { engine: String, instance_type: String, storage_type: String },
    /// PolarDB: DBType ("MySQL", "PostgreSQL", "Oracle")
    PolarDb { db_type: String },
    /// MongoDB replica set or standalone (DBInstanceType "replicate")
    MongoReplicate,
    /// MongoDB sharded cluster (DBInstanceType "sharding")
    MongoSharding,
}

impl SimDbInstance {
    /// A `Running` instance with no description and no tag.
    pub fn new(region: impl Into<String>, id: impl Into<String>, kind: SimDbKind) -> Self {
        SimDbInstance {
            region: region.into(),
            id: id.into(),
            kind,
            status: "Running".into(),
            description: String::new(),
            tags: Vec::new(),
        }
    }

    /// An RDS instance of any engine, type and storage.
    pub fn rds(
        region: impl Into<String>,
        id: impl Into<String>,
        engine: &str,
        instance_type: &str,
        storage_type: &str,
    ) -> Self {
        let kind = SimDbKind::Rds {
            engine: engine.into(),
            instance_type: instance_type.into(),
            storage_type: storage_type.into(),
        };
        SimDbInstance::new(region, id, kind)
    }

    /// A running primary RDS MySQL instance on ESSD cloud disks: what advanced download serves.
    pub fn rds_mysql(region: impl Into<String>, id: impl Into<String>) -> Self {
        SimDbInstance::rds(region, id, "MySQL", "Primary", "cloud_essd")
    }

    /// A running primary RDS PostgreSQL instance on ESSD cloud disks.
    pub fn rds_postgresql(region: impl Into<String>, id: impl Into<String>) -> Self {
        SimDbInstance::rds(region, id, "PostgreSQL", "Primary", "cloud_essd")
    }

    /// A running PolarDB for MySQL cluster.
    pub fn polardb_mysql(region: impl Into<String>, id: impl Into<String>) -> Self {
        SimDbInstance::new(region, id, SimDbKind::PolarDb { db_type: "MySQL".into() })
    }

    /// A running MongoDB replica set.
    pub fn mongo_replicate(region: impl Into<String>, id: impl Into<String>) -> Self {
        SimDbInstance::new(region, id, SimDbKind::MongoReplicate)
    }

    /// A running MongoDB sharded cluster.
    pub fn mongo_sharding(region: impl Into<String>, id: impl Into<String>) -> Self {
        SimDbInstance::new(region, id, SimDbKind::MongoSharding)
    }

    pub fn with_status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }

    pub fn with_description(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    /// Adds the tag, or gives an existing key this value (a resource carries a key once).
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.tags.iter_mut().find(|(k, _)| *k == key) {
            Some(tag) => tag.1 = value,
            None => self.tags.push((key, value)),
        }
        self
    }

    /// Whether the instance carries `key`, with `value` when one is given.
    pub(crate) fn has_tag(&self, key: &str, value: Option<&str>) -> bool {
        self.tags.iter().any(|(k, v)| k == key && value.is_none_or(|value| v == value))
    }
}

/// One list API of the estate as a product on the gateway: RDS, PolarDB and MongoDB differ
/// only in their name, version, actions and how they answer a call RAM lets through.
struct ListApi {
    name: &'static str,
    version: &'static str,
    actions: &'static [Action],
    answer: fn(&Estate, &Call) -> Reply,
    estate: Arc<Estate>,
}

impl Product for ListApi {
    fn name(&self) -> &'static str {
        self.name
    }

    fn routes(&self) -> Routes {
        Routes::Rpc { version: self.version, actions: self.actions }
    }

    #[cfg(feature = "testing")]
    fn received(&self, call: &Call) {
        self.estate.received(call);
    }

    fn answer(&self, call: &Call, _: &Accounts) -> Reply {
        match self.estate.refusal(call) {
            Some(refusal) => refusal,
            None => (self.answer)(&self.estate, call),
        }
    }
}

/// Serves the list APIs of `estate` on `gateway`.
pub(crate) fn mount(gateway: &Gateway, estate: &Arc<Estate>) {
    let api = |name, version, actions, answer| ListApi {
        name,
        version,
        actions,
        answer,
        estate: Arc::clone(estate),
    };
    gateway.mount(Arc::new(api(rds::NAME, rds::VERSION, rds::ACTIONS, rds::answer)));
    gateway.mount(Arc::new(api(polardb::NAME, polardb::VERSION, polardb::ACTIONS, polardb::answer)));
    gateway.mount(Arc::new(api(mongodb::NAME, mongodb::VERSION, mongodb::ACTIONS, mongodb::answer)));
}

/// Plausible zones: `cn-hangzhou-h`, `ap-southeast-1a`, as Alibaba names them.
fn zone_of(region: &str) -> String {
    if region.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{region}a")
    } else {
        format!("{region}-h")
    }
}

/// The resource group every simulated instance is in.
const RESOURCE_GROUP: &str = "rg-acfmsimdefault01";

/// Any creation time will do; the exporter reads none.
const CREATED: &str = "2024-03-01T08:00:00Z";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_key_is_carried_once_with_its_latest_value() {
        let instance =
            SimDbInstance::rds_mysql("cn-hangzhou", "rm-1").with_tag("env", "dev").with_tag("env", "prod");
        assert_eq!(instance.tags, [("env".to_string(), "prod".to_string())]);
        assert!(instance.has_tag("env", Some("prod")));
        assert!(instance.has_tag("env", None));
        assert!(!instance.has_tag("env", Some("dev")));
    }

    #[test]
    fn zones_follow_the_region_naming() {
        assert_eq!(zone_of("cn-hangzhou"), "cn-hangzhou-h");
        assert_eq!(zone_of("ap-southeast-1"), "ap-southeast-1a");
    }
}
