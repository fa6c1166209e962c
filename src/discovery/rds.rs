//! RDS `2014-08-15`: `DescribeDBInstances` for MySQL and PostgreSQL primaries, and
//! `ListTagResources` for their tags (the list answer has none).
//!
//! Paging: `MaxResults`/`NextToken`, which Alibaba recommends for large accounts. A service
//! that answers without `NextToken` pages by number instead; the walk then goes on by
//! `PageNumber` with the page size the service used, so no instance is skipped either way.
//!
//! Tags: the `Tags` filter matches an instance carrying *any* of its pairs, so only the first
//! wanted tag is sent (it narrows the list to a superset of the answer), and when more tags
//! are wanted, or tags label, each instance's tags are read and every pair is checked.

use std::collections::HashMap;

use serde::Deserialize;

use super::{
    is_coming_or_going, too_many_pages, Calls, DiscoveredInstance, DiscoveryError, Engine, Product, MAX_PAGES,
};
use crate::rpc::{Loose, RpcRequest, RpcResponse};

pub(super) const VERSION: &str = "2014-08-15";
const LIST: &str = "DescribeDBInstances";
const LIST_TAGS: &str = "ListTagResources";
/// `ListTagResources` takes at most this many `ResourceId.N`.
const TAG_IDS_PER_CALL: usize = 50;
const MAX_RESULTS: usize = 100;

pub(super) async fn discover(
    calls: &Calls<'_>,
    engine: Engine,
) -> Result<Vec<DiscoveredInstance>, DiscoveryError> {
    let mut instances = list_primaries(calls, engine).await?;
    let wanted = calls.request.tags;
    if wanted.len() > 1 || calls.request.read_tags {
        let ids: Vec<&str> = instances.iter().map(|i| i.instance_id.as_str()).collect();
        let mut tags = read_tags(calls, &ids).await?;
        for instance in &mut instances {
            instance.tags = tags.remove(&instance.instance_id).unwrap_or_default();
        }
    } else if let Some(first) = wanted.first() {
        // The service matched the one wanted tag; the instance carries it.
        for instance in &mut instances {
            instance.tags = vec![first.clone()];
        }
    }
    Ok(instances)
}

async fn list_primaries(
    calls: &Calls<'_>,
    engine: Engine,
) -> Result<Vec<DiscoveredInstance>, DiscoveryError> {
    let api_engine = match engine {
        Engine::RdsPostgresql => "PostgreSQL",
        _ => "MySQL",
    };
    let mut base = RpcRequest::new(LIST, VERSION)
        .param("RegionId", calls.request.region_id)
        .param("Engine", api_engine)
        .param("DBInstanceType", "Primary");
    if let Some((key, value)) = calls.request.tags.first() {
        let filter = serde_json::json!({ key.as_str(): value.as_str() });
        base = base.param("Tags", filter.to_string());
    }
    let mut pager = Pager::default();
    let mut found = Vec::new();
    while let Some(params) = pager.next_params()? {
        let request =
            params.into_iter().fold(base.clone(), |request, (key, value)| request.param(key, value));
        let page = calls.call(&request, Product::Rds.ram_action(), decode_list_page).await?;
        found.extend(page.instances.iter().filter(|raw| raw.applies_to(engine)).map(|raw| raw.found(engine)));
        pager.take(&page)?;
    }
    Ok(found)
}

/// Where a walk over `DescribeDBInstances` pages stands.
#[derive(Debug, Default)]
struct Pager {
    pages: u32,
    seen: usize,
    /// Token mode until the service answers without `NextToken`.
    by_number: Option<usize>,
    next_token: Option<String>,
    tokens: std::collections::HashSet<String>,
    done: bool,
}

