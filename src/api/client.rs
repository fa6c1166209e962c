//! The signed HTTP call to DescribeDownloadTask and the walk over all of its pages.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;
use time::format_description::well_known::Iso8601;
use time::OffsetDateTime;

use super::error::{ApiError, TransportKind};
use super::response::{decode_page, Page};
use super::retry::RetryPolicy;
use super::sign;
use super::task::{DownloadState, DownloadTask, TaskType};
use crate::credentials::{Credentials, CredentialsProvider};

pub const ACTION: &str = "DescribeDownloadTask";
pub const API_VERSION: &str = "2021-01-01";
const RETRY_AFTER_HEADER: &str = "x-acs-retry-after";

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
    pub region_code: String,
    pub instance_name: String,
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
    pub fn new(region_code: impl Into<String>, instance_name: impl Into<String>) -> Self {
        DownloadTaskQuery {
            region_code: region_code.into(),
            instance_name: instance_name.into(),
            ..Default::default()
        }
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
            ("RegionCode", self.region_code.clone()),
            ("InstanceName", self.instance_name.clone()),
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub tasks: Vec<DownloadTask>,
    pub pages: u32,
    /// Tasks seen again on a later page (pages shift when tasks are created mid-listing).
    pub duplicates: u64,
}

/// Whatever `before_call` reserved for one call (a request slot, say); dropped when the call
/// ends, before any retry back-off.
pub type CallSlot = Option<Box<dyn Send>>;

/// Told about every HTTP call, so the caller can pace, count and time them without the
/// client knowing anything of rate limits or metrics.
pub trait CallObserver: Send + Sync {
    /// Awaited before each call, retries included: where a rate limiter waits for a token.
    /// The slot it returns is held for that call only.
    fn before_call(&self) -> Pin<Box<dyn Future<Output = CallSlot> + Send + '_>> {
        Box::pin(std::future::ready(None))
    }

    fn on_call(&self, elapsed: Duration, outcome: Result<&Page, &ApiError>);
}

impl CallObserver for () {
    fn on_call(&self, _: Duration, _: Result<&Page, &ApiError>) {}
}

