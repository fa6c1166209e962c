//! OIDC (RRSA) and `AssumeRole` against a loopback fake STS with short lifetimes: the call each
//! sends, the signature the fake verifies, refreshes before expiry, a failed refresh survived,
//! and an expired token never used to sign a DBS call (checked by the DBS simulator too). The
//! lifetimes run out on a clock the tests move, shared by the fake and the providers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dbs_exporter::api::{ApiError, ClientOptions, DbsClient, DownloadTaskQuery, ListOptions, TaskType};
use dbs_exporter::credentials::{
    AssumeRoleSpec, CredentialEndpoints, CredentialEnv, CredentialSource, CredentialSpec, CredentialsError,
    CredentialsProvider,
};
use dbs_sim::fakes::{FakeSts, IssuedCredentials, ManualClock};

use crate::support::TestEstate;

const ROLE_ARN: &str = "acs:ram::1234567890123456:role/dbs-reader";
const OTHER_ROLE_ARN: &str = "acs:ram::6543210987654321:role/dbs-exporter-reader";
const PROVIDER_ARN: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1";

struct Rrsa {
    _dir: tempfile::TempDir,
    token_file: PathBuf,
}

impl Rrsa {
    fn new(token: &str) -> Rrsa {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, token).unwrap();
        Rrsa { _dir: dir, token_file }
    }

    fn rotate(&self, token: &str) {
        std::fs::write(&self.token_file, token).unwrap();
    }

    fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("ALIBABA_CLOUD_ROLE_ARN".into(), ROLE_ARN.into()),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN".into(), PROVIDER_ARN.into()),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE".into(), self.token_file.display().to_string()),
            ("ALIBABA_CLOUD_ROLE_SESSION_NAME".into(), "exporter-test".into()),
        ]
    }
}