impl Pager {
    /// The paging parameters of the next call, `None` when the walk is over.
    fn next_params(&self) -> Result<Option<Vec<(&'static str, String)>>, DiscoveryError> {
        if self.done {
            return Ok(None);
        }
        if self.pages >= MAX_PAGES {
            return Err(too_many_pages(self.pages));
        }
        Ok(Some(match (self.by_number, &self.next_token) {
            (Some(size), _) => {
                vec![("PageSize", size.to_string()), ("PageNumber", (self.pages + 1).to_string())]
            }
            (None, Some(token)) => {
                vec![("MaxResults", MAX_RESULTS.to_string()), ("NextToken", token.clone())]
            }
            (None, None) => vec![("MaxResults", MAX_RESULTS.to_string())],
        }))
    }

    fn take(&mut self, page: &ListPage) -> Result<(), DiscoveryError> {
        self.pages += 1;
        let items = page.instances.len();
        self.seen += items;
        if let Some(size) = self.by_number {
            self.done = super::is_last_page(items, size, self.seen, page.total);
            return Ok(());
        }
        match &page.next_token {
            // A first page with an empty token but more records than it holds came from a
            // service paging by number that still writes the member: go on by number.
            Some(token) if token.is_empty() => {
                let more = page.total.is_some_and(|total| total > self.seen as u64);
                if self.pages == 1 && items > 0 && more {
                    self.by_number = Some(items);
                } else {
                    self.done = true;
                }
            }
            Some(token) => {
                if !self.tokens.insert(token.clone()) {
                    let detail =
                        "DescribeDBInstances returned a NextToken it had returned before".to_string();
                    return Err(DiscoveryError::Paging { pages: self.pages, detail });
                }
                self.next_token = Some(token.clone());
            }
            // An answer by page number: page 1 came with the service's own page size.
            None => {
                self.done = items == 0 || page.total.is_none_or(|total| self.seen as u64 >= total);
                self.by_number = Some(items.max(1));
            }
        }
        Ok(())
    }
}

/// One decoded page: the instances and the paging fields.
#[derive(Debug, Default)]
struct ListPage {
    instances: Vec<RawInstance>,
    total: Option<u64>,
    /// `None` when the answer has no `NextToken` member at all; `Some("")` on the last page.
    next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawItems<'a> {
    #[serde(rename = "DBInstance", borrow)]
    instances: Option<Vec<RawListed<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawListed<'a> {
    #[serde(rename = "DBInstanceId", borrow)]
    id: Loose<'a>,
    #[serde(rename = "Engine", borrow)]
    engine: Loose<'a>,
    #[serde(rename = "DBInstanceStatus", borrow)]
    status: Loose<'a>,
    #[serde(rename = "DBInstanceType", borrow)]
    instance_type: Loose<'a>,
    #[serde(rename = "DBInstanceStorageType", borrow)]
    storage_type: Loose<'a>,
}

/// What is kept of a listed instance to decide whether it applies.
#[derive(Debug, Default, PartialEq, Eq)]
struct RawInstance {
    id: String,
    engine: Option<String>,
    status: Option<String>,
    instance_type: Option<String>,
    storage_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawPaging<'a> {
    #[serde(rename = "TotalRecordCount", borrow)]
    total: Loose<'a>,
    #[serde(rename = "NextToken")]
    next_token: Option<serde_json::Value>,
}

