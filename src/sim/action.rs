//! `DescribeDownloadTask` behind the gateway: action and version routing, RAM, then the listing.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::handle::Shared;
use super::store::Query;
use super::wire::{GatewayError, Reply};

pub(crate) const ACTION: &str = "DescribeDownloadTask";
pub(crate) const VERSION: &str = "2021-01-01";

/// Answers a request that reached `/` with GET or POST and drew no fault.
pub(crate) fn describe_download_task(
    shared: &Shared,
    method: &str,
    params: &BTreeMap<String, String>,
    now: SystemTime,
) -> Reply {
    if let Err(error) =
        super::auth::authenticate(&shared.config.accounts, &shared.nonces, method, params, now)
    {
        return Reply::Gateway(error);
    }
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    if param("Action") != ACTION {
        return Reply::Gateway(GatewayError::new(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    if param("Version") != VERSION {
        return Reply::Gateway(GatewayError::new(
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    if param("RegionCode").is_empty() {
        return Reply::Gateway(GatewayError::new(
            400,
            "MissingRegionCode",
            "RegionCode is mandatory for this action.",
        ));
    }
    let target = (param("RegionCode").to_string(), param("InstanceName").to_string());
    if shared.config.forbidden.contains(&target) {
        return Reply::Gateway(GatewayError::new(
            403,
            "Forbidden.RAM",
            "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
        ));
    }
    if param("InstanceName").trim().is_empty() {
        return Reply::in_band("InvalidParameter", "instanceName can not be empty");
    }
    match Query::from_params(params, shared.config.max_page_size) {
        Ok(query) => {
            let now_ms = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            Reply::Listing(query.list(shared.tasks_of(&query.region, &query.instance, now_ms)))
        }
        Err(message) => Reply::in_band("InvalidParameter", message),
    }
}
