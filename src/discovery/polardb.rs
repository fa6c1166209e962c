//! PolarDB `2017-08-01` `DescribeDBClusters`: MySQL clusters, paged by number (`PageSize` 30,
//! 50 or 100 only), filtered by `Tag.N`; the answer carries each cluster's tags.

use serde::Deserialize;

use super::{
    is_coming_or_going, reported_total, walk_by_number, Calls, DiscoveredInstance, DiscoveryError, Engine,
    NumberedPage, Product, RawTags,
};
use crate::rpc::{Loose, RpcRequest, RpcResponse};

pub(super) const VERSION: &str = "2017-08-01";
const LIST: &str = "DescribeDBClusters";

pub(super) async fn discover(calls: &Calls<'_>) -> Result<Vec<DiscoveredInstance>, DiscoveryError> {
    let base =
        RpcRequest::new(LIST, VERSION).param("RegionId", calls.request.region_id).param("DBType", "MySQL");
    let clusters = walk_by_number(calls, base, Product::Polardb.ram_action(), decode_page).await?;
    Ok(clusters.into_iter().filter(Cluster::applies).map(Cluster::found).collect())
}

#[derive(Debug, PartialEq, Eq)]
struct Cluster {
    id: String,
    db_type: Option<String>,
    status: Option<String>,
    tags: Vec<(String, String)>,
}

impl Cluster {
    fn applies(&self) -> bool {
        self.db_type.as_deref().is_none_or(|t| t.eq_ignore_ascii_case("MySQL"))
            && !is_coming_or_going(self.status.as_deref())
    }

    fn found(self) -> DiscoveredInstance {
        DiscoveredInstance { tags: self.tags, ..DiscoveredInstance::new(&self.id, Engine::PolardbMysql) }
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawItems<'a> {
    #[serde(rename = "DBCluster", borrow)]
    clusters: Option<Vec<RawCluster<'a>>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawCluster<'a> {
    #[serde(rename = "DBClusterId", borrow)]
    id: Loose<'a>,
    #[serde(rename = "DBType", borrow)]
    db_type: Loose<'a>,
    #[serde(rename = "DBClusterStatus", borrow)]
    status: Loose<'a>,
    #[serde(rename = "Tags", borrow)]
    tags: RawTags<'a>,
}

fn decode_page(response: &RpcResponse) -> Result<NumberedPage<Cluster>, DiscoveryError> {
    let answer = response.decode::<RawItems>("Items")?;
    let clusters = answer.payload.clusters.unwrap_or_default();
    let clusters = clusters
        .iter()
        .filter_map(|raw| {
            Some(Cluster {
                id: raw.id.owned()?,
                db_type: raw.db_type.owned(),
                status: raw.status.owned(),
                tags: raw.tags.pairs(),
            })
        })
        .collect();
    Ok(NumberedPage { items: clusters, total: reported_total(response) })
}
