//! The fake STS: `AssumeRole` (signed; the gateway verifies the signature, the nonce and the
//! caller's STS token) and `AssumeRoleWithOIDC` (unsigned).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{system_clock, Clock, IssuedCredentials};
use crate::gateway::{
    Account, Accounts, Action, Call, Fault, Gateway, GatewayError, Product, Reply, Routes, SimCa,
};
use crate::util::lock;

const VERSION: &str = "2015-04-01";
const ACTIONS: &[Action] =
    &[Action { name: "AssumeRole", signed: true }, Action { name: "AssumeRoleWithOIDC", signed: false }];
/// What STS says when it is down.
const UNAVAILABLE: Fault = Fault::ServerError(503);

/// One request to the fake STS: its action, every parameter (query and form body merged), and
/// the error code it was answered with (`None`: credentials were issued).
#[derive(Clone, Debug)]
pub struct StsCall {
    pub action: String,
    pub params: BTreeMap<String, String>,
    pub error: Option<String>,
}

/// A fake STS. `AssumeRole` must be signed by a key the gateway knows ([`FakeSts::accept_key`],
/// or credentials STS issued, until they expire); `AssumeRoleWithOIDC` must be unsigned and carry
/// the expected OIDC token when one is set.
pub struct FakeSts {
    gateway: Gateway,
    sts: Arc<Sts>,
}

struct Sts {
    state: Mutex<StsState>,
}

struct StsState {
    clock: Clock,
    lifetime: Duration,
    oidc_token: Option<String>,
    external_id: Option<String>,
    planned: VecDeque<IssuedCredentials>,
    issued: Vec<IssuedCredentials>,
}

impl FakeSts {
    /// Starts on a gateway of its own, on a free loopback port; issued credentials live `lifetime`.
    pub async fn start(lifetime: Duration) -> std::io::Result<FakeSts> {
        let gateway = Gateway::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        Ok(FakeSts::mount(&gateway, lifetime))
    }

    /// As [`FakeSts::start`], over HTTPS with a certificate of `ca`, as the real STS is.
    pub async fn start_tls(lifetime: Duration, ca: &SimCa) -> std::io::Result<FakeSts> {
        let gateway = Gateway::start_tls(SocketAddr::from(([127, 0, 0, 1], 0)), ca).await?;
        Ok(FakeSts::mount(&gateway, lifetime))
    }

    /// Serves STS on `gateway`, beside the products already there.
    pub fn mount(gateway: &Gateway, lifetime: Duration) -> FakeSts {
        let sts = Arc::new(Sts {
            state: Mutex::new(StsState {
                clock: system_clock(),
                lifetime,
                oidc_token: None,
                external_id: None,
                planned: VecDeque::new(),
                issued: Vec::new(),
            }),
        });
        gateway.mount(Arc::clone(&sts) as Arc<dyn Product>);
        FakeSts { gateway: gateway.clone(), sts }
    }

    pub fn url(&self) -> String {
        self.gateway.url()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, StsState> {
        lock(&self.sts.state)
    }

    /// Accepts `AssumeRole` signed with this long-lived AccessKey.
    pub fn accept_key(&self, id: &str, secret: &str) {
        self.gateway.accept(id, Account::permanent(secret));
    }

    /// `AssumeRoleWithOIDC` must carry exactly this token.
    pub fn expect_oidc_token(&self, token: &str) {
        self.state().oidc_token = Some(token.into());
    }

    /// `AssumeRole` must carry this `ExternalId`, as a trust policy with a condition demands.
    pub fn require_external_id(&self, external_id: &str) {
        self.state().external_id = Some(external_id.into());
    }

    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state().lifetime = lifetime;
    }

    /// Issued credentials expire `lifetime` after the time of `clock` rather than the system's.
    pub fn with_clock(self, clock: Clock) -> Self {
        self.state().clock = clock;
        self
    }

    /// The next credentials issued are these, in order; numbered ones follow.
    pub fn plan(&self, credentials: impl IntoIterator<Item = IssuedCredentials>) {
        self.state().planned.extend(credentials);
    }

    /// The next `times` calls answer HTTP 503 `ServiceUnavailable` (a fault of the gateway: on
    /// a shared one, whatever product they call).
    pub fn fail_next(&self, times: usize) {
        self.gateway.inject(UNAVAILABLE, u32::try_from(times).unwrap_or(u32::MAX));
    }

