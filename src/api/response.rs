//! Decoding DescribeDownloadTask answers, tolerantly.
//!
//! The API sends every task field as a string and the paging fields as integers, but Alibaba's
//! own examples and gateways are not consistent, so each scalar is read as "whatever came,
//! as text" ([`Loose`]) and parsed afterwards. No input can make decoding panic; the worst
//! outcome is a [`crate::rpc::RpcError::Decode`].

use serde::Deserialize;

use super::error::ApiError;
use super::task::{DownloadState, DownloadTask, ExportFormat, Progress, TargetType, TaskType};
use crate::rpc::{decode_answer, Answer, Loose, Payload, RpcResponse};

/// Where a DescribeDownloadTask answer keeps its page.
const DATA: &str = "Data";

/// One decoded page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub request_id: String,
    pub page_number: u64,
    pub page_size: u64,
    pub total_elements: u64,
    pub total_pages: u64,
    pub tasks: Vec<DownloadTask>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawData<'a> {
    #[serde(borrow)]
    page_number: Loose<'a>,
    #[serde(borrow)]
    page_size: Loose<'a>,
    #[serde(borrow)]
    total_elements: Loose<'a>,
    #[serde(borrow)]
    total_pages: Loose<'a>,
    #[serde(borrow)]
    content: Option<RawContent<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawContent<'a> {
    #[serde(borrow)]
    list: Option<Vec<RawTask<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawTask<'a> {
    #[serde(borrow)]
    task_id: Loose<'a>,
    #[serde(borrow)]
    region_code: Loose<'a>,
    #[serde(borrow)]
    format: Loose<'a>,
    #[serde(borrow)]
    db_list: Loose<'a>,
    #[serde(borrow)]
    bak_set_id: Loose<'a>,
    #[serde(borrow)]
    download_status: Loose<'a>,
    #[serde(borrow)]
    export_data_size: Loose<'a>,
    #[serde(borrow)]
    import_data_size: Loose<'a>,
    #[serde(borrow)]
    backup_set_time: Loose<'a>,
    #[serde(borrow)]
    gmt_create: Loose<'a>,
    #[serde(borrow)]
    target_type: Loose<'a>,
    #[serde(borrow)]
    target_path: Loose<'a>,
    #[serde(borrow)]
    progress: Loose<'a>,
}

impl RawTask<'_> {
    fn into_task(self, task_type: Option<TaskType>) -> DownloadTask {
        DownloadTask {
            task_id: self.task_id.owned().unwrap_or_default(),
            task_type,
            // A task with no status at all is still a task: count it, under a name that says so.
            state: self
                .download_status
                .text()
                .map_or(DownloadState::Other("unknown".into()), DownloadState::parse),
            region_code: self.region_code.owned(),
            format: self.format.text().map(ExportFormat::parse),
            target_type: self.target_type.text().map(TargetType::parse),
            target_path: self.target_path.owned(),
            db_list: self.db_list.owned(),
            backup_set_id: self.bak_set_id.owned(),
            export_bytes: self.export_data_size.number().unwrap_or(0),
            import_bytes: self.import_data_size.number().unwrap_or(0),
            progress: self.progress.text().and_then(Progress::parse),
            created_at_ms: self.gmt_create.number(),
            backup_set_time_ms: self.backup_set_time.number(),
        }
    }
}

/// Turns one HTTP answer into a page or the error it carries.
/// `task_type` is the `TaskType` filter of the request, the only source of a task's type.
pub fn decode_page(
    status: u16,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
    task_type: Option<TaskType>,
) -> Result<Page, ApiError> {
    Ok(page_from(decode_answer(status, body, retry_after, Payload::named(DATA))?, task_type))
}

/// The page a call's answer holds, or the error it carries.
pub(super) fn page_of(response: &RpcResponse, task_type: Option<TaskType>) -> Result<Page, ApiError> {
    Ok(page_from(response.decode(DATA)?, task_type))
}

fn page_from(answer: Answer<RawData<'_>>, task_type: Option<TaskType>) -> Page {
    let data = answer.payload;
    let tasks = data
        .content
        .and_then(|content| content.list)
        .unwrap_or_default()
        .into_iter()
        .map(|raw| raw.into_task(task_type))
        .collect();
    Page {
        request_id: answer.request_id,
        page_number: data.page_number.number().unwrap_or(0),
        page_size: data.page_size.number().unwrap_or(0),
        total_elements: data.total_elements.number().unwrap_or(0),
        total_pages: data.total_pages.number().unwrap_or(0),
        tasks,
    }
}

#[cfg(test)]
mod tests;