fn decode_list_page(response: &RpcResponse) -> Result<ListPage, DiscoveryError> {
    let answer = response.decode::<RawItems>("Items")?;
    let paging: RawPaging = serde_json::from_slice(response.body()).unwrap_or_default();
    let instances = answer.payload.instances.unwrap_or_default();
    Ok(ListPage {
        instances: instances
            .iter()
            .filter_map(|raw| {
                Some(RawInstance {
                    id: raw.id.owned()?,
                    engine: raw.engine.owned(),
                    status: raw.status.owned(),
                    instance_type: raw.instance_type.owned(),
                    storage_type: raw.storage_type.owned(),
                })
            })
            .collect(),
        total: paging.total.number(),
        next_token: paging.next_token.map(|token| match token {
            serde_json::Value::String(text) => text.trim().to_string(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }),
    })
}

impl RawInstance {
    /// Primaries only (read-only, guard and temporary instances have no downloads of their
    /// own), not being created or deleted, and for MySQL on cloud disks only.
    fn applies_to(&self, engine: Engine) -> bool {
        let api_engine = if engine == Engine::RdsPostgresql { "PostgreSQL" } else { "MySQL" };
        let engine_matches = self.engine.as_deref().is_none_or(|e| e.eq_ignore_ascii_case(api_engine));
        let primary = self.instance_type.as_deref().is_none_or(|t| t.eq_ignore_ascii_case("Primary"));
        let local_disk = self
            .storage_type
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("local_ssd") || s.eq_ignore_ascii_case("ephemeral_ssd"));
        let disk_fits = engine != Engine::RdsMysql || !local_disk;
        engine_matches && primary && disk_fits && !is_coming_or_going(self.status.as_deref())
    }

    fn found(&self, engine: Engine) -> DiscoveredInstance {
        DiscoveredInstance::new(&self.id, engine)
    }
}

/// Every tag of each of `ids`, by instance id.
async fn read_tags(
    calls: &Calls<'_>,
    ids: &[&str],
) -> Result<HashMap<String, Vec<(String, String)>>, DiscoveryError> {
    let mut tags: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for chunk in ids.chunks(TAG_IDS_PER_CALL) {
        let mut base = RpcRequest::new(LIST_TAGS, VERSION)
            .param("RegionId", calls.request.region_id)
            .param("ResourceType", "INSTANCE");
        for (n, id) in chunk.iter().enumerate() {
            base = base.param(format!("ResourceId.{}", n + 1), *id);
        }
        let mut token: Option<String> = None;
        let mut tokens = std::collections::HashSet::new();
        for pages in 1..=MAX_PAGES {
            let request = match &token {
                Some(token) => base.clone().param("NextToken", token.as_str()),
                None => base.clone(),
            };
            let page = calls.call(&request, "rds:ListTagResources", decode_tag_page).await?;
            for (id, key, value) in page.tags {
                tags.entry(id).or_default().push((key, value));
            }
            match page.next_token {
                Some(next) if !tokens.insert(next.clone()) => {
                    let detail = "ListTagResources returned a NextToken it had returned before".to_string();
                    return Err(DiscoveryError::Paging { pages, detail });
                }
                Some(next) => token = Some(next),
                None => break,
            }
            if pages == MAX_PAGES {
                return Err(too_many_pages(pages));
            }
        }
    }
    Ok(tags)
}

#[derive(Debug, Default)]
struct TagPage {
    tags: Vec<(String, String, String)>,
    /// `None` on the last page.
    next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawTagResources<'a> {
    #[serde(rename = "TagResource", borrow)]
    resources: Option<Vec<RawTagResource<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct RawTagResource<'a> {
    #[serde(borrow)]
    resource_id: Loose<'a>,
    #[serde(borrow)]
    tag_key: Loose<'a>,
    #[serde(borrow)]
    tag_value: Loose<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct RawTagPaging<'a> {
    #[serde(borrow)]
    next_token: Loose<'a>,
}

