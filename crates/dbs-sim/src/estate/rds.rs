//! RDS `2014-08-15` `DescribeDBInstances`: the RDS instances of a region, filtered by engine,
//! type, status and tags, paged by `PageSize`/`PageNumber` or by `MaxResults`/`NextToken`.
//! Its items carry no tags: `ListTagResources` ([`super::rds_tags`]) reads them.

use serde_json::{json, Map, Value};

use super::params::{admits, bad_request, given, page, page_number, region, reply, size_up_to};
use super::token::{self, Cursor};
use super::{rds_tags, zone_of, Estate, SimDbInstance, SimDbKind, CREATED, RESOURCE_GROUP};
use crate::gateway::{Action, Call, GatewayError, Reply};

pub(super) const VERSION: &str = "2014-08-15";
const DESCRIBE: &str = "DescribeDBInstances";
pub(super) const ACTIONS: &[Action] =
    &[Action { name: DESCRIBE, signed: true }, Action { name: rds_tags::ACTION, signed: true }];

/// RDS on the gateway: its product name in errors and the log.
pub(super) const NAME: &str = "Rds";

/// A call RAM let through: `DescribeDBInstances`, or `ListTagResources` ([`rds_tags`]).
pub(super) fn answer(estate: &Estate, call: &Call) -> Reply {
    match call.param("Action") {
        rds_tags::ACTION => reply(rds_tags::list_tag_resources(estate, call)),
        _ => reply(describe_db_instances(estate, call)),
    }
}

/// `PageSize` and `MaxResults` take 1 to 100.
const MAX_PAGE_SIZE: u64 = 100;
const DEFAULT_PAGE_SIZE: u64 = 30;
/// `Tags` holds at most this many pairs.
const MAX_TAGS: usize = 5;

/// How the request pages.
enum Paging {
    Numbered {
        size: u64,
        number: u64,
    },
    /// `after`: the last id of the previous page, from its `NextToken`.
    Token {
        max: u64,
        after: Option<String>,
    },
}

impl Paging {
    /// Token paging when `MaxResults` or `NextToken` is given (then `PageSize` and `PageNumber`
    /// are ignored), numbered paging otherwise.
    /// A service that knows only numbered paging ignores the token parameters.
    fn of(call: &Call, numbered_only: bool) -> Result<Paging, GatewayError> {
        let max = size_up_to(call, "MaxResults", MAX_PAGE_SIZE)?;
        let next = given(call, "NextToken");
        if numbered_only || (max.is_none() && next.is_none()) {
            let size = size_up_to(call, "PageSize", MAX_PAGE_SIZE)?.unwrap_or(DEFAULT_PAGE_SIZE);
            return Ok(Paging::Numbered { size, number: page_number(call)? });
        }
        let after = next
            .map(|raw| {
                token::read(Cursor::Instances, raw).ok_or_else(|| {
                    bad_request("InvalidNextToken", "Specified parameter NextToken is not valid.")
                })
            })
            .transpose()?;
        Ok(Paging::Token { max: max.unwrap_or(DEFAULT_PAGE_SIZE), after })
    }
}

/// `Tags`: a JSON object of at most 5 string pairs; an empty value stands for any value.
fn tags_filter(call: &Call) -> Result<Vec<(String, Option<String>)>, GatewayError> {
    let Some(raw) = given(call, "Tags") else { return Ok(Vec::new()) };
    let invalid = |why: &str| {
        bad_request("InvalidTags.Format", format!("Specified parameter Tags is not valid: {why}"))
    };
    let object: Map<String, Value> =
        serde_json::from_str(raw).map_err(|_| invalid("a JSON object of key-value strings is expected."))?;
    if object.len() > MAX_TAGS {
        return Err(invalid("at most 5 tags."));
    }
    object
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(value) => Ok((key, Some(value).filter(|v| !v.is_empty()))),
            _ => Err(invalid("tag values are strings.")),
        })
        .collect()
}

