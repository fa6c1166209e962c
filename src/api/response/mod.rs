//! Decoding DescribeDownloadTask answers, tolerantly.
//!
//! The API sends every task field as a string and the paging fields as integers, but Alibaba's
//! own examples and gateways are not consistent, so each scalar is read as "whatever came,
//! as text" ([`Loose`]) and parsed afterwards. No input can make decoding panic; the worst
//! outcome is a [`crate::rpc::RpcError::Decode`].

use serde::Deserialize;

use super::error::ApiError;
use super::task::{
    DownloadState, DownloadTask, ExportFormat, Progress, TargetType, TaskDetail, TaskId, TaskSummary,
    TaskType,
};
use crate::rpc::{decode_answer, Answer, Loose, Payload, RpcResponse};

/// Where a DescribeDownloadTask answer keeps its page.
const DATA: &str = "Data";

/// One decoded page of a listing: its tasks fully typed ([`DownloadTask`]) or only what the
/// exporter counts of them ([`TaskSummary`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T = DownloadTask> {
    pub request_id: String,
    pub page_number: u64,
    pub page_size: u64,
    pub total_elements: u64,
    pub total_pages: u64,
    pub tasks: Vec<T>,
}

/// A task as a page can be decoded into.
pub trait ListedTask: Sized {
    /// One entry of a page as it came, its text borrowed from the body: only the fields the
    /// task needs are read, the others skipped.
    #[doc(hidden)]
    type Raw<'a>: Deserialize<'a> + Default;

    /// The task of one raw entry; `task_type` is the listing's filter.
    #[doc(hidden)]
    fn decode(raw: Self::Raw<'_>, task_type: Option<TaskType>) -> Self;

    /// Its id, to recognise it on a later page; `None` when it has none.
    fn id(&self) -> Option<TaskId>;
}

impl ListedTask for DownloadTask {
    type Raw<'a> = RawTask<'a>;

    fn decode(raw: RawTask<'_>, task_type: Option<TaskType>) -> Self {
        raw.into_task(task_type)
    }

    fn id(&self) -> Option<TaskId> {
        TaskId::of(&self.task_id)
    }
}

impl ListedTask for TaskSummary {
    type Raw<'a> = RawSummary<'a>;

    /// The counted part only: the id hashed from the body's text, no string kept.
    fn decode(raw: RawSummary<'_>, _: Option<TaskType>) -> Self {
        TaskSummary {
            id: raw.task_id.text().and_then(TaskId::of),
            state: state_of(&raw.download_status),
            export_bytes: raw.export_data_size.number().unwrap_or(0),
            import_bytes: raw.import_data_size.number().unwrap_or(0),
            progress: raw.progress.text().and_then(Progress::parse),
            created_at_ms: raw.gmt_create.number(),
            detail: TaskDetail {
                task_id: raw.task_id.text().unwrap_or_default().into(),
                format: raw.format.text().map(ExportFormat::parse),
                target_type: raw.target_type.text().map(TargetType::parse),
                db_list: raw.db_list.text().map(Box::from),
                backup_set_id: raw.bak_set_id.text().map(Box::from),
            },
        }
    }

    fn id(&self) -> Option<TaskId> {
        self.id
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase", bound(deserialize = "R: Deserialize<'de> + Default"))]
struct RawData<'a, R> {
    #[serde(borrow)]
    page_number: Loose<'a>,
    #[serde(borrow)]
    page_size: Loose<'a>,
    #[serde(borrow)]
    total_elements: Loose<'a>,
    #[serde(borrow)]
    total_pages: Loose<'a>,
    content: Option<RawContent<R>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase", bound(deserialize = "R: Deserialize<'de> + Default"))]
struct RawContent<R> {
    list: Option<Vec<R>>,
}

/// One entry of a page as it came: every field text borrowed from the body.
#[doc(hidden)]
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub struct RawTask<'a> {
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
            state: state_of(&self.download_status),
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

/// What a [`TaskSummary`] reads of an entry; the other fields are skipped unread.
#[doc(hidden)]
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub struct RawSummary<'a> {
    #[serde(borrow)]
    task_id: Loose<'a>,
    #[serde(borrow)]
    format: Loose<'a>,
    #[serde(borrow)]
    target_type: Loose<'a>,
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
    gmt_create: Loose<'a>,
    #[serde(borrow)]
    progress: Loose<'a>,
}

fn state_of(download_status: &Loose<'_>) -> DownloadState {
    // A task with no status at all is still a task: count it, under a name that says so.
    download_status.text().map_or(DownloadState::Other("unknown".into()), DownloadState::parse)
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

/// The same, keeping of each task only what the exporter counts (what the poller decodes).
pub fn decode_summary_page(
    status: u16,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
) -> Result<Page<TaskSummary>, ApiError> {
    Ok(page_from(decode_answer(status, body, retry_after, Payload::named(DATA))?, None))
}

/// The page a call's answer holds, or the error it carries.
pub(super) fn page_of<T: ListedTask>(
    response: &RpcResponse,
    task_type: Option<TaskType>,
) -> Result<Page<T>, ApiError> {
    Ok(page_from(response.decode(DATA)?, task_type))
}

fn page_from<T: ListedTask>(answer: Answer<RawData<'_, T::Raw<'_>>>, task_type: Option<TaskType>) -> Page<T> {
    let data = answer.payload;
    let tasks = data
        .content
        .and_then(|content| content.list)
        .unwrap_or_default()
        .into_iter()
        .map(|raw| T::decode(raw, task_type))
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
