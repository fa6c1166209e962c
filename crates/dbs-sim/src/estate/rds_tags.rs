//! RDS `2014-08-15` `ListTagResources`: the tags of up to 50 given instances (or of the
//! instances carrying given tags), one entry per tag, 50 entries a page, continued by
//! `NextToken`.

use serde_json::{json, Value};

use super::params::{bad_request, carries_all, given, numbered, region, tag_filters};
use super::token::{self, Cursor};
use super::{Estate, SimDbInstance, SimDbKind};
use crate::gateway::{Call, GatewayError};

pub(super) const ACTION: &str = "ListTagResources";

/// `ResourceId.N` takes N from 1 to 50.
const MAX_RESOURCE_IDS: u32 = 50;
/// Tag entries per answer: small enough that an exporter's paging gets exercised.
const ENTRIES_PER_PAGE: usize = 50;

/// What the API calls an RDS instance in requests and in answers.
const REQUEST_TYPE: &str = "INSTANCE";
const ANSWER_TYPE: &str = "ALIYUN::RDS::INSTANCE";

/// The `ResourceId.N` given, in N order.
fn resource_ids(call: &Call) -> Result<Vec<String>, GatewayError> {
    let ids = numbered(call, "ResourceId", MAX_RESOURCE_IDS, "InvalidResourceId.NumberExceed")?;
    Ok(ids
        .into_values()
        .filter_map(|fields| fields.get("").copied())
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect())
}

/// One entry per tag of each selected instance, sorted by instance then key, so the cursor
/// (instance, key) of the last entry sent places the next page.
fn entries(selected: &[SimDbInstance]) -> Vec<(String, String, String)> {
    let mut entries: Vec<(String, String, String)> = selected
        .iter()
        .flat_map(|instance| instance.tags.iter().map(|(k, v)| (instance.id.clone(), k.clone(), v.clone())))
        .collect();
    entries.sort();
    entries
}

/// The cursor's text in a token: the instance id and the key, a line apart.
fn cursor_text(entry: &(String, String, String)) -> String {
    format!("{}\n{}", entry.0, entry.1)
}

pub(super) fn list_tag_resources(estate: &Estate, call: &Call) -> Result<Value, GatewayError> {
    let region = region(call)?;
    match given(call, "ResourceType") {
        None => return Err(bad_request("MissingResourceType", "ResourceType is mandatory for this action.")),
        Some(REQUEST_TYPE) => {}
        Some(_) => {
            return Err(bad_request(
                "InvalidResourceType",
                "Specified parameter ResourceType is not valid: INSTANCE.",
            ))
        }
    }
    let ids = resource_ids(call)?;
    let tags = tag_filters(call)?;
    if ids.is_empty() && tags.is_empty() {
        return Err(bad_request("MissingParameter", "ResourceId.N or Tag.N is mandatory for this action."));
    }
    let after = given(call, "NextToken")
        .map(|raw| {
            token::read(Cursor::TagResources, raw)
                .and_then(|text| text.split_once('\n').map(|(id, key)| (id.to_string(), key.to_string())))
                .ok_or_else(|| bad_request("InvalidNextToken", "Specified parameter NextToken is not valid."))
        })
        .transpose()?;

    // Unknown ids, and ids of other regions or products, are left out without complaint.
    let selected: Vec<SimDbInstance> = estate
        .in_region(region)
        .into_iter()
        .filter(|i| matches!(i.kind, SimDbKind::Rds { .. }))
        .filter(|i| ids.is_empty() || ids.contains(&i.id))
        .filter(|i| carries_all(&tags, i))
        .collect();
    let rest: Vec<(String, String, String)> = entries(&selected)
        .into_iter()
        .filter(|(id, key, _)| {
            after.as_ref().is_none_or(|(after_id, after_key)| (id, key) > (after_id, after_key))
        })
        .collect();
    let this_page = &rest[..rest.len().min(ENTRIES_PER_PAGE)];
    let next = match this_page.last() {
        Some(last) if rest.len() > this_page.len() => token::issue(Cursor::TagResources, &cursor_text(last)),
        _ => String::new(),
    };
    let items: Vec<Value> = this_page
        .iter()
        .map(|(id, key, value)| {
            json!({ "ResourceId": id, "ResourceType": ANSWER_TYPE, "TagKey": key, "TagValue": value })
        })
        .collect();
    Ok(json!({ "TagResources": { "TagResource": items }, "NextToken": next }))
}
