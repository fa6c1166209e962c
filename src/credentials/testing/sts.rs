//! The fake STS: `AssumeRole` (signed) and `AssumeRoleWithOIDC` (unsigned).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{lock, IssuedCredentials, Loopback, Received, Reply};
use crate::api::sign;
use crate::credentials::sts::STS_VERSION;

/// One request to the fake STS: its action, every parameter (query and form body merged), and
/// the error code it was answered with (`None`: credentials were issued).
#[derive(Clone, Debug)]
pub struct StsCall {
    pub action: String,
    pub params: BTreeMap<String, String>,
    pub error: Option<String>,
}

/// A fake STS. `AssumeRole` must be signed by a caller it knows ([`FakeSts::accept_key`], or
/// credentials it issued itself, until they expire); `AssumeRoleWithOIDC` must be unsigned and
/// carry the expected OIDC token when one is set.
pub struct FakeSts {
    state: Arc<Mutex<StsState>>,
    server: Loopback,
}

struct StsState {
    lifetime: Duration,
    callers: HashMap<String, Caller>,
    oidc_token: Option<String>,
    external_id: Option<String>,
    failures: VecDeque<(u16, &'static str)>,
    down: bool,
    planned: VecDeque<IssuedCredentials>,
    issued: Vec<IssuedCredentials>,
    calls: Vec<StsCall>,
    nonces: HashSet<String>,
    serial: u64,
}

struct Caller {
    secret: String,
    token: Option<String>,
    expires_at: Option<SystemTime>,
}

impl FakeSts {
    /// Starts on a free loopback port; issued credentials live `lifetime`.
    pub async fn start(lifetime: Duration) -> std::io::Result<FakeSts> {
        let state = Arc::new(Mutex::new(StsState {
            lifetime,
            callers: HashMap::new(),
            oidc_token: None,
            external_id: None,
            failures: VecDeque::new(),
            down: false,
            planned: VecDeque::new(),
            issued: Vec::new(),
            calls: Vec::new(),
            nonces: HashSet::new(),
            serial: 0,
        }));
        let handler_state = Arc::clone(&state);
        let server =
            Loopback::start(Arc::new(move |request| sts_answer(&mut lock(&handler_state), request))).await?;
        Ok(FakeSts { state, server })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Accepts `AssumeRole` signed with this long-lived AccessKey.
    pub fn accept_key(&self, id: &str, secret: &str) {
        lock(&self.state)
            .callers
            .insert(id.into(), Caller { secret: secret.into(), token: None, expires_at: None });
    }

    /// `AssumeRoleWithOIDC` must carry exactly this token.
    pub fn expect_oidc_token(&self, token: &str) {
        lock(&self.state).oidc_token = Some(token.into());
    }

    /// `AssumeRole` must carry this `ExternalId`, as a trust policy with a condition demands.
    pub fn require_external_id(&self, external_id: &str) {
        lock(&self.state).external_id = Some(external_id.into());
    }

    pub fn set_lifetime(&self, lifetime: Duration) {
        lock(&self.state).lifetime = lifetime;
    }

    /// The next credentials issued are these, in order; numbered ones follow.
    pub fn plan(&self, credentials: impl IntoIterator<Item = IssuedCredentials>) {
        lock(&self.state).planned.extend(credentials);
    }

    /// The next `times` calls answer HTTP 503 `ServiceUnavailable`.
    pub fn fail_next(&self, times: usize) {
        lock(&self.state).failures.extend(std::iter::repeat_n((503, "ServiceUnavailable"), times));
    }

    /// While down, every call answers HTTP 503.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    pub fn calls(&self) -> Vec<StsCall> {
        lock(&self.state).calls.clone()
    }

    pub fn issued(&self) -> Vec<IssuedCredentials> {
        lock(&self.state).issued.clone()
    }

