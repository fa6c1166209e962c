//! The ECS RAM-role link against a loopback fake of the instance metadata service: IMDSv2 token
//! first, IMDSv1 only when allowed, the role named or listed, `Code: "Success"` checked, and the
//! refresh behaviour with short lifetimes, on a clock the test moves. The real 100.100.100.200
//! is never reached.

use std::collections::HashMap;
use std::time::Duration;

use dbs_exporter::credentials::{CredentialEndpoints, CredentialEnv, CredentialsError, CredentialsProvider};
use dbs_sim::fakes::{FakeMetadata, ManualClock, MetadataCounts};

const ROLE: &str = "EcsDbsReader";

fn chain(vars: &[(&str, &str)], metadata: &str) -> std::sync::Arc<dyn CredentialsProvider> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let endpoints =
        CredentialEndpoints { sts: Some("http://127.0.0.1:9".into()), ecs_metadata: Some(metadata.into()) };
    dbs_exporter::credentials::default_chain(move |name| vars.get(name).cloned(), None, endpoints).unwrap()
}

async fn key_id(provider: &dyn CredentialsProvider) -> Result<String, CredentialsError> {
    provider.credentials().await.map(|c| c.access_key_id.clone())
}

#[tokio::test]
async fn imdsv2_token_then_the_listed_role_then_its_credentials() {
    let metadata = FakeMetadata::start(Some(ROLE), Duration::from_secs(3600)).await.unwrap();
    let provider = chain(&[], &metadata.url());
    assert_eq!(provider.describe(), "ecs-ram-role", "the role is not known before the first fetch");

    let credentials = provider.credentials().await.unwrap();
    assert_eq!(credentials.access_key_id, "STS.ecs1");
    assert_eq!(credentials.security_token.as_ref().unwrap().expose(), "ecs-token-1");
    assert_eq!(provider.describe(), format!("ecs-ram-role:{ROLE}"));
    assert_eq!(
        metadata.counts(),
        MetadataCounts { token_puts: 1, role_lists: 1, credential_reads: 1, reads_without_token: 0 }
    );
}

#[tokio::test]
async fn a_named_role_is_not_listed() {
    let metadata = FakeMetadata::start(Some(ROLE), Duration::from_secs(3600)).await.unwrap();
    let provider = chain(&[("ALIBABA_CLOUD_ECS_METADATA", ROLE)], &metadata.url());
    assert_eq!(provider.describe(), format!("ecs-ram-role:{ROLE}"));
    key_id(&*provider).await.unwrap();
    assert_eq!(metadata.counts().role_lists, 0);
}

#[tokio::test]
async fn an_imdsv2_only_instance_is_served_with_the_token() {
    let metadata = FakeMetadata::start(Some(ROLE), Duration::from_secs(3600)).await.unwrap();
    metadata.set_imdsv2_only(true);
    assert_eq!(key_id(&*chain(&[], &metadata.url())).await.unwrap(), "STS.ecs1");
}

#[tokio::test]
async fn without_a_token_endpoint_imdsv1_is_used_unless_disabled() {
    let metadata = FakeMetadata::start(Some(ROLE), Duration::from_secs(3600)).await.unwrap();
    metadata.set_token_endpoint(false);
    assert_eq!(key_id(&*chain(&[], &metadata.url())).await.unwrap(), "STS.ecs1");
    assert_eq!(metadata.counts().reads_without_token, 2, "role list and credentials, without a token");

    let provider = chain(&[("ALIBABA_CLOUD_IMDSV1_DISABLED", "true")], &metadata.url());
    let err = provider.credentials().await.unwrap_err().to_string();
    assert!(err.contains("no IMDSv2 token, and ALIBABA_CLOUD_IMDSV1_DISABLED=true forbids"), "{err}");
    assert_eq!(metadata.counts().reads_without_token, 2, "no read without a token once disabled");
    assert_eq!(metadata.counts().credential_reads, 1);
}

#[tokio::test]
async fn an_answer_without_code_success_is_an_error() {
    let metadata = FakeMetadata::start(Some(ROLE), Duration::from_secs(3600)).await.unwrap();
    metadata.set_code("Failed");
    let err = chain(&[], &metadata.url()).credentials().await.unwrap_err();
    assert!(matches!(&err, CredentialsError::Service { code, .. } if code == "Failed"), "{err}");
    assert!(!err.to_string().contains("ecs-secret"), "{err}");
}

#[tokio::test]
async fn no_attached_role_or_no_metadata_service_are_clear_errors() {
    let metadata = FakeMetadata::start(None, Duration::from_secs(3600)).await.unwrap();
    let err = chain(&[], &metadata.url()).credentials().await.unwrap_err().to_string();
    assert!(err.contains("is a RAM role attached to the instance?"), "{err}");

    let err = chain(&[], "http://127.0.0.1:9").credentials().await.unwrap_err().to_string();
    assert!(err.starts_with("ecs-ram-role: cannot reach http://127.0.0.1:9"), "{err}");
}

#[tokio::test]
async fn role_credentials_refresh_before_expiry_and_survive_a_failed_refresh() {
    let clock = ManualClock::starting_now();
    let metadata = FakeMetadata::start(Some(ROLE), Duration::from_secs_f64(2.0))
        .await
        .unwrap()
        .with_clock(clock.clock());
    let endpoints =
        CredentialEndpoints { sts: Some("http://127.0.0.1:9".into()), ecs_metadata: Some(metadata.url()) };
    let env = CredentialEnv::new(|_| None, None, endpoints).with_clock(clock.clock());
    let provider = env.default_chain().unwrap();
    assert_eq!(key_id(&*provider).await.unwrap(), "STS.ecs1");

    // A quarter of the 2s lifetime, less up to a third of it as jitter: due by 1.67s.
    clock.advance(Duration::from_millis(1750));
    assert_eq!(key_id(&*provider).await.unwrap(), "STS.ecs2", "refreshed before expiry");
    let second_expiry = metadata.issued()[1].expires_at;

    // Due 0.33s to 0.5s before the expiry: asked every 10ms up to 0.3s before, it is tried.
    metadata.fail_next(1000);
    while clock.now() + Duration::from_millis(300) < second_expiry {
        let id = key_id(&*provider).await.expect("kept while valid");
        assert_eq!(id, "STS.ecs2");
        clock.advance(Duration::from_millis(10));
    }
    assert!(provider.refresh_errors() >= 1);
    clock.advance_to(second_expiry);
    assert!(matches!(provider.credentials().await, Err(CredentialsError::Expired { .. })));
}
