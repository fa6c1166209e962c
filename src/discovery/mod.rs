//! Finding the instances to poll: each engine's own list API (RDS `DescribeDBInstances`,
//! PolarDB `DescribeDBClusters`, MongoDB `DescribeDBInstances`), so untagged instances are
//! found too; tags only filter and label. Only instances advanced download applies to come
//! back, and none that is being created or deleted.
//!
//! This is a client, like [`crate::api`]: one list of one engine in one region per call of
//! [`DiscoveryClient::discover`]. Keeping the last good list, refreshing and pacing are the
//! caller's (`inventory`).

mod endpoint;
mod engine;
mod error;
mod mongodb;
mod polardb;
mod rds;

use std::sync::Arc;

use serde::Deserialize;

pub use endpoint::default_endpoint;
pub use engine::{Engine, Product};
pub use error::DiscoveryError;

use crate::credentials::CredentialsProvider;
use crate::rpc::{
    Attempts, CallObserver, CallSlot, ClientOptions, Loose, RetryPolicy, RpcClient, RpcRequest, RpcResponse,
};

/// An instance a list call found, applicable to advanced download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredInstance {
    pub instance_id: String,
    pub engine: Engine,
    /// DBS' `ClusterName`: set to the cluster's own `dds-` id for a sharded MongoDB cluster.
    pub cluster_name: Option<String>,
    /// The instance's tags, as far as they were read (RDS' list carries none: they are read
    /// only when tags filter or label).
    pub tags: Vec<(String, String)>,
}

impl DiscoveredInstance {
    fn new(instance_id: &str, engine: Engine) -> Self {
        DiscoveredInstance {
            instance_id: instance_id.to_string(),
            engine,
            cluster_name: None,
            tags: Vec::new(),
        }
    }

    /// Whether the instance carries every one of `wanted`.
    fn carries_all(&self, wanted: &[(String, String)]) -> bool {
        wanted.iter().all(|want| self.tags.contains(want))
    }
}

/// What one list call asks for.
#[derive(Clone, Debug)]
pub struct DiscoveryRequest<'a> {
    pub region_id: &'a str,
    pub endpoint: &'a str,
    /// Every one of these must be on an instance.
    pub tags: &'a [(String, String)],
    /// Read each instance's tags even where the list answer has none (RDS), for labels.
    pub read_tags: bool,
    pub retry: RetryPolicy,
}

/// Told about each call (retries included): paced and counted by the caller.
pub type DiscoveryObserver<'a> = &'a dyn CallObserver<(), DiscoveryError>;

/// A list client: one connection pool, one credentials provider, every product.
#[derive(Clone, Debug)]
pub struct DiscoveryClient {
    rpc: RpcClient,
    credentials: Arc<dyn CredentialsProvider>,
}

/// No account has this many pages of instances in one region (100 per page).
const MAX_PAGES: u32 = 1_000;

impl DiscoveryClient {
    pub fn new(
        options: ClientOptions,
        credentials: Arc<dyn CredentialsProvider>,
    ) -> Result<Self, DiscoveryError> {
        Ok(DiscoveryClient { rpc: RpcClient::new(options)?, credentials })
    }

    /// Every applicable instance of `engine` in the request's region that carries its tags, in
    /// the order the service lists them, each once.
    pub async fn discover(
        &self,
        engine: Engine,
        request: &DiscoveryRequest<'_>,
        observer: DiscoveryObserver<'_>,
    ) -> Result<Vec<DiscoveredInstance>, DiscoveryError> {
        let calls = Calls { client: self, request, observer };
        let mut found = match engine {
            Engine::RdsMysql | Engine::RdsPostgresql => rds::discover(&calls, engine).await?,
            Engine::PolardbMysql => polardb::discover(&calls).await?,
            Engine::Mongodb => mongodb::discover(&calls).await?,
        };
        found.retain(|instance| instance.carries_all(request.tags));
        let mut seen = std::collections::HashSet::new();
        found.retain(|instance| seen.insert(instance.instance_id.clone()));
        Ok(found)
    }
}

/// One list's calls: each signed, retried by the policy and told to the observer.
struct Calls<'a> {
    client: &'a DiscoveryClient,
    request: &'a DiscoveryRequest<'a>,
    observer: DiscoveryObserver<'a>,
}

impl Calls<'_> {
    /// One call (retried by the policy); an error names `ram_action`, the call's RAM action.
    async fn call<T>(
        &self,
        request: &RpcRequest,
        ram_action: &'static str,
        decode: impl Fn(&RpcResponse) -> Result<T, DiscoveryError>,
    ) -> Result<T, DiscoveryError> {
        let observer = Erased(self.observer);
        let attempts = Attempts {
            retry: self.request.retry,
            deadline: None::<tokio::time::Instant>,
            observer: &observer,
        };
        let keys = &*self.client.credentials;
        let answer =
            self.client.rpc.call_with_retries(self.request.endpoint, request, keys, &attempts, decode);
        answer.await.map_err(|err| err.in_call(ram_action))
    }

    /// `Tag.N.Key` / `Tag.N.Value` for every wanted tag (PolarDB, MongoDB).
    fn with_tag_filters(&self, mut request: RpcRequest) -> RpcRequest {
        for (n, (key, value)) in self.request.tags.iter().enumerate() {
            request = request.param(format!("Tag.{}.Key", n + 1), key.as_str());
            request = request.param(format!("Tag.{}.Value", n + 1), value.as_str());
        }
        request
    }
}

