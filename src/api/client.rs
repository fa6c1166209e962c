//! The signed HTTP call to DescribeDownloadTask and the walk over all of its pages.

use std::collections::HashSet;
use std::sync::Arc;
use tokio::time::Instant;

use super::error::ApiError;
use super::response::{page_of, ListedTask, Page};
use super::task::{DownloadState, DownloadTask, TaskSummary, TaskType};
use crate::credentials::CredentialsProvider;
use crate::rpc::{Attempts, CallObserver, ClientOptions, RetryPolicy, RpcClient, RpcRequest};

pub const ACTION: &str = "DescribeDownloadTask";
pub const API_VERSION: &str = "2021-01-01";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OrderDirection {
    Asc,
    #[default]
    Desc,
}

impl OrderDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderDirection::Asc => "asc",
            OrderDirection::Desc => "desc",
        }
    }
}

/// The filters of a DescribeDownloadTask request; paging is added by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadTaskQuery {
    /// Shared with the instance's key: a poller holds one query per target.
    pub region_code: Arc<str>,
    pub instance_name: Arc<str>,
    pub cluster_name: Option<String>,
    pub datasource_id: Option<String>,
    pub backup_set_id: Option<String>,
    pub state: Option<DownloadState>,
    pub task_type: Option<TaskType>,
    /// Creation-time window, Unix milliseconds.
    pub start_time_ms: Option<u64>,
    pub end_time_ms: Option<u64>,
    pub order_column: Option<String>,
    pub order_direction: Option<OrderDirection>,
}

impl DownloadTaskQuery {
    pub fn new(region_code: impl Into<Arc<str>>, instance_name: impl Into<Arc<str>>) -> Self {
        DownloadTaskQuery {
            region_code: region_code.into(),
            instance_name: instance_name.into(),
            ..Default::default()
        }
    }

    /// The DescribeDownloadTask call for this query and page.
    fn request(&self, page_size: u32, current_page: u32) -> RpcRequest {
        let request = RpcRequest::new(ACTION, API_VERSION);
        self.api_params(page_size, current_page)
            .into_iter()
            .fold(request, |r, (key, value)| r.param(key, value))
    }

    /// The API parameters of this query and page, every value a string as the API wants.
    fn api_params(&self, page_size: u32, current_page: u32) -> Vec<(&'static str, String)> {
        let optional = [
            ("ClusterName", self.cluster_name.clone()),
            ("DatasourceId", self.datasource_id.clone()),
            ("BackupSetId", self.backup_set_id.clone()),
            ("State", self.state.as_ref().map(|s| s.as_str().to_string())),
            ("TaskType", self.task_type.map(|t| t.as_str().to_string())),
            ("StartTime", self.start_time_ms.map(|t| t.to_string())),
            ("EndTime", self.end_time_ms.map(|t| t.to_string())),
            ("OrderColumn", self.order_column.clone()),
            ("OrderDirect", self.order_direction.map(|d| d.as_str().to_string())),
        ];
        let mut params = vec![
            ("RegionCode", self.region_code.to_string()),
            ("InstanceName", self.instance_name.to_string()),
            ("PageSize", page_size.to_string()),
            ("CurrentPage", current_page.to_string()),
        ];
        params.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        params
    }
}

/// How a listing walks the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListOptions {
    pub page_size: u32,
    /// A listing that would need more pages than this fails with [`ApiError::PageCap`]
    /// rather than reporting a partial count as if it were the whole.
    pub max_pages: u32,
    /// Applied to each page call on its own.
    pub retry: RetryPolicy,
    /// No retry wait may end past this moment (the poll's budget).
    pub deadline: Option<Instant>,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions { page_size: 100, max_pages: 100, retry: RetryPolicy::NONE, deadline: None }
    }
}

/// Every task of a query, each exactly once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing<T = DownloadTask> {
    pub tasks: Vec<T>,
    pub pages: u32,
    /// Tasks seen again on a later page (pages shift when tasks are created mid-listing).
    pub duplicates: u64,
}

/// A DBS client: one connection pool, one credentials provider.
#[derive(Clone, Debug)]
pub struct DbsClient {
    rpc: RpcClient,
    credentials: Arc<dyn CredentialsProvider>,
}

impl DbsClient {
    pub fn new(options: ClientOptions, credentials: Arc<dyn CredentialsProvider>) -> Result<Self, ApiError> {
        Ok(DbsClient { rpc: RpcClient::new(options)?, credentials })
    }