#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Whole-request timeout, connect to last body byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Bodies above this size are refused rather than buffered without limit.
    pub max_body_bytes: usize,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 16 * 1024 * 1024,
            user_agent: format!("dbs-exporter/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A DBS client: one connection pool, one credentials provider.
#[derive(Clone, Debug)]
pub struct DbsClient {
    http: reqwest::Client,
    credentials: Arc<dyn CredentialsProvider>,
    options: ClientOptions,
}

impl DbsClient {
    pub fn new(options: ClientOptions, credentials: Arc<dyn CredentialsProvider>) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|err| ApiError::Transport {
                kind: TransportKind::Other,
                endpoint: String::new(),
                detail: err.without_url().to_string(),
            })?;
        Ok(DbsClient { http, credentials, options })
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
        let params =
            signed_params(&credentials, query.api_params(page_size, current_page), OffsetDateTime::now_utc());
        self.post(endpoint, &params, query.task_type).await
    }

    /// Walks `CurrentPage` 1..=`TotalPages`, stopping early on an empty page, and returns
    /// every task once (by `TaskId`). Fails at the first failing page: a partial count
    /// must never pass for the whole.
    pub async fn list_download_tasks(
        &self,
        endpoint: &str,
        query: &DownloadTaskQuery,
        options: ListOptions,
        observer: &dyn CallObserver,
    ) -> Result<Listing, ApiError> {
        let mut listing = Listing::default();
        let mut seen = HashSet::new();
        if options.max_pages == 0 {
            return Err(ApiError::PageCap { cap: 0, total_pages: 0 });
        }
        for current_page in 1..=options.max_pages {
            let page = self.fetch_page(endpoint, query, &options, current_page, observer).await?;
            listing.pages = current_page;
            if page.tasks.is_empty() {
                return Ok(listing);
            }
            let complete = listing_is_complete(&page, current_page, options.page_size);
            for task in page.tasks {
                if task.task_id.is_empty() || seen.insert(task.task_id.clone()) {
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

    /// One page, retried as the policy allows; the observer sees every attempt.
    async fn fetch_page(
        &self,
        endpoint: &str,
        query: &DownloadTaskQuery,
        options: &ListOptions,
        current_page: u32,
        observer: &dyn CallObserver,
    ) -> Result<Page, ApiError> {
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            let slot = observer.before_call().await;
            let started = Instant::now();
            let result = self.describe_download_task(endpoint, query, options.page_size, current_page).await;
            drop(slot);
            observer.on_call(started.elapsed(), result.as_ref());
            let err = match result {
                Ok(page) => return Ok(page),
                Err(err) => err,
            };
            // The service refused the STS token (rotated or revoked before its stated expiry):
            // fetch new credentials and try once more, whatever the retry policy says.
            if !refreshed && err.code().is_some_and(|code| code.starts_with("InvalidSecurityToken")) {
                refreshed = true;
                tracing::debug!(endpoint, error = %err, "security token refused; fetching new credentials");
                self.credentials.invalidate();
                continue;
            }
            let Some(delay) = options.retry.next_delay(attempt, &err, options.deadline) else {
                return Err(err);
            };
            tracing::debug!(endpoint, page = current_page, attempt, delay_ms = delay.as_millis() as u64, error = %err, "retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn post(
        &self,
        endpoint: &str,
        params: &BTreeMap<String, String>,
        task_type: Option<TaskType>,
    ) -> Result<Page, ApiError> {
        let transport = |kind, err: reqwest::Error| ApiError::Transport {
            kind,
            endpoint: endpoint.to_string(),
            detail: crate::error_chain(&err.without_url()),
        };
        // The official SDK POSTs with every parameter in the query string and an empty body.
        // `canonical_query` leaves `Signature` out (it is not signed); it travels last.
        let signature = params.get("Signature").map(String::as_str).unwrap_or_default();
        let url = format!(
            "{}/?{}&Signature={}",
            endpoint.trim_end_matches('/'),
            sign::canonical_query(params),
            sign::percent_encode(signature)
        );
        let mut response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await
            .map_err(|err| transport(classify_transport(&err), err))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis);
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(8192).min(1 << 20) as usize);
        while let Some(chunk) = response.chunk().await.map_err(|err| transport(classify_body(&err), err))? {
            if body.len() + chunk.len() > self.options.max_body_bytes {
                return Err(ApiError::BodyTooLarge { status, cap: self.options.max_body_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        decode_page(status, &body, retry_after, task_type).map_err(|err| match params.get("SecurityToken") {
            Some(token) => err.redact(token),
            None => err,
        })
    }
}

/// Whether `page` was the last one. `TotalPages` says so when present; an answer without it
/// (0) ends only on a short page, so a gateway that drops the field cannot cut a listing short.
fn listing_is_complete(page: &Page, current_page: u32, page_size: u32) -> bool {
    if page.total_pages > 0 {
        u64::from(current_page) >= page.total_pages
    } else {
        page.tasks.len() < page_size as usize
    }
}

/// The common parameters, the API parameters and the signature over both.
fn signed_params(
    credentials: &Credentials,
    api_params: Vec<(&'static str, String)>,
    now: OffsetDateTime,
) -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> =
        api_params.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let common = [
        ("Action", ACTION.to_string()),
        ("Version", API_VERSION.to_string()),
        ("Format", "json".to_string()),
        ("Timestamp", format_timestamp(now)),
        ("SignatureNonce", new_nonce()),
        ("SignatureMethod", sign::SIGNATURE_METHOD.to_string()),
        ("SignatureVersion", sign::SIGNATURE_VERSION.to_string()),
        ("AccessKeyId", credentials.access_key_id.clone()),
    ];
    params.extend(common.into_iter().map(|(k, v)| (k.to_string(), v)));
    if let Some(token) = &credentials.security_token {
        params.insert("SecurityToken".into(), token.expose().to_string());
    }
    let signature = sign::sign_params("POST", &params, credentials.access_key_secret.expose());
    params.insert("Signature".into(), signature);
    params
}

/// `2025-01-02T03:04:05Z`: UTC, second precision, as the signature expects.
pub fn format_timestamp(now: OffsetDateTime) -> String {
    let utc = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// Parses the `Timestamp` format back (used by the simulator to check clock skew).
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Iso8601::DEFAULT).ok()
}

/// 128 random bits as hex: unique per request, so the service never sees a replay.
fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn classify_transport(err: &reqwest::Error) -> TransportKind {
    if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else if is_connection_cut(err) {
        TransportKind::Reset
    } else if err.is_body() || err.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Other
    }
}

fn classify_body(err: &reqwest::Error) -> TransportKind {
    if err.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Body
    }
}

/// A connection closed or reset before the answer: hyper's "incomplete message" or an I/O
/// reset somewhere down the error chain.
fn is_connection_cut(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(hyper_err) = current.downcast_ref::<hyper::Error>() {
            if hyper_err.is_incomplete_message() || hyper_err.is_closed() {
                return true;
            }
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe) {
                return true;
            }
        }
        source = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_utc_seconds_with_a_z() {
        assert_eq!(format_timestamp(datetime!(2025-01-02 03:04:05.999 UTC)), "2025-01-02T03:04:05Z");
        assert_eq!(format_timestamp(datetime!(2025-01-02 11:04:05 +08:00)), "2025-01-02T03:04:05Z");
        assert_eq!(parse_timestamp("2025-01-02T03:04:05Z"), Some(datetime!(2025-01-02 03:04:05 UTC)));
    }

    #[test]
    fn nonces_are_unique() {
        let nonces: HashSet<String> = (0..1000).map(|_| new_nonce()).collect();
        assert_eq!(nonces.len(), 1000);
    }

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

    #[test]
    fn sts_credentials_sign_their_token_and_the_signature_verifies() {
        let creds = Credentials::new("STS.id", "secret").with_security_token("tok");
        let params = signed_params(
            &creds,
            DownloadTaskQuery::new("cn-hangzhou", "rm-1").api_params(10, 1),
            OffsetDateTime::now_utc(),
        );
        assert_eq!(params["SecurityToken"], "tok");
        assert_eq!(params["Format"], "json");
        let mut unsigned = params.clone();
        let signature = unsigned.remove("Signature").unwrap();
        assert_eq!(sign::sign_params("POST", &unsigned, "secret"), signature);
    }
}
