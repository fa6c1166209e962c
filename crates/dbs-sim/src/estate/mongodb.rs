//! MongoDB `2015-12-01` `DescribeDBInstances`: a region's replica sets and standalone instances
//! (`DBInstanceType=replicate`, the default) or its sharded clusters (`sharding`), filtered by
//! engine, status and tags (all of them), paged by `PageSize` 30, 50 or 100 and `PageNumber`.

use serde_json::{json, Value};

use super::params::{
    admits, bad_request, carries_all, fixed_page_size, given, page, page_number, region, reply, tag_filters,
    tags_json,
};
use super::{zone_of, Estate, SimDbInstance, SimDbKind, CREATED, RESOURCE_GROUP};
use crate::gateway::{Action, Call, GatewayError, Reply};

pub(super) const VERSION: &str = "2015-12-01";
pub(super) const ACTIONS: &[Action] = &[Action { name: "DescribeDBInstances", signed: true }];

/// MongoDB (ApsaraDB for MongoDB, product code `Dds`) on the gateway: its product name in errors and the log.
pub(super) const NAME: &str = "Dds";

/// A call RAM let through.
pub(super) fn answer(estate: &Estate, call: &Call) -> Reply {
    reply(describe_db_instances(estate, call))
}

const REPLICATE: &str = "replicate";
const SHARDING: &str = "sharding";

/// The `DBInstanceType` an instance is listed under, if it is a MongoDB one.
fn listed_as(instance: &SimDbInstance) -> Option<&'static str> {
    match instance.kind {
        SimDbKind::MongoReplicate => Some(REPLICATE),
        SimDbKind::MongoSharding => Some(SHARDING),
        _ => None,
    }
}

fn describe_db_instances(estate: &Estate, call: &Call) -> Result<Value, GatewayError> {
    let region = region(call)?;
    let wanted = match given(call, "DBInstanceType") {
        None => REPLICATE,
        Some(kind) if kind.eq_ignore_ascii_case(REPLICATE) => REPLICATE,
        Some(kind) if kind.eq_ignore_ascii_case(SHARDING) => SHARDING,
        Some(_) => {
            return Err(bad_request(
                "InvalidDBInstanceType.Malformed",
                "Specified parameter DBInstanceType is not valid: replicate or sharding.",
            ))
        }
    };
    let tags = tag_filters(call)?;
    let size = fixed_page_size(call)?;
    let number = page_number(call)?;
    let selected: Vec<SimDbInstance> = estate
        .in_region(region)
        .into_iter()
        .filter(|instance| {
            listed_as(instance) == Some(wanted)
                && admits(given(call, "Engine"), "MongoDB")
                && admits(given(call, "DBInstanceStatus"), &instance.status)
                && carries_all(&tags, instance)
        })
        .collect();
    let total = selected.len();
    let items: Vec<Value> = page(selected, size, number).iter().map(|i| instance_json(i, wanted)).collect();
    Ok(json!({
        "DBInstances": { "DBInstance": items },
        "TotalCount": total,
        "PageNumber": number,
        "PageSize": size,
    }))
}

fn instance_json(instance: &SimDbInstance, kind: &str) -> Value {
    json!({
        "DBInstanceId": instance.id,
        "DBInstanceType": kind,
        "Engine": "MongoDB",
        "EngineVersion": "5.0",
        "DBInstanceStatus": instance.status,
        "DBInstanceDescription": instance.description,
        "RegionId": instance.region,
        "ZoneId": zone_of(&instance.region),
        "Tags": tags_json(instance),
        "ChargeType": "PostPaid",
        "NetworkType": "VPC",
        "LockMode": "Unlock",
        "ResourceGroupId": RESOURCE_GROUP,
        "CreationTime": CREATED,
    })
}
