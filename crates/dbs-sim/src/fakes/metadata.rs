//! The fake ECS instance metadata service: IMDSv2 tokens, the role list, the role's credentials.
//! Plain HTTP under `/latest/`, outside the gateway's RPC checks.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{format_expiration, system_clock, Clock, IssuedCredentials};
use crate::gateway::{Account, Accounts, Call, Gateway, Product, Reply, Routes, SimCa};
use crate::util::lock;

/// The IMDSv2 headers: the token's lifetime asked for, and the token a request carries.
const TOKEN_TTL_HEADER: &str = "X-aliyun-ecs-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aliyun-ecs-metadata-token";

/// What the fake metadata service has been asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetadataCounts {
    pub token_puts: u64,
    pub role_lists: u64,
    pub credential_reads: u64,
    /// Reads (role list or credentials) that came without an IMDSv2 token.
    pub reads_without_token: u64,
}

/// A fake ECS metadata service with one RAM role attached.
pub struct FakeMetadata {
    gateway: Gateway,
    metadata: Arc<Metadata>,
}

struct Metadata {
    state: Mutex<MetadataState>,
}

struct MetadataState {
    clock: Clock,
    role: Option<String>,
    lifetime: Duration,
    token_endpoint: bool,
    imdsv2_only: bool,
    code: String,
    failures: usize,
    tokens: HashSet<String>,
    counts: MetadataCounts,
    issued: Vec<IssuedCredentials>,
}

impl FakeMetadata {
    /// Starts on a gateway of its own, on a free loopback port, with `role` attached;
    /// credentials live `lifetime`.
    pub async fn start(role: Option<&str>, lifetime: Duration) -> std::io::Result<FakeMetadata> {
        let gateway = Gateway::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        Ok(FakeMetadata::mount(&gateway, role, lifetime))
    }

    /// As [`FakeMetadata::start`], over HTTPS with a certificate of `ca` (the real service is
    /// plain HTTP: this shows a client that must not trust the API's CA for it).
    pub async fn start_tls(
        role: Option<&str>,
        lifetime: Duration,
        ca: &SimCa,
    ) -> std::io::Result<FakeMetadata> {
        let gateway = Gateway::start_tls(SocketAddr::from(([127, 0, 0, 1], 0)), ca).await?;
        Ok(FakeMetadata::mount(&gateway, role, lifetime))
    }

    /// Serves the metadata routes on `gateway`, beside the products already there.
    pub fn mount(gateway: &Gateway, role: Option<&str>, lifetime: Duration) -> FakeMetadata {
        let metadata = Arc::new(Metadata {
            state: Mutex::new(MetadataState {
                clock: system_clock(),
                role: role.map(str::to_string),
                lifetime,
                token_endpoint: true,
                imdsv2_only: false,
                code: "Success".into(),
                failures: 0,
                tokens: HashSet::new(),
                counts: MetadataCounts::default(),
                issued: Vec::new(),
            }),
        });
        gateway.mount(Arc::clone(&metadata) as Arc<dyn Product>);
        FakeMetadata { gateway: gateway.clone(), metadata }
    }

    pub fn url(&self) -> String {
        self.gateway.url()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MetadataState> {
        lock(&self.metadata.state)
    }

    /// Without the token endpoint (`false`), `PUT /latest/api/token` answers 404, as an
    /// instance that only speaks IMDSv1.
    pub fn set_token_endpoint(&self, available: bool) {
        self.state().token_endpoint = available;
    }

    /// Refuses reads without a valid IMDSv2 token (HTTP 401), as an instance in IMDSv2-only mode.
    pub fn set_imdsv2_only(&self, only: bool) {
        self.state().imdsv2_only = only;
    }

    /// The `Code` of the credentials answer (`Success` unless told otherwise).
    pub fn set_code(&self, code: &str) {
        self.state().code = code.into();
    }

    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state().lifetime = lifetime;
    }

    /// Credentials expire `lifetime` after the time of `clock` rather than the system's.
    pub fn with_clock(self, clock: Clock) -> Self {
        self.state().clock = clock;
        self
    }

    /// The next `times` credential reads answer HTTP 500.
    pub fn fail_next(&self, times: usize) {
        self.state().failures += times;
    }

    pub fn counts(&self) -> MetadataCounts {
        self.state().counts
    }

    pub fn issued(&self) -> Vec<IssuedCredentials> {
        self.state().issued.clone()
    }
}

impl Product for Metadata {
    fn name(&self) -> &'static str {
        "EcsMetadata"
    }

    fn routes(&self) -> Routes {
        Routes::Paths("/latest/")
    }

    fn answer(&self, call: &Call, accounts: &Accounts) -> Reply {
        metadata_answer(&mut lock(&self.state), call, accounts)
    }
}

fn metadata_answer(state: &mut MetadataState, request: &Call, accounts: &Accounts) -> Reply {
    const ROLES: &str = "/latest/meta-data/ram/security-credentials/";
    if request.path == "/latest/api/token" {
        if request.method != "PUT" {
            return Reply::text(405, "");
        }
        state.counts.token_puts += 1;
        if !state.token_endpoint {
            return Reply::text(404, "Not Found");
        }
        let ttl: u32 = request.header(TOKEN_TTL_HEADER).and_then(|v| v.parse().ok()).unwrap_or(0);
        if !(1..=21_600).contains(&ttl) {
            return Reply::text(400, "invalid ttl");
        }
        let token = format!("fake-imds-token-{}", state.tokens.len() + 1);
        state.tokens.insert(token.clone());
        return Reply::text(200, token);
    }
    let Some(rest) = request.path.strip_prefix(ROLES) else {
        return Reply::text(404, "Not Found");
    };
    if request.method != "GET" {
        return Reply::text(405, "");
    }
    match request.header(TOKEN_HEADER) {
        Some(token) if !state.tokens.contains(token) => return Reply::text(401, "Unauthorized"),
        Some(_) => {}
        None if state.imdsv2_only => {
            state.counts.reads_without_token += 1;
            return Reply::text(401, "Unauthorized");
        }
        None => state.counts.reads_without_token += 1,
    }
    if rest.is_empty() {
        state.counts.role_lists += 1;
        return match &state.role {
            Some(role) => Reply::text(200, role.as_str()),
            None => Reply::text(404, "Not Found"),
        };
    }
    state.counts.credential_reads += 1;
    if state.role.as_deref() != Some(rest) {
        return Reply::text(404, "Not Found");
    }
    if state.failures > 0 {
        state.failures -= 1;
        return Reply::text(500, "Internal Server Error");
    }
    let serial = state.issued.len() as u64 + 1;
    let now = (state.clock)();
    let issued = IssuedCredentials::numbered("ecs", serial, now + state.lifetime);
    let mut body = issued.to_json();
    body["Code"] = state.code.clone().into();
    body["LastUpdated"] = format_expiration(now).into();
    // The role's credentials are STS credentials: every product on the gateway takes them.
    accounts.grant(
        issued.access_key_id.clone(),
        Account::sts(&issued.access_key_secret, &issued.security_token, issued.expires_at),
    );
    state.issued.push(issued);
    Reply::Json(body)
}
