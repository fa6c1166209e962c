//! `accounts:` end to end: each account of `config/example-accounts.yaml` gets the provider its
//! `credentials` and `assume_role` describe, and each fetches from the loopback fake STS.

use std::collections::HashMap;
use std::time::Duration;

use dbs_exporter::config::{parse, AccountConfig};
use dbs_exporter::credentials::{CredentialEndpoints, CredentialEnv};
use dbs_sim::fakes::FakeSts;

const RRSA_ROLE: &str = "acs:ram::1234567890123456:role/dbs-exporter-rrsa";
const READER_ROLE: &str = "acs:ram::1234567890123456:role/dbs-exporter-reader";

#[tokio::test]
async fn every_account_of_the_example_gets_its_own_credentials() {
    let config = parse(include_str!("../../config/example-accounts.yaml"), "example-accounts.yaml").unwrap();
    let sts = FakeSts::start(Duration::from_secs(3600)).await.unwrap();
    sts.require_external_id("a1b2c3d4e5");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "oidc-token").unwrap();
    let vars: HashMap<String, String> = [
        ("ALIBABA_CLOUD_ROLE_ARN", RRSA_ROLE.to_string()),
        (
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1".to_string(),
        ),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file.display().to_string()),
        ("LEGACY_ACCESS_KEY_ID", "LTAIlegacy".to_string()),
        ("LEGACY_ACCESS_KEY_SECRET", "canary-legacy".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let endpoints =
        CredentialEndpoints { sts: Some(sts.url()), ecs_metadata: Some("http://127.0.0.1:9".into()) };
    let env = CredentialEnv::new(move |name| vars.get(name).cloned(), None, endpoints);

    let providers: Vec<_> = config
        .accounts
        .iter()
        .map(|account: &AccountConfig| env.provider(&account.credentials).unwrap())
        .collect();
    let described: Vec<&str> = providers.iter().map(|p| p.describe()).collect();
    assert_eq!(
        described,
        [
            format!("oidc:{RRSA_ROLE}"),
            format!("assume-role:{READER_ROLE} via oidc:{RRSA_ROLE}"),
            "environment:LEGACY_ACCESS_KEY_ID".to_string(),
        ]
    );

    let mut keys = Vec::new();
    for provider in &providers {
        keys.push(provider.credentials().await.unwrap().access_key_id.clone());
    }
    assert_eq!(keys, ["STS.fake1", "STS.fake3", "LTAIlegacy"], "each account its own identity");
    let calls = sts.calls();
    assert_eq!(calls.len(), 3, "two RRSA exchanges (one per account) and one AssumeRole");
    let assume = calls.iter().find(|c| c.action == "AssumeRole").unwrap();
    assert_eq!(assume.error, None);
    assert_eq!(assume.params["ExternalId"], "a1b2c3d4e5");
    assert_eq!(assume.params["RoleArn"], READER_ROLE);
}
