//! PolarDB `2017-08-01` `DescribeDBClusters`: the clusters of a region, filtered by type,
//! status, ids and tags (all of them), paged by `PageSize` 30, 50 or 100 and `PageNumber`.

use serde_json::{json, Value};

use super::params::{
    admits, carries_all, fixed_page_size, given, page, page_number, region, reply, tag_filters, tags_json,
};
use super::{zone_of, Estate, SimDbInstance, SimDbKind, CREATED, RESOURCE_GROUP};
use crate::gateway::{Action, Call, GatewayError, Reply};

pub(super) const VERSION: &str = "2017-08-01";
pub(super) const ACTIONS: &[Action] = &[Action { name: "DescribeDBClusters", signed: true }];

/// PolarDB on the gateway: its product name in errors and the log.
pub(super) const NAME: &str = "polardb";

/// A call RAM let through.
pub(super) fn answer(estate: &Estate, call: &Call) -> Reply {
    reply(describe_db_clusters(estate, call))
}

fn describe_db_clusters(estate: &Estate, call: &Call) -> Result<Value, GatewayError> {
    let region = region(call)?;
    let tags = tag_filters(call)?;
    let size = fixed_page_size(call)?;
    let number = page_number(call)?;
    // `DBClusterIds`: a comma-separated list.
    let ids: Option<Vec<&str>> =
        given(call, "DBClusterIds").map(|ids| ids.split(',').map(str::trim).collect());
    let selected: Vec<SimDbInstance> = estate
        .in_region(region)
        .into_iter()
        .filter(|cluster| {
            let SimDbKind::PolarDb { db_type } = &cluster.kind else { return false };
            admits(given(call, "DBType"), db_type)
                && admits(given(call, "DBClusterStatus"), &cluster.status)
                && ids.as_ref().is_none_or(|ids| ids.contains(&cluster.id.as_str()))
                && carries_all(&tags, cluster)
        })
        .collect();
    let total = selected.len();
    let items: Vec<Value> = page(selected, size, number).iter().map(cluster_json).collect();
    Ok(json!({
        "Items": { "DBCluster": items },
        "TotalRecordCount": total,
        "PageNumber": number,
        "PageRecordCount": items.len(),
    }))
}

fn db_version(db_type: &str) -> &'static str {
    match db_type.to_ascii_lowercase().as_str() {
        "postgresql" => "14",
        "oracle" => "2.0",
        _ => "8.0",
    }
}

fn cluster_json(cluster: &SimDbInstance) -> Value {
    let SimDbKind::PolarDb { db_type } = &cluster.kind else {
        unreachable!("only PolarDB clusters are listed")
    };
    json!({
        "DBClusterId": cluster.id,
        "DBType": db_type,
        "DBVersion": db_version(db_type),
        "DBClusterStatus": cluster.status,
        "DBClusterDescription": cluster.description,
        "RegionId": cluster.region,
        "ZoneId": zone_of(&cluster.region),
        "Tags": tags_json(cluster),
        "Engine": "POLARDB",
        "Category": "Normal",
        "DBNodeNumber": 2,
        "DBClusterNetworkType": "VPC",
        "PayType": "Postpaid",
        "LockMode": "Unlock",
        "ResourceGroupId": RESOURCE_GROUP,
        "CreateTime": CREATED,
    })
}
