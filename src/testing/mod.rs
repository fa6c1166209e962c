//! Test support: fakes of STS and of the ECS metadata service, as products on the simulator's
//! [`Gateway`], for this crate's tests and the integration tests. Built only for tests (the
//! `test-support` feature, which the crate's own tests turn on): none of it is in the release
//! binary.
//!
//! Each fake starts on a gateway of its own, or mounts on one shared with other products
//! ([`FakeSts::mount`]): then the temporary credentials STS hands out are keys the gateway
//! accepts for every product, until they expire. Each hands out numbered temporary credentials
//! with a short, adjustable lifetime, fails on request, and records what it saw.
//!
//! Not for production: the fakes keep the secrets they issue in plain strings, so tests can check
//! that none of them leaks.
//!
//! [`Gateway`]: crate::sim::Gateway

mod metadata;
mod sts;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::credentials::{format_expiration, Clock};
use crate::util::lock;

pub use self::metadata::{FakeMetadata, MetadataCounts};
pub use self::sts::{FakeSts, StsCall};

/// A clock that a test moves by hand, shared by the fakes (for the expirations they write) and
/// the credential providers under test (for when they refresh), so a test sees a lifetime run
/// out without waiting for it.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// Starting at the system's time now; it moves only when told.
    pub fn starting_now() -> Self {
        ManualClock { now: Arc::new(Mutex::new(SystemTime::now())) }
    }

    pub fn now(&self) -> SystemTime {
        *lock(&self.now)
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.now) += by;
    }

    /// Moves the clock to `at`, never back.
    pub fn advance_to(&self, at: SystemTime) {
        let mut now = lock(&self.now);
        *now = (*now).max(at);
    }

    /// This clock as the credentials' [`Clock`] (`CredentialEnv::with_clock`).
    pub fn clock(&self) -> Clock {
        let now = Arc::clone(&self.now);
        Arc::new(move || *lock(&now))
    }
}

/// Temporary credentials as a fake hands them out (or is told to, with [`FakeSts::plan`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expires_at: SystemTime,
}

impl IssuedCredentials {
    fn numbered(prefix: &str, serial: u64, expires_at: SystemTime) -> Self {
        IssuedCredentials {
            access_key_id: format!("STS.{prefix}{serial}"),
            access_key_secret: format!("{prefix}-secret-{serial}"),
            security_token: format!("{prefix}-token-{serial}"),
            expires_at,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "AccessKeyId": self.access_key_id,
            "AccessKeySecret": self.access_key_secret,
            "SecurityToken": self.security_token,
            "Expiration": format_expiration(self.expires_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::api::{DbsClient, DownloadTaskQuery, ListOptions, TaskType};
    use crate::credentials::{
        AssumeRoleSpec, CredentialEndpoints, CredentialEnv, CredentialSource, CredentialSpec,
        CredentialsProvider,
    };
    use crate::rpc::ClientOptions;
    use crate::sim::{SimTask, Simulator};

    const HOUR: Duration = Duration::from_secs(3600);

    async fn list(provider: Arc<dyn CredentialsProvider>, url: &str) -> usize {
        let client = DbsClient::new(ClientOptions::default(), provider).unwrap();
        let query = DownloadTaskQuery {
            task_type: Some(TaskType::Full),
            ..DownloadTaskQuery::new("cn-hangzhou", "rm-1")
        };
        client.list_download_tasks(url, &query, ListOptions::default(), &()).await.unwrap().tasks.len()
    }

    /// DBS, STS and the metadata service on one gateway: the credentials the credential services
    /// hand out sign DBS calls, checked by the same gateway that issued them.
    #[tokio::test]
    async fn one_gateway_hosts_dbs_sts_and_the_metadata_service() {
        let task = SimTask::new("dt-1", "cn-hangzhou", "rm-1", TaskType::Full, "finished", 1_700_000_000_000);
        let sim =
            Simulator::new().with_tasks([task]).start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let sts = FakeSts::mount(sim.gateway(), HOUR);
        sts.accept_key("LTAIbase", "base-secret");
        let metadata = FakeMetadata::mount(sim.gateway(), Some("EcsDbsReader"), HOUR);
        let vars: HashMap<String, String> = [("BASE_ID", "LTAIbase"), ("BASE_SECRET", "base-secret")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let endpoints = CredentialEndpoints { sts: Some(sim.url()), ecs_metadata: Some(sim.url()) };
        let env = CredentialEnv::new(move |name| vars.get(name).cloned(), None, endpoints);

        // Nothing configured: the chain ends at the ECS RAM role, served by the same gateway.
        let ecs = env.default_chain().unwrap();
        assert_eq!(list(ecs, &sim.url()).await, 1);
        assert_eq!(metadata.counts().credential_reads, 1);

        // AssumeRole signed with a long-lived key, then DBS signed with the role's credentials.
        let base = CredentialSource::Environment {
            access_key_id_var: "BASE_ID".into(),
            access_key_secret_var: "BASE_SECRET".into(),
            security_token_var: None,
        };
        let role =
            CredentialSpec { source: base, assume_role: Some(AssumeRoleSpec::new("acs:ram::1:role/reader")) };
        assert_eq!(list(env.provider(&role).unwrap(), &sim.url()).await, 1);
        assert_eq!(sts.calls().len(), 1);
        assert_eq!(sts.calls()[0].error, None);

        let keys: Vec<(Option<&str>, String)> = sim
            .gateway()
            .log()
            .iter()
            .filter(|logged| logged.product != Some("EcsMetadata"))
            .map(|logged| (logged.product, logged.params.get("AccessKeyId").cloned().unwrap_or_default()))
            .collect();
        assert_eq!(
            keys,
            [
                (Some("Dbs"), "STS.ecs1".to_string()),
                (Some("Sts"), "LTAIbase".to_string()),
                (Some("Dbs"), "STS.fake1".to_string()),
            ]
        );
    }
}