    /// While down, every call answers HTTP 503 (the gateway's, as for [`fail_next`](Self::fail_next)).
    pub fn set_down(&self, down: bool) {
        self.gateway.set_fault_rate(if down { 1.0 } else { 0.0 }, vec![UNAVAILABLE]);
    }

    pub fn calls(&self) -> Vec<StsCall> {
        let calls = self.gateway.log().into_iter().filter(|logged| logged.product == Some(Sts::NAME));
        calls
            .map(|logged| StsCall {
                action: logged.params.get("Action").cloned().unwrap_or_default(),
                params: logged.params,
                error: logged.error,
            })
            .collect()
    }

    pub fn issued(&self) -> Vec<IssuedCredentials> {
        self.state().issued.clone()
    }

    /// When the credentials with this AccessKeyId (issued here) expire.
    pub fn expiry_of(&self, access_key_id: &str) -> Option<SystemTime> {
        self.state().issued.iter().find(|c| c.access_key_id == access_key_id).map(|c| c.expires_at)
    }
}

impl Sts {
    const NAME: &'static str = "Sts";
}

impl Product for Sts {
    fn name(&self) -> &'static str {
        Sts::NAME
    }

    fn routes(&self) -> Routes {
        Routes::Rpc { version: VERSION, actions: ACTIONS }
    }

    fn answer(&self, call: &Call, accounts: &Accounts) -> Reply {
        let mut state = lock(&self.state);
        if let Err((status, code, message)) = verdict(&state, call) {
            return Reply::Gateway(GatewayError::new(status, code, message));
        }
        let serial = state.issued.len() as u64 + 1;
        let expires_at = (state.clock)() + state.lifetime;
        let issued = state
            .planned
            .pop_front()
            .unwrap_or_else(|| IssuedCredentials::numbered("fake", serial, expires_at));
        // The credentials sign the next calls, of STS or of any product on the gateway.
        accounts.grant(
            issued.access_key_id.clone(),
            Account::sts(&issued.access_key_secret, &issued.security_token, issued.expires_at),
        );
        let answer = serde_json::json!({
            "AssumedRoleUser": {"Arn": call.param("RoleArn"), "AssumedRoleId": "300000000:fake"},
            "Credentials": issued.to_json(),
        });
        state.issued.push(issued);
        match answer {
            serde_json::Value::Object(fields) => Reply::Answer(fields),
            _ => unreachable!("json!({{...}}) is an object"),
        }
    }
}

type Refusal = (u16, &'static str, String);

/// What STS itself checks once the gateway let the call through.
fn verdict(state: &StsState, call: &Call) -> Result<(), Refusal> {
    let param = |name: &str| call.param(name);
    if !param("Format").eq_ignore_ascii_case("json") || param("Timestamp").is_empty() {
        return Err((400, "MissingParameter", "Format=JSON and Timestamp are expected.".into()));
    }
    for name in ["RoleArn", "RoleSessionName"] {
        if param(name).is_empty() {
            return Err((400, "MissingParameter", format!("{name} is mandatory for this action.")));
        }
    }
    let duration: u64 = param("DurationSeconds").parse().unwrap_or(0);
    if !(900..=43_200).contains(&duration) {
        return Err((
            400,
            "InvalidParameter.DurationSeconds",
            "DurationSeconds must be from 900 to 43200.".into(),
        ));
    }
    if param("Action") == "AssumeRoleWithOIDC" {
        if call.params.contains_key("Signature") || call.params.contains_key("AccessKeyId") {
            return Err((
                400,
                "InvalidParameter",
                "AssumeRoleWithOIDC is called without a signature.".into(),
            ));
        }
        for name in ["OIDCProviderArn", "OIDCToken"] {
            if param(name).is_empty() {
                return Err((400, "MissingParameter", format!("{name} is mandatory for this action.")));
            }
        }
        if state.oidc_token.as_deref().is_some_and(|expected| expected != param("OIDCToken")) {
            return Err((400, "AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.".into()));
        }
    } else if state.external_id.as_deref().is_some_and(|expected| expected != param("ExternalId")) {
        return Err((403, "NoPermission", "You are not authorized to do this action. (ExternalId)".into()));
    }
    Ok(())
}
