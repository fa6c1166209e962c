//! dbs-sim: a simulator of the DBS `DescribeDownloadTask` endpoint and of the list APIs that
//! dbs-exporter's instance discovery reads, for its tests and its `demo` and `simulate` commands.
//!
//! The crate's folders: [`gateway`] (the fake Alibaba gateway), `dbs/` (DBS as a product on it),
//! [`estate`] (the RDS, PolarDB and MongoDB list APIs over one estate of instances), [`sample`]
//! (the living demo world), `fakes/` (STS and the ECS metadata service, with the `testing`
//! feature). What only tests need (fault injection, RAM denial, the request log, changing tasks
//! and instances while serving, the fakes) is behind the `testing` feature.
//!
//! It is a product on a loopback [`gateway`] that checks requests the way the real gateway does
//! (common parameters, signature V1, timestamp window, nonce replay, STS tokens); DBS adds RAM
//! denial and answers with the real body shapes (every task field a string, paging integers,
//! in-band `Success:"false"`). The gateway can be told to misbehave ([`Fault`]) so the client's
//! retries and error paths get exercised. The [`estate`] products (RDS `DescribeDBInstances`
//! and `ListTagResources`, PolarDB `DescribeDBClusters`, MongoDB `DescribeDBInstances`) list one
//! estate of [`SimDbInstance`]s, with the request and answer shapes of the official SDK models.
//!
//! Choices where the real service is not documented:
//! - a non-numeric `PageSize`, `CurrentPage`, `StartTime` or `EndTime`, or a `TaskType` other
//!   than `full`/`pitr`, is answered in-band: HTTP 200, `Success:"false"`, `InvalidParameter`,
//!   the way DBS itself reports `instanceName can not be empty`;
//! - a missing common parameter `X` is HTTP 400 `MissingX`, "X is mandatory for this action.";
//!   a wrong `SignatureMethod`/`SignatureVersion` is 400 `InvalidSignatureMethod`/
//!   `InvalidSignatureVersion`; a wrong `Version` is 400 `InvalidVersion`; a missing `RegionCode`
//!   is 400 `MissingRegionCode`; a malformed `Timestamp` is 400 `InvalidTimeStamp.Format`;
//! - a path other than `/` is a plain-text 404, a method other than GET/POST a plain-text 405;
//! - without `Format=json` every answer, errors included, is XML.
//!
//! Choices of the discovery APIs, where Alibaba documents no error code or behaviour (every
//! refusal is the gateway's error body with HTTP 400 unless said otherwise):
//! - a missing `RegionId` is `MissingRegionId`; RAM denial ([`SimHandle::deny_action`]) is HTTP
//!   403 `Forbidden.RAM`, checked after the signature and before any parameter;
//! - a non-numeric or out-of-range `PageNumber` (below 1) is `InvalidPageNumber.Malformed`; RDS's
//!   `PageSize` or `MaxResults` outside 1-100 is `InvalidPageSize.Malformed` /
//!   `InvalidMaxResults.Malformed`; PolarDB's and MongoDB's `PageSize` other than 30, 50 or 100
//!   is `InvalidPageSize.Malformed`; a page past the end is an empty list with the totals;
//! - RDS pages by token when `MaxResults` or `NextToken` is given (`PageSize`/`PageNumber` are
//!   then ignored; `MaxResults` defaults to 30). A token is a cursor (the last id sent, with a
//!   checksum), so instances added or removed between pages shift nothing; a token the simulator
//!   did not issue, or one of the other RDS action, is `InvalidNextToken`. The last page's
//!   `NextToken` is `""`; numbered paging sends no `NextToken`;
//! - RDS `Tags` that are not a JSON object of string values, or hold more than 5 pairs, are
//!   `InvalidTags.Format`; an empty value in `Tags`, or a `Tag.N.Key` without its `Tag.N.Value`,
//!   matches the key with any value; a `Tag.N.Value` without its key, or N outside 1-20, is
//!   `InvalidTag.Malformed`;
//! - MongoDB's `DBInstanceType` other than `replicate`/`sharding` (any case) is
//!   `InvalidDBInstanceType.Malformed`; engine, type and status filters ignore case and an
//!   unknown value lists nothing;
//! - `ListTagResources`: a missing `ResourceType` is `MissingResourceType`, one other than
//!   `INSTANCE` is `InvalidResourceType`; `ResourceId.N` with N outside 1-50 (so more than 50
//!   ids) is `InvalidResourceId.NumberExceed`; neither ids nor tags is `MissingParameter`; with
//!   `Tag.N`, only instances carrying all of them are listed, with all their tags; unknown ids
//!   and ids of other regions are left out silently; entries are sorted by instance and key, 50
//!   an answer;
//! - a read-only RDS instance's `MasterInstanceId` is a primary of its engine in its region;
//!   fields the exporter does not read (zone, resource group, creation time, ...) are fixed
//!   plausible values.

mod util;

pub mod gateway;

mod dbs;
pub mod estate;
#[cfg(feature = "testing")]
pub mod fakes;
mod handle;
pub mod sample;
mod task;