fn describe_db_instances(estate: &Estate, call: &Call) -> Result<Value, GatewayError> {
    let region = region(call)?;
    let tags = tags_filter(call)?;
    let paging = Paging::of(call, estate.numbered_only())?;
    let in_region: Vec<SimDbInstance> =
        estate.in_region(region).into_iter().filter(|i| matches!(i.kind, SimDbKind::Rds { .. })).collect();
    let selected: Vec<&SimDbInstance> = in_region
        .iter()
        .filter(|instance| {
            let SimDbKind::Rds { engine, instance_type, .. } = &instance.kind else { return false };
            admits(given(call, "Engine"), engine)
                && admits(given(call, "DBInstanceType"), instance_type)
                && admits(given(call, "DBInstanceStatus"), &instance.status)
                // The SDK model: an instance is listed when it carries any of the tags.
                && (tags.is_empty() || tags.iter().any(|(k, v)| instance.has_tag(k, v.as_deref())))
        })
        .collect();
    let item = |instance: &&SimDbInstance| instance_json(instance, &in_region);
    let answer = match paging {
        Paging::Numbered { size, number } => {
            let total = selected.len();
            let items: Vec<Value> = page(selected, size, number).iter().map(item).collect();
            json!({
                "Items": { "DBInstance": items },
                "TotalRecordCount": total,
                "PageNumber": number,
                "PageRecordCount": items.len(),
            })
        }
        Paging::Token { max, after } => {
            let rest: Vec<&SimDbInstance> = selected
                .into_iter()
                .filter(|i| after.as_deref().is_none_or(|after| i.id.as_str() > after))
                .collect();
            let this_page = &rest[..rest.len().min(max as usize)];
            let next = match this_page.last() {
                Some(last) if rest.len() > this_page.len() => token::issue(Cursor::Instances, &last.id),
                _ => String::new(),
            };
            let items: Vec<Value> = this_page.iter().map(item).collect();
            json!({
                "Items": { "DBInstance": items },
                // In token mode both counts are the page's.
                "TotalRecordCount": items.len(),
                "PageNumber": 1,
                "PageRecordCount": items.len(),
                "NextToken": next,
            })
        }
    };
    Ok(answer)
}

/// What the SDK calls `EngineVersion` for each engine's current major version.
fn engine_version(engine: &str) -> &'static str {
    match engine.to_ascii_lowercase().as_str() {
        "postgresql" => "15.0",
        "sqlserver" => "2019_std_ha",
        "mariadb" => "10.3",
        _ => "8.0",
    }
}

/// One `DBInstance` item. A read-only instance's `MasterInstanceId` is the first running primary
/// of its engine in the region, else the first primary (`region` holds every RDS instance there,
/// sorted by id).
fn instance_json(instance: &SimDbInstance, region: &[SimDbInstance]) -> Value {
    let SimDbKind::Rds { engine, instance_type, storage_type } = &instance.kind else {
        unreachable!("only RDS instances are listed")
    };
    let master = if instance_type.eq_ignore_ascii_case("Readonly") {
        region
            .iter()
            .filter(|other| {
                matches!(&other.kind, SimDbKind::Rds { engine: e, instance_type: t, .. }
                    if e == engine && t == "Primary")
            })
            .min_by_key(|primary| primary.status != "Running")
            .map_or("", |primary| primary.id.as_str())
    } else {
        ""
    };
    json!({
        "DBInstanceId": instance.id,
        "Engine": engine,
        "EngineVersion": engine_version(engine),
        "DBInstanceStatus": instance.status,
        "DBInstanceType": instance_type,
        "DBInstanceStorageType": storage_type,
        "DBInstanceDescription": instance.description,
        "RegionId": instance.region,
        "ZoneId": zone_of(&instance.region),
        "ResourceGroupId": RESOURCE_GROUP,
        "Category": "HighAvailability",
        "MasterInstanceId": master,
        "DBInstanceNetType": "Intranet",
        "InstanceNetworkType": "VPC",
        "PayType": "Postpaid",
        "LockMode": "Unlock",
        "CreateTime": CREATED,
        // A real field of this response, misspelled by the API itself, and a boolean.
        "MutriORsignle": false,
    })
}
