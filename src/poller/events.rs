//! Task events as log records: one per state change the transition counter counts, at `info`
//! (a `failed` one at `warn`, so that `--log.level warn` still shows it), target
//! `dbs_exporter::events`, in the `--log.format` of the process.

use crate::api::DownloadState;
use crate::rpc::format_timestamp;
use crate::store::TaskEvent;

/// The log target of task events: a log pipeline can route or drop them by it.
pub const TARGET: &str = "dbs_exporter::events";

const MESSAGE: &str = "download task state changed";

/// Logs one event; `account` is written when series carry it (several accounts).
pub fn log(event: &TaskEvent, accounts: bool) {
    let key = &event.target;
    let account = accounts.then_some(&*key.instance.account);
    let created = event.created_ms.map(|ms| format_timestamp(crate::util::from_unix_ms(ms)));
    let progress = event.progress.map(|p| p.to_string());
    let detail = &event.detail;
    let format = detail.format.as_ref().map(|f| f.as_str());
    let target_type = detail.target_type.as_ref().map(|t| t.as_str());
    macro_rules! emit {
        ($level:ident) => {
            tracing::$level!(
                target: TARGET,
                region_id = %key.instance.region_id,
                instance_id = %key.instance.instance_id,
                task_type = key.task_type.as_str(),
                account,
                task_id = &*detail.task_id,
                from = event.from_name(),
                to = event.to.as_str(),
                created = created.as_deref(),
                duration_seconds = event.duration_seconds(),
                progress = progress.as_deref(),
                format,
                db_list = detail.db_list.as_deref(),
                backup_set_id = detail.backup_set_id.as_deref(),
                target_type,
                export_bytes = event.export_bytes,
                "{MESSAGE}"
            )
        };
    }
    if event.to == DownloadState::Failed {
        emit!(warn);
    } else {
        emit!(info);
    }
}
