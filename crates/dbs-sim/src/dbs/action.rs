//! `DescribeDownloadTask` behind the gateway: the region, RAM, then the listing, answered with the
//! real body shapes (every task field a string, paging integers).

use serde_json::{json, Map, Value};

use super::store::{Page, Query};
use super::Dbs;
use crate::gateway::{Accounts, Action, Call, GatewayError, Product, Reply, Routes};
use crate::util::unix_ms;
use crate::SimTask;

pub(crate) const ACTION: &str = "DescribeDownloadTask";
pub(crate) const VERSION: &str = "2021-01-01";

impl Product for Dbs {
    fn name(&self) -> &'static str {
        "Dbs"
    }

    fn routes(&self) -> Routes {
        Routes::Rpc { version: VERSION, actions: &[Action { name: ACTION, signed: true }] }
    }

    #[cfg(feature = "testing")]
    fn received(&self, call: &Call) {
        self.count(&call.params);
    }

    fn answer(&self, call: &Call, _: &Accounts) -> Reply {
        describe_download_task(self, call)
    }
}

/// Answers a request that passed the gateway's checks.
fn describe_download_task(dbs: &Dbs, call: &Call) -> Reply {
    if call.param("RegionCode").is_empty() {
        return Reply::Gateway(GatewayError::new(
            400,
            "MissingRegionCode",
            "RegionCode is mandatory for this action.",
        ));
    }
    #[cfg(feature = "testing")]
    if dbs
        .config
        .forbidden
        .contains(&(call.param("RegionCode").to_string(), call.param("InstanceName").to_string()))
    {
        return Reply::Gateway(GatewayError::ram_denied());
    }
    if call.param("InstanceName").trim().is_empty() {
        return Reply::in_band("InvalidParameter", "instanceName can not be empty");
    }
    match Query::from_params(&call.params, dbs.config.max_page_size) {
        Ok(query) => {
            let tasks = dbs.tasks_of(&query.region, &query.instance, unix_ms(call.now));
            Reply::Answer(listing_json(&query.list(tasks)))
        }
        Err(message) => Reply::in_band("InvalidParameter", message),
    }
}

fn task_json(task: &SimTask) -> Value {
    json!({
        "TaskId": task.task_id,
        "RegionCode": task.region,
        "Format": task.format,
        "DbList": task.db_list,
        "BakSetId": task.backup_set_id,
        "DownloadStatus": task.state,
        "ExportDataSize": task.export_bytes.to_string(),
        "ImportDataSize": task.import_bytes.to_string(),
        "BackupSetTime": task.backup_set_time_ms.to_string(),
        "GmtCreate": task.created_ms.to_string(),
        "TargetType": task.target_type,
        "TargetPath": task.target_path,
        "Progress": task.progress,
    })
}

/// A listing's answer; the gateway adds its `RequestId`.
fn listing_json(page: &Page) -> Map<String, Value> {
    let answer = json!({
        "Success": "true",
        "Code": "",
        "Message": "",
        "ErrCode": "",
        "ErrMessage": "",
        "Data": {
            "PageNumber": page.number,
            "PageSize": page.size,
            "TotalElements": page.total_elements,
            "TotalPages": page.total_pages,
            "Extra": "",
            "Content": { "List": page.items.iter().map(task_json).collect::<Vec<_>>() },
        },
    });
    match answer {
        Value::Object(fields) => fields,
        _ => unreachable!("json!({{...}}) is an object"),
    }
}
