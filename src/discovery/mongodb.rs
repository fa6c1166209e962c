//! MongoDB `2015-12-01` `DescribeDBInstances`: replica sets and standalone instances
//! (`DBInstanceType=replicate`), then sharded clusters (`sharding`), each paged by number
//! (`PageSize` 30, 50 or 100 only) and filtered by `Tag.N`; the answer carries the tags.
//! DBS lists a sharded cluster's downloads with `ClusterName` set to the cluster's own id.

use serde::Deserialize;

use super::{
    is_coming_or_going, reported_total, walk_by_number, Calls, DiscoveredInstance, DiscoveryError, Engine,
    NumberedPage, Product, RawTags,
};
use crate::rpc::{Loose, RpcRequest, RpcResponse};

pub(super) const VERSION: &str = "2015-12-01";
const LIST: &str = "DescribeDBInstances";

/// The two kinds a list call asks for separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Replicate,
    Sharding,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Replicate => "replicate",
            Kind::Sharding => "sharding",
        }
    }
}

pub(super) async fn discover(calls: &Calls<'_>) -> Result<Vec<DiscoveredInstance>, DiscoveryError> {
    let mut found = list(calls, Kind::Replicate).await?;
    found.extend(list(calls, Kind::Sharding).await?);
    Ok(found)
}

async fn list(calls: &Calls<'_>, kind: Kind) -> Result<Vec<DiscoveredInstance>, DiscoveryError> {
    let base = RpcRequest::new(LIST, VERSION)
        .param("RegionId", calls.request.region_id)
        .param("DBInstanceType", kind.as_str());
    let instances = walk_by_number(calls, base, Product::Mongodb.ram_action(), decode_page).await?;
    Ok(instances.into_iter().filter_map(|instance| instance.found(kind)).collect())
}

#[derive(Debug, PartialEq, Eq)]
struct Instance {
    id: String,
    kind: Option<String>,
    status: Option<String>,
    tags: Vec<(String, String)>,
}

impl Instance {
    /// The instance as found by a list of `asked`, unless it is being created or deleted. The
    /// answer's own type wins over the one asked for, should a service ignore the filter.
    fn found(self, asked: Kind) -> Option<DiscoveredInstance> {
        if is_coming_or_going(self.status.as_deref()) {
            return None;
        }
        let sharded = match self.kind.as_deref() {
            Some(kind) => kind.eq_ignore_ascii_case("sharding"),
            None => asked == Kind::Sharding,
        };
        if sharded != (asked == Kind::Sharding) {
            // Listed by the other call too.
            return None;
        }
        let cluster_name = sharded.then(|| self.id.clone());
        Some(DiscoveredInstance {
            cluster_name,
            tags: self.tags,
            ..DiscoveredInstance::new(&self.id, Engine::Mongodb)
        })
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawInstances<'a> {
    #[serde(rename = "DBInstance", borrow)]
    instances: Option<Vec<RawInstance<'a>>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawInstance<'a> {
    #[serde(rename = "DBInstanceId", borrow)]
    id: Loose<'a>,
    #[serde(rename = "DBInstanceType", borrow)]
    kind: Loose<'a>,
    #[serde(rename = "DBInstanceStatus", borrow)]
    status: Loose<'a>,
    #[serde(rename = "Tags", borrow)]
    tags: RawTags<'a>,
}

fn decode_page(response: &RpcResponse) -> Result<NumberedPage<Instance>, DiscoveryError> {
    let answer = response.decode::<RawInstances>("DBInstances")?;
    let raw = answer.payload.instances.unwrap_or_default();
    let instances = raw
        .iter()
        .filter_map(|raw| {
            Some(Instance {
                id: raw.id.owned()?,
                kind: raw.kind.owned(),
                status: raw.status.owned(),
                tags: raw.tags.pairs(),
            })
        })
        .collect();
    Ok(NumberedPage { items: instances, total: reported_total(response) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(kind: Option<&str>, status: &str) -> Instance {
        Instance {
            id: "dds-1".into(),
            kind: kind.map(str::to_string),
            status: Some(status.into()),
            tags: Vec::new(),
        }
    }

    #[test]
    fn a_sharded_cluster_is_listed_with_its_own_id_as_cluster_name() {
        let found = instance(Some("sharding"), "Running").found(Kind::Sharding).unwrap();
        assert_eq!(found.cluster_name.as_deref(), Some("dds-1"));
        let found = instance(Some("replicate"), "Running").found(Kind::Replicate).unwrap();
        assert_eq!(found.cluster_name, None);
    }

    #[test]
    fn each_kind_is_taken_from_its_own_call_once_and_not_while_created() {
        assert!(instance(Some("sharding"), "Running").found(Kind::Replicate).is_none());
        assert!(instance(Some("replicate"), "Running").found(Kind::Sharding).is_none());
        assert!(instance(None, "Running").found(Kind::Sharding).unwrap().cluster_name.is_some());
        assert!(instance(Some("replicate"), "Creating").found(Kind::Replicate).is_none());
    }
}