/// The observer of a list, told about calls that decode to anything.
struct Erased<'a>(DiscoveryObserver<'a>);

impl<T> CallObserver<T, DiscoveryError> for Erased<'_> {
    fn before_call(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = CallSlot> + Send + '_>> {
        self.0.before_call()
    }

    fn on_call(&self, elapsed: std::time::Duration, outcome: Result<&T, &DiscoveryError>) {
        self.0.on_call(elapsed, outcome.map(|_| &()));
    }
}

/// Instance states in which an instance is skipped: it has no backups to download yet, or
/// will have none.
fn is_coming_or_going(status: Option<&str>) -> bool {
    status.is_some_and(|status| {
        ["creating", "deleting", "deleted", "released", "releasing"]
            .iter()
            .any(|s| status.eq_ignore_ascii_case(s))
    })
}

/// `Tags.Tag[]` of PolarDB and MongoDB answers.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTags<'a> {
    #[serde(rename = "Tag", borrow)]
    tag: Option<Vec<RawTag<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawTag<'a> {
    #[serde(borrow)]
    key: Loose<'a>,
    #[serde(borrow)]
    value: Loose<'a>,
}

impl RawTags<'_> {
    fn pairs(&self) -> Vec<(String, String)> {
        let tags = self.tag.iter().flatten();
        tags.filter_map(|tag| Some((tag.key.owned()?, tag.value.owned().unwrap_or_default()))).collect()
    }
}

/// One page of a list paged by number: its items, and the total the service reports.
struct NumberedPage<T> {
    items: Vec<T>,
    total: Option<u64>,
}

/// The total of a list, reported beside its page: `TotalRecordCount` (PolarDB) or
/// `TotalCount` (MongoDB).
fn reported_total(response: &RpcResponse) -> Option<u64> {
    #[derive(Default, Deserialize)]
    #[serde(default)]
    struct RawTotal<'a> {
        #[serde(rename = "TotalRecordCount", alias = "TotalCount", borrow)]
        total: Loose<'a>,
    }
    serde_json::from_slice::<RawTotal>(response.body()).ok()?.total.number()
}

/// The largest `PageSize` every product accepts (PolarDB and MongoDB take 30, 50 or 100 only).
const PAGE_SIZE: u32 = 100;

/// Whether a page of `count` items, asked `size` at a time, was the last: the reported total
/// decides when there is one (a service may page by a size of its own), a short page otherwise;
/// an empty page always ends the walk.
fn is_last_page(count: usize, size: usize, seen: usize, total: Option<u64>) -> bool {
    match total {
        Some(total) => count == 0 || seen as u64 >= total,
        None => count < size,
    }
}

/// Every item of a list paged by `PageNumber` with [`PAGE_SIZE`] and filtered by the wanted
/// tags, in order, until [`is_last_page`].
async fn walk_by_number<T>(
    calls: &Calls<'_>,
    base: RpcRequest,
    ram_action: &'static str,
    decode: fn(&RpcResponse) -> Result<NumberedPage<T>, DiscoveryError>,
) -> Result<Vec<T>, DiscoveryError> {
    let base = calls.with_tag_filters(base.param("PageSize", PAGE_SIZE.to_string()));
    let mut items = Vec::new();
    for page_number in 1..=MAX_PAGES {
        let request = base.clone().param("PageNumber", page_number.to_string());
        let page = calls.call(&request, ram_action, decode).await?;
        let count = page.items.len();
        items.extend(page.items);
        if is_last_page(count, PAGE_SIZE as usize, items.len(), page.total) {
            return Ok(items);
        }
    }
    Err(too_many_pages(MAX_PAGES))
}

fn too_many_pages(pages: u32) -> DiscoveryError {
    DiscoveryError::Paging { pages, detail: format!("more than {MAX_PAGES} pages of 100 instances") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_being_created_or_deleted_are_skipped() {
        for status in ["Creating", "DELETING", "Deleted", "released"] {
            assert!(is_coming_or_going(Some(status)), "{status}");
        }
        for status in ["Running", "Rebooting", "DBInstanceClassChanging", "GuardDBInstanceCreating"] {
            assert!(!is_coming_or_going(Some(status)), "{status}");
        }
        assert!(!is_coming_or_going(None));
    }

    #[test]
    fn the_reported_total_ends_a_walk_by_number_before_the_page_size_does() {
        // A service that pages by 30 whatever was asked: short pages, more to come.
        assert!(!is_last_page(30, 100, 30, Some(75)));
        assert!(is_last_page(15, 100, 75, Some(75)));
        assert!(is_last_page(0, 100, 30, Some(75)), "an empty page ends it");
        assert!(is_last_page(99, 100, 99, None));
        assert!(!is_last_page(100, 100, 100, None));
    }

    #[test]
    fn every_wanted_tag_must_be_carried() {
        let mut instance = DiscoveredInstance::new("pc-1", Engine::PolardbMysql);
        instance.tags = vec![("env".into(), "prod".into()), ("team".into(), "db".into())];
        assert!(instance.carries_all(&[]));
        assert!(instance.carries_all(&[("env".into(), "prod".into())]));
        assert!(!instance.carries_all(&[("env".into(), "prod".into()), ("team".into(), "web".into())]));
    }
}