    /// One signed DescribeDownloadTask call for one page.
    pub async fn describe_download_task(
        &self,
        endpoint: &str,
        query: &DownloadTaskQuery,
        page_size: u32,
        current_page: u32,
    ) -> Result<Page, ApiError> {
        let credentials = self.credentials.credentials().await?;
        let request = query.request(page_size, current_page);
        let response = self.rpc.call(endpoint, &request, Some(&credentials)).await?;
        page_of(&response, query.task_type)
    }

    /// Walks `CurrentPage` 1..=`TotalPages`, stopping early on an empty page, and returns
    /// every task once (by `TaskId`). Fails at the first failing page: a partial count
    /// must never pass for the whole.
    pub async fn list_download_tasks(
        &self,
        endpoint: &str,
        query: &DownloadTaskQuery,
        options: ListOptions,
        observer: &dyn CallObserver<Page, ApiError>,
    ) -> Result<Listing, ApiError> {
        self.list(endpoint, query, options, observer).await
    }

    /// The same walk, keeping of each task only what the exporter counts ([`TaskSummary`]):
    /// what the poller lists, with no string built per task.
    pub async fn list_task_summaries(
        &self,
        endpoint: &str,
        query: &DownloadTaskQuery,
        options: ListOptions,
        observer: &dyn CallObserver<Page<TaskSummary>, ApiError>,
    ) -> Result<Listing<TaskSummary>, ApiError> {
        self.list(endpoint, query, options, observer).await
    }

    async fn list<T: ListedTask>(
        &self,
        endpoint: &str,
        query: &DownloadTaskQuery,
        options: ListOptions,
        observer: &dyn CallObserver<Page<T>, ApiError>,
    ) -> Result<Listing<T>, ApiError> {
        let mut listing = Listing { tasks: Vec::new(), pages: 0, duplicates: 0 };
        let mut seen = HashSet::new();
        if options.max_pages == 0 {
            return Err(ApiError::PageCap { cap: 0, total_pages: 0 });
        }
        let attempts = Attempts { retry: options.retry, deadline: options.deadline, observer };
        for current_page in 1..=options.max_pages {
            let request = query.request(options.page_size, current_page);
            let page = self
                .rpc
                .call_with_retries(endpoint, &request, &*self.credentials, &attempts, |response| {
                    page_of(response, query.task_type)
                })
                .await?;
            listing.pages = current_page;
            if page.tasks.is_empty() {
                return Ok(listing);
            }
            let complete = listing_is_complete(&page, current_page, options.page_size);
            for task in page.tasks {
                if task.id().is_none_or(|id| seen.insert(id)) {
                    listing.tasks.push(task);
                } else {
                    listing.duplicates += 1;
                }
            }
            if complete {
                return Ok(listing);
            }
            if current_page == options.max_pages {
                return Err(ApiError::PageCap { cap: options.max_pages, total_pages: page.total_pages });
            }
        }
        Ok(listing)
    }
}

/// Whether `page` was the last one. `TotalPages` says so when present; an answer without it
/// (0) ends only on a short page, so a gateway that drops the field cannot cut a listing short.
fn listing_is_complete<T>(page: &Page<T>, current_page: u32, page_size: u32) -> bool {
    if page.total_pages > 0 {
        u64::from(current_page) >= page.total_pages
    } else {
        page.tasks.len() < page_size as usize
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn every_filter_becomes_a_string_parameter() {
        let query = DownloadTaskQuery {
            cluster_name: Some("dds-example".into()),
            datasource_id: Some("ds-x".into()),
            backup_set_id: Some("216".into()),
            state: Some(DownloadState::Queueing),
            task_type: Some(TaskType::Pitr),
            start_time_ms: Some(1661941554000),
            end_time_ms: Some(1661941556000),
            order_column: Some("gmt_create".into()),
            order_direction: Some(OrderDirection::Asc),
            ..DownloadTaskQuery::new("cn-hangzhou", "rm-1")
        };
        let params: BTreeMap<_, _> = query.api_params(50, 2).into_iter().collect();
        let expected = [
            ("RegionCode", "cn-hangzhou"),
            ("InstanceName", "rm-1"),
            ("ClusterName", "dds-example"),
            ("DatasourceId", "ds-x"),
            ("BackupSetId", "216"),
            ("State", "queueing"),
            ("TaskType", "pitr"),
            ("StartTime", "1661941554000"),
            ("EndTime", "1661941556000"),
            ("PageSize", "50"),
            ("CurrentPage", "2"),
            ("OrderColumn", "gmt_create"),
            ("OrderDirect", "asc"),
        ];
        assert_eq!(params.len(), expected.len());
        for (key, value) in expected {
            assert_eq!(params[key], value, "{key}");
        }
    }
}