#[cfg(test)]
mod tests;

#[cfg(feature = "testing")]
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
#[cfg(feature = "testing")]
use std::time::SystemTime;

use self::gateway::Account;

pub use self::estate::{SimDbInstance, SimDbKind};
#[cfg(feature = "testing")]
pub use self::gateway::Fault;
pub use self::gateway::{Gateway, SimCa};
pub use self::handle::SimHandle;
pub use self::sample::{
    demo_accounts, demo_db_instances, demo_regions, demo_simulator, living_simulator, LivingInstance,
    DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET,
};
pub use self::task::{canonical_state, SimTask, TaskSource, TaskType};

/// Builder for a simulator; [`Simulator::start`] binds and serves it.
pub struct Simulator {
    accounts: Vec<(String, Account)>,
    tasks: Vec<SimTask>,
    source: Option<TaskSource>,
    #[cfg(feature = "testing")]
    forbidden: HashSet<(String, String)>,
    max_page_size: u64,
    db_instances: Vec<SimDbInstance>,
}

impl Default for Simulator {
    fn default() -> Self {
        Simulator::new()
    }
}

impl Simulator {
    pub const DEFAULT_MAX_PAGE_SIZE: u64 = 100;

    pub fn new() -> Self {
        Simulator {
            accounts: Vec::new(),
            tasks: Vec::new(),
            source: None,
            #[cfg(feature = "testing")]
            forbidden: HashSet::new(),
            max_page_size: Self::DEFAULT_MAX_PAGE_SIZE,
            db_instances: Vec::new(),
        }
    }

    /// Accepts requests signed with this long-lived AccessKey pair (call again for more accounts).
    pub fn with_access_key(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.accounts.push((id.into(), Account::permanent(secret)));
        self
    }

    /// Accepts this temporary key only with its `SecurityToken`, and only until `expires_at`
    /// (the `testing` feature).
    #[cfg(feature = "testing")]
    pub fn with_sts_credentials(
        mut self,
        id: impl Into<String>,
        secret: impl Into<String>,
        token: impl Into<String>,
        expires_at: SystemTime,
    ) -> Self {
        self.accounts.push((id.into(), Account::sts(secret, token, expires_at)));
        self
    }

    pub fn with_tasks(mut self, tasks: impl IntoIterator<Item = SimTask>) -> Self {
        self.tasks.extend(tasks);
        self
    }

    /// Tasks computed from the current time on each listing, in addition to the static ones.
    pub fn with_task_source(mut self, source: TaskSource) -> Self {
        self.source = Some(source);
        self
    }

    /// Requests for this instance are denied (the `testing` feature) with HTTP 403 `Forbidden.RAM`.
    #[cfg(feature = "testing")]
    pub fn with_forbidden_instance(mut self, region: impl Into<String>, instance: impl Into<String>) -> Self {
        self.forbidden.insert((region.into(), instance.into()));
        self
    }

    /// Larger `PageSize` requests are clamped to this (at least 1).
    pub fn with_max_page_size(mut self, max: u64) -> Self {
        self.max_page_size = max.max(1);
        self
    }

    /// Instances the discovery APIs list (a later one with the same region and id wins).
    pub fn with_db_instances(mut self, instances: impl IntoIterator<Item = SimDbInstance>) -> Self {
        self.db_instances.extend(instances);
        self
    }

    /// Binds `addr` (port 0 picks a free port) and serves until the handle is shut down or the
    /// last clone of it is dropped.
    pub async fn start(self, addr: SocketAddr) -> std::io::Result<SimHandle> {
        Ok(self.mount(&Gateway::start(addr).await?))
    }

    /// As [`Simulator::start`], over HTTPS with a certificate of `ca`.
    pub async fn start_tls(self, addr: SocketAddr, ca: &SimCa) -> std::io::Result<SimHandle> {
        Ok(self.mount(&Gateway::start_tls(addr, ca).await?))
    }

    /// HTTPS with `ca`'s certificate, or plain HTTP without one.
    pub async fn start_with(self, addr: SocketAddr, ca: Option<&SimCa>) -> std::io::Result<SimHandle> {
        Ok(self.mount(&Gateway::start_with(addr, ca).await?))
    }

    /// Serves DBS and the discovery APIs (RDS, PolarDB, MongoDB; with no instance, they list
    /// none) on `gateway`, beside the products already there; its keys become the gateway's,
    /// for every product.
    pub fn mount(self, gateway: &Gateway) -> SimHandle {
        for (id, account) in self.accounts {
            gateway.accept(id, account);
        }
        let config = dbs::Config {
            source: self.source,
            #[cfg(feature = "testing")]
            forbidden: self.forbidden,
            max_page_size: self.max_page_size,
        };
        let dbs = Arc::new(dbs::Dbs::new(config, self.tasks));
        gateway.mount(Arc::clone(&dbs) as Arc<dyn gateway::Product>);
        let estate = Arc::new(estate::Estate::new(self.db_instances));
        estate::mount(gateway, &estate);
        SimHandle::new(gateway.clone(), dbs, estate)
    }
}
