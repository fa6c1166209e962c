//! The simulator's fakes of STS and the ECS metadata service share one gateway with DBS: what
//! they hand out signs DBS calls there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dbs_exporter::api::{DbsClient, DownloadTaskQuery, ListOptions, TaskType};
use dbs_exporter::credentials::{
    AssumeRoleSpec, CredentialEndpoints, CredentialEnv, CredentialSource, CredentialSpec, CredentialsProvider,
};
use dbs_exporter::rpc::ClientOptions;
use dbs_sim::fakes::{FakeMetadata, FakeSts};
use dbs_sim::{SimTask, TaskType as SimTaskType};

use crate::support::{simulator, OTHER_KEY_ID, OTHER_SECRET};

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
    let task = SimTask::new("dt-1", "cn-hangzhou", "rm-1", SimTaskType::Full, "finished", 1_700_000_000_000);
    let sim = simulator([task]).await;
    let sts = FakeSts::mount(sim.gateway(), HOUR);
    // The long-lived key AssumeRole signs with: one the simulator does not already accept.
    sts.accept_key(OTHER_KEY_ID, OTHER_SECRET);
    let metadata = FakeMetadata::mount(sim.gateway(), Some("EcsDbsReader"), HOUR);
    let vars: HashMap<String, String> =
        [("BASE_ID", OTHER_KEY_ID), ("BASE_SECRET", OTHER_SECRET)].map(|(k, v)| (k.into(), v.into())).into();
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
            (Some("Sts"), OTHER_KEY_ID.to_string()),
            (Some("Dbs"), "STS.fake1".to_string()),
        ]
    );
}