fn decode_tag_page(response: &RpcResponse) -> Result<TagPage, DiscoveryError> {
    let answer = response.decode::<RawTagResources>("TagResources")?;
    let paging: RawTagPaging = serde_json::from_slice(response.body()).unwrap_or_default();
    let resources = answer.payload.resources.unwrap_or_default();
    let tags = resources
        .iter()
        .filter_map(|r| {
            Some((r.resource_id.owned()?, r.tag_key.owned()?, r.tag_value.owned().unwrap_or_default()))
        })
        .collect();
    Ok(TagPage { tags, next_token: paging.next_token.owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(count: usize, total: Option<u64>, next_token: Option<&str>) -> ListPage {
        let instances = (0..count).map(|i| RawInstance { id: format!("rm-{i}"), ..RawInstance::default() });
        ListPage { instances: instances.collect(), total, next_token: next_token.map(str::to_string) }
    }

    fn params(pager: &Pager) -> Vec<(&'static str, String)> {
        pager.next_params().unwrap().expect("another page")
    }

    #[test]
    fn token_paging_follows_next_token_until_it_comes_back_empty() {
        let mut pager = Pager::default();
        assert_eq!(params(&pager), [("MaxResults", "100".to_string())]);
        pager.take(&page(100, Some(100), Some("t1"))).unwrap();
        assert_eq!(params(&pager), [("MaxResults", "100".to_string()), ("NextToken", "t1".to_string())]);
        pager.take(&page(7, Some(7), Some(""))).unwrap();
        assert!(pager.next_params().unwrap().is_none());
    }

    #[test]
    fn a_service_paging_by_number_is_walked_by_number_with_its_own_page_size() {
        let mut pager = Pager::default();
        pager.take(&page(30, Some(75), None)).unwrap();
        assert_eq!(params(&pager), [("PageSize", "30".to_string()), ("PageNumber", "2".to_string())]);
        pager.take(&page(30, Some(75), None)).unwrap();
        assert_eq!(params(&pager), [("PageSize", "30".to_string()), ("PageNumber", "3".to_string())]);
        pager.take(&page(15, Some(75), None)).unwrap();
        assert!(pager.next_params().unwrap().is_none());
    }

    #[test]
    fn an_empty_token_beside_a_larger_total_on_the_first_page_means_paging_by_number() {
        let mut pager = Pager::default();
        pager.take(&page(30, Some(45), Some(""))).unwrap();
        assert_eq!(params(&pager), [("PageSize", "30".to_string()), ("PageNumber", "2".to_string())]);
        pager.take(&page(15, Some(45), Some(""))).unwrap();
        assert!(pager.next_params().unwrap().is_none());
        // In token mode the total counts the page: an empty token ends the walk.
        let mut pager = Pager::default();
        pager.take(&page(100, Some(100), Some("t"))).unwrap();
        pager.take(&page(20, Some(20), Some(""))).unwrap();
        assert!(pager.next_params().unwrap().is_none());
    }

    #[test]
    fn a_repeated_token_stops_the_walk_with_an_error() {
        let mut pager = Pager::default();
        pager.take(&page(100, None, Some("same"))).unwrap();
        assert!(matches!(pager.take(&page(100, None, Some("same"))), Err(DiscoveryError::Paging { .. })));
    }

    #[test]
    fn only_primaries_on_cloud_disks_apply_to_rds_mysql() {
        let instance = |kind: &str, storage: &str, status: &str| RawInstance {
            id: "rm-1".into(),
            engine: Some("MySQL".into()),
            status: Some(status.into()),
            instance_type: Some(kind.into()),
            storage_type: Some(storage.into()),
        };
        assert!(instance("Primary", "cloud_essd", "Running").applies_to(Engine::RdsMysql));
        assert!(!instance("Readonly", "cloud_essd", "Running").applies_to(Engine::RdsMysql));
        assert!(!instance("Primary", "local_ssd", "Running").applies_to(Engine::RdsMysql));
        assert!(!instance("Primary", "ephemeral_ssd", "Running").applies_to(Engine::RdsMysql));
        assert!(!instance("Primary", "cloud_ssd", "Creating").applies_to(Engine::RdsMysql));
        // A MySQL answer to a PostgreSQL list is not a PostgreSQL instance.
        assert!(!instance("Primary", "cloud_essd", "Running").applies_to(Engine::RdsPostgresql));
        let postgres =
            RawInstance { engine: Some("PostgreSQL".into()), ..instance("Primary", "local_ssd", "Running") };
        assert!(postgres.applies_to(Engine::RdsPostgresql));
    }
}