    /// When the credentials with this AccessKeyId (issued here) expire.
    pub fn expiry_of(&self, access_key_id: &str) -> Option<SystemTime> {
        lock(&self.state).issued.iter().find(|c| c.access_key_id == access_key_id).map(|c| c.expires_at)
    }
}

fn sts_answer(state: &mut StsState, request: Received) -> Reply {
    let mut params: BTreeMap<String, String> =
        url::form_urlencoded::parse(request.query.as_bytes()).into_owned().collect();
    params.extend(url::form_urlencoded::parse(&request.body).into_owned());
    let action = params.get("Action").cloned().unwrap_or_default();
    let verdict = sts_verdict(state, &request.method, &params, &action);
    match verdict {
        Ok(()) => {
            state.serial += 1;
            let issued = state.planned.pop_front().unwrap_or_else(|| {
                IssuedCredentials::numbered("fake", state.serial, SystemTime::now() + state.lifetime)
            });
            let body = serde_json::json!({
                "RequestId": format!("fake-sts-{}", state.serial),
                "AssumedRoleUser": {"Arn": params.get("RoleArn"), "AssumedRoleId": "300000000:fake"},
                "Credentials": issued.to_json(),
            });
            state.callers.insert(
                issued.access_key_id.clone(),
                Caller {
                    secret: issued.access_key_secret.clone(),
                    token: Some(issued.security_token.clone()),
                    expires_at: Some(issued.expires_at),
                },
            );
            state.issued.push(issued);
            state.calls.push(StsCall { action, params, error: None });
            Reply::json(200, body)
        }
        Err((status, code, message)) => {
            state.calls.push(StsCall { action, params, error: Some(code.to_string()) });
            Reply::json(
                status,
                serde_json::json!({
                    "RequestId": format!("fake-sts-error-{}", state.calls.len()),
                    "HostId": "sts.aliyuncs.com",
                    "Code": code,
                    "Message": message,
                    "Recommend": "https://api.aliyun.com/troubleshoot",
                }),
            )
        }
    }
}

type Refusal = (u16, &'static str, String);

fn sts_verdict(
    state: &mut StsState,
    method: &str,
    params: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), Refusal> {
    if state.down {
        return Err((
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.".into(),
        ));
    }
    if let Some((status, code)) = state.failures.pop_front() {
        return Err((
            status,
            code,
            "The request has failed due to a temporary failure of the server.".into(),
        ));
    }
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    if method != "POST" && method != "GET" {
        return Err((400, "UnsupportedHTTPMethod", format!("{method} is not supported")));
    }
    if param("Version") != STS_VERSION {
        return Err((400, "InvalidVersion", "Specified parameter Version is not valid.".into()));
    }
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
    match action {
        "AssumeRoleWithOIDC" => {
            if params.contains_key("Signature") || params.contains_key("AccessKeyId") {
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
                return Err((
                    400,
                    "AuthenticationFail.OIDCToken.Invalid",
                    "The OIDC token is invalid.".into(),
                ));
            }
            Ok(())
        }
        "AssumeRole" => {
            let Some(caller) = state.callers.get(param("AccessKeyId")) else {
                return Err((
                    404,
                    "InvalidAccessKeyId.NotFound",
                    "Specified access key is not found.".into(),
                ));
            };
            let mut unsigned = params.clone();
            let signature = unsigned.remove("Signature").unwrap_or_default();
            let expected = sign::sign_params(method, &unsigned, &caller.secret);
            if !sign::signatures_match(&expected, &signature) {
                let server_string = sign::string_to_sign(method, &sign::canonical_query(&unsigned));
                return Err((
                    400,
                    "SignatureDoesNotMatch",
                    format!("Specified signature is not matched with our calculation. server string to sign is:{server_string}"),
                ));
            }
            if !state.nonces.insert(param("SignatureNonce").to_string()) || param("SignatureNonce").is_empty()
            {
                return Err((
                    400,
                    "SignatureNonceUsed",
                    "Specified signature nonce was used already.".into(),
                ));
            }
            if let Some(token) = &caller.token {
                if param("SecurityToken") != token {
                    return Err((
                        400,
                        "InvalidSecurityToken.MismatchWithAccessKey",
                        "Specified SecurityToken mismatch with the AccessKey.".into(),
                    ));
                }
                if caller.expires_at.is_some_and(|at| SystemTime::now() >= at) {
                    return Err((
                        400,
                        "InvalidSecurityToken.Expired",
                        "Specified SecurityToken is expired.".into(),
                    ));
                }
            }
            if state.external_id.as_deref().is_some_and(|expected| expected != param("ExternalId")) {
                return Err((
                    403,
                    "NoPermission",
                    "You are not authorized to do this action. (ExternalId)".into(),
                ));
            }
            Ok(())
        }
        _ => Err((400, "InvalidAction.NotFound", format!("Specified api {action:?} is not found."))),
    }
}