fn env(vars: Vec<(String, String)>, sts: &FakeSts) -> CredentialEnv {
    let vars: HashMap<String, String> = vars.into_iter().collect();
    let endpoints =
        CredentialEndpoints { sts: Some(sts.url()), ecs_metadata: Some("http://127.0.0.1:9".into()) };
    CredentialEnv::new(move |name| vars.get(name).cloned(), None, endpoints)
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

async fn key_id(provider: &dyn CredentialsProvider) -> Result<String, CredentialsError> {
    provider.credentials().await.map(|c| c.access_key_id.clone())
}

#[tokio::test]
async fn oidc_calls_sts_unsigned_with_the_token_file_role_and_session_name() {
    let sts = FakeSts::start(Duration::from_secs(3600)).await.unwrap();
    sts.expect_oidc_token("tok-1");
    let rrsa = Rrsa::new("tok-1\n");
    let provider = env(rrsa.vars(), &sts).default_chain().unwrap();
    assert_eq!(provider.describe(), format!("oidc:{ROLE_ARN}"));

    let credentials = provider.credentials().await.unwrap();
    assert_eq!(credentials.access_key_id, "STS.fake1");
    assert_eq!(credentials.security_token.as_ref().unwrap().expose(), "fake-token-1");
    let calls = sts.calls();
    assert_eq!(calls.len(), 1);
    let params = &calls[0].params;
    assert_eq!(calls[0].action, "AssumeRoleWithOIDC");
    assert_eq!(calls[0].error, None);
    for (key, value) in [
        ("Version", "2015-04-01"),
        ("Format", "JSON"),
        ("RoleArn", ROLE_ARN),
        ("OIDCProviderArn", PROVIDER_ARN),
        ("OIDCToken", "tok-1"),
        ("RoleSessionName", "exporter-test"),
        ("DurationSeconds", "3600"),
    ] {
        assert_eq!(params.get(key).map(String::as_str), Some(value), "{key}");
    }
    for unsigned in ["AccessKeyId", "Signature", "SignatureNonce", "SecurityToken"] {
        assert!(!params.contains_key(unsigned), "{unsigned} in an unsigned call");
    }
    // Cached: a second request makes no call.
    provider.credentials().await.unwrap();
    assert_eq!(sts.calls().len(), 1);
}

#[tokio::test]
async fn the_sts_endpoint_variable_set_by_the_rrsa_webhook_is_honoured() {
    let sts = FakeSts::start(Duration::from_secs(3600)).await.unwrap();
    let rrsa = Rrsa::new("tok");
    let mut vars: HashMap<String, String> = rrsa.vars().into_iter().collect();
    vars.insert("ALIBABA_CLOUD_STS_ENDPOINT".into(), sts.url());
    vars.insert("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED".into(), "true".into());
    let endpoints = CredentialEndpoints { sts: None, ecs_metadata: Some("http://127.0.0.1:9".into()) };
    let provider =
        CredentialEnv::new(move |name| vars.get(name).cloned(), None, endpoints).default_chain().unwrap();
    assert_eq!(key_id(&*provider).await.unwrap(), "STS.fake1");
}

#[tokio::test]
async fn the_token_file_is_read_again_at_each_refresh() {
    let clock = ManualClock::starting_now();
    let sts = FakeSts::start(secs(2.0)).await.unwrap().with_clock(clock.clock());
    sts.expect_oidc_token("tok-1");
    let rrsa = Rrsa::new("tok-1");
    let provider = env(rrsa.vars(), &sts).with_clock(clock.clock()).default_chain().unwrap();
    assert_eq!(key_id(&*provider).await.unwrap(), "STS.fake1");

    // Kubernetes rotates the projected token; the old one is no longer accepted.
    rrsa.rotate("tok-2");
    sts.expect_oidc_token("tok-2");
    clock.advance(secs(1.75));
    assert_eq!(key_id(&*provider).await.unwrap(), "STS.fake2");
    let calls = sts.calls();
    assert_eq!(calls[1].params["OIDCToken"], "tok-2");
    assert_eq!(provider.refresh_errors(), 0);
}

#[tokio::test]
async fn credentials_are_refreshed_before_they_expire_and_never_handed_out_expired() {
    let clock = ManualClock::starting_now();
    let sts = FakeSts::start(secs(1.5)).await.unwrap().with_clock(clock.clock());
    let rrsa = Rrsa::new("tok");
    let provider = env(rrsa.vars(), &sts).with_clock(clock.clock()).default_chain().unwrap();
    let started = clock.now();
    let mut seen = Vec::new();
    while clock.now() < started + secs(5.0) {
        let credentials = provider.credentials().await.expect("a refresh on time never leaves a gap");
        let expires_at = sts.expiry_of(&credentials.access_key_id).unwrap();
        assert!(clock.now() < expires_at, "{} handed out after it expired", credentials.access_key_id);
        if seen.last() != Some(&credentials.access_key_id) {
            seen.push(credentials.access_key_id.clone());
        }
        clock.advance(Duration::from_millis(25));
    }
    assert!(seen.len() >= 4, "refreshed every ~1.2s: {seen:?}");
    assert_eq!(sts.calls().len(), seen.len(), "one STS call per refresh, none wasted");
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_credentials_until_they_expire_then_fails_then_recovers() {
    let clock = ManualClock::starting_now();
    let sts = FakeSts::start(secs(3.0)).await.unwrap().with_clock(clock.clock());
    let rrsa = Rrsa::new("tok");
    let provider = env(rrsa.vars(), &sts).with_clock(clock.clock()).default_chain().unwrap();
    let started = clock.now();
    assert_eq!(key_id(&*provider).await.unwrap(), "STS.fake1");
    let expires_at = sts.expiry_of("STS.fake1").unwrap();

    sts.set_down(true);
    clock.advance_to(started + secs(2.6));
    assert_eq!(key_id(&*provider).await.unwrap(), "STS.fake1", "inside the margin, refresh failing: kept");
    assert!(provider.refresh_errors() >= 1);

    clock.advance_to(expires_at);
    let err = provider.credentials().await.unwrap_err();
    assert!(matches!(err, CredentialsError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("ServiceUnavailable"), "the last refresh error is told: {err}");

    sts.set_down(false);
    let deadline = clock.now() + secs(3.0);
    let recovered = loop {
        match key_id(&*provider).await {
            Ok(id) => break id,
            Err(_) if clock.now() < deadline => clock.advance(Duration::from_millis(100)),
            Err(err) => panic!("no recovery: {err}"),
        }
    };
    assert_ne!(recovered, "STS.fake1");
}

#[tokio::test]
async fn concurrent_requests_share_one_sts_call() {
    let sts = FakeSts::start(Duration::from_secs(3600)).await.unwrap();
    let rrsa = Rrsa::new("tok");
    let provider = env(rrsa.vars(), &sts).default_chain().unwrap();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let provider = Arc::clone(&provider);
        requests.spawn(async move { key_id(&*provider).await });
    }
    while let Some(result) = requests.join_next().await {
        assert_eq!(result.unwrap().unwrap(), "STS.fake1");
    }
    assert_eq!(sts.calls().len(), 1);
}

fn account(source: CredentialSource, role: AssumeRoleSpec) -> CredentialSpec {
    CredentialSpec { source, assume_role: Some(role) }
}

fn prod_keys() -> CredentialSource {
    CredentialSource::Environment {
        access_key_id_var: "PROD_ID".into(),
        access_key_secret_var: "PROD_SECRET".into(),
        security_token_var: None,
    }
}

#[tokio::test]
async fn assume_role_is_signed_with_the_source_key_and_verified() {
    let sts = FakeSts::start(Duration::from_secs(3600)).await.unwrap();
    sts.accept_key("LTAIprod", "canary-prod-secret");
    sts.require_external_id("ext-4f9a");
    let vars =
        vec![("PROD_ID".into(), "LTAIprod".into()), ("PROD_SECRET".into(), "canary-prod-secret".into())];
    let env = env(vars, &sts);
    let role = AssumeRoleSpec {
        external_id: Some("ext-4f9a".into()),
        duration: Duration::from_secs(900),
        ..AssumeRoleSpec::new(OTHER_ROLE_ARN)
    };
    let provider = env.provider(&account(prod_keys(), role.clone())).unwrap();
    assert_eq!(provider.describe(), format!("assume-role:{OTHER_ROLE_ARN} via environment:PROD_ID"));

    assert_eq!(key_id(&*provider).await.unwrap(), "STS.fake1");
    let call = &sts.calls()[0];
    assert_eq!(call.action, "AssumeRole");
    assert_eq!(call.error, None, "the fake verified the signature");
    for (key, value) in [
        ("AccessKeyId", "LTAIprod"),
        ("RoleArn", OTHER_ROLE_ARN),
        ("RoleSessionName", "dbs-exporter"),
        ("DurationSeconds", "900"),
        ("ExternalId", "ext-4f9a"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
    ] {
        assert_eq!(call.params.get(key).map(String::as_str), Some(value), "{key}");
    }
    assert!(!call.params.contains_key("SecurityToken"), "a long-lived key has no token");

    let wrong_external_id = AssumeRoleSpec { external_id: Some("other".into()), ..role };
    let provider = env.provider(&account(prod_keys(), wrong_external_id)).unwrap();
    let err = provider.credentials().await.unwrap_err();
    assert!(err.to_string().contains("HTTP 403 NoPermission"), "{err}");
}

#[tokio::test]
async fn a_wrong_secret_is_a_signature_error_that_quotes_no_secret() {
    let sts = FakeSts::start(Duration::from_secs(3600)).await.unwrap();
    sts.accept_key("LTAIprod", "right-secret");
    let vars = vec![("PROD_ID".into(), "LTAIprod".into()), ("PROD_SECRET".into(), "canary-wrong".into())];
    let provider =
        env(vars, &sts).provider(&account(prod_keys(), AssumeRoleSpec::new(OTHER_ROLE_ARN))).unwrap();
    let err = provider.credentials().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(!text.contains("canary"), "{text}");
    assert_eq!(provider.refresh_errors(), 1);
}

#[tokio::test]
async fn assume_role_on_top_of_rrsa_signs_with_the_sts_token_and_counts_both_layers() {
    let sts = FakeSts::start(Duration::from_secs(3600)).await.unwrap();
    let rrsa = Rrsa::new("tok");
    let env = env(rrsa.vars(), &sts);
    let spec = account(CredentialSource::DefaultChain, AssumeRoleSpec::new(OTHER_ROLE_ARN));
    let provider = env.provider(&spec).unwrap();
    assert_eq!(provider.describe(), format!("assume-role:{OTHER_ROLE_ARN} via oidc:{ROLE_ARN}"));

    assert_eq!(key_id(&*provider).await.unwrap(), "STS.fake2");
    let calls = sts.calls();
    assert_eq!(
        calls.iter().map(|c| c.action.as_str()).collect::<Vec<_>>(),
        ["AssumeRoleWithOIDC", "AssumeRole"]
    );
    assert_eq!(calls[1].params["AccessKeyId"], "STS.fake1");
    assert_eq!(calls[1].params["SecurityToken"], "fake-token-1");
    assert_eq!(calls[1].error, None);

    // STS down: a fresh provider fails at both layers, and both failures are counted.
    sts.set_down(true);
    let provider = env.provider(&spec).unwrap();
    assert!(provider.credentials().await.is_err());
    assert_eq!(provider.refresh_errors(), 2);
}

/// End to end: a DBS client signing with RRSA credentials against the simulator, which refuses
/// an expired token with `InvalidSecurityToken.Expired`. The client must never get that far.
#[tokio::test]
async fn the_client_never_signs_with_an_expired_token() {
    let clock = ManualClock::starting_now();
    let now = clock.now();
    let first = IssuedCredentials {
        access_key_id: "STS.first".into(),
        access_key_secret: "first-secret".into(),
        security_token: "first-token".into(),
        expires_at: now + secs(6.0),
    };
    let second = IssuedCredentials {
        access_key_id: "STS.second".into(),
        access_key_secret: "second-secret".into(),
        security_token: "second-token".into(),
        expires_at: now + Duration::from_secs(600),
    };
    let sim = TestEstate::new()
        .with(|mut simulator| {
            for c in [&first, &second] {
                simulator = simulator.with_sts_credentials(
                    &c.access_key_id,
                    &c.access_key_secret,
                    &c.security_token,
                    c.expires_at,
                );
            }
            simulator
        })
        .start()
        .await;
    let sts = FakeSts::start(Duration::from_secs(600)).await.unwrap().with_clock(clock.clock());
    sts.plan([first.clone(), second.clone()]);
    let rrsa = Rrsa::new("tok");
    let provider = env(rrsa.vars(), &sts).with_clock(clock.clock()).default_chain().unwrap();
    let client = DbsClient::new(ClientOptions::default(), Arc::clone(&provider)).unwrap();
    let query = DownloadTaskQuery {
        task_type: Some(TaskType::Full),
        ..DownloadTaskQuery::new("cn-hangzhou", "rm-1")
    };
    let url = sim.url();
    let list = || client.list_download_tasks(&url, &query, ListOptions::default(), &());
    let last_key = || sim.requests().last().and_then(|r| r.get("AccessKeyId").cloned());
    let at = |seconds: f64| clock.advance_to(now + secs(seconds));

    list().await.unwrap();
    assert_eq!(last_key().as_deref(), Some("STS.first"));

    // Past the refresh point (4.5s to 5s) with STS down: the first credentials still serve.
    sts.set_down(true);
    at(5.2);
    list().await.unwrap();
    assert_eq!(last_key().as_deref(), Some("STS.first"));
    assert!(provider.refresh_errors() >= 1);

    // Past their expiration: a credentials error here, not a signed request refused there.
    at(6.2);
    let calls_before = sim.calls();
    match list().await {
        Err(ApiError::Credentials(CredentialsError::Expired { .. })) => {}
        other => panic!("expected an expired-credentials error, got {other:?}"),
    }
    assert_eq!(sim.calls(), calls_before, "nothing was sent with the expired token");

    sts.set_down(false);
    at(7.4);
    list().await.unwrap();
    assert_eq!(last_key().as_deref(), Some("STS.second"));
    sim.shutdown().await;
}
