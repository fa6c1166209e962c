//! One RPC-style call: the common parameters, the V1 signature over them and the action's own,
//! the POST, and the answer read whole.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use rand::RngCore;
use serde::Deserialize;

use super::answer::{decode_answer, Answer, Payload};
use super::error::RpcError;
use super::key::{Credentials, Secret};
use super::sign;
use super::timestamp::format_timestamp;
use super::transport::{self, ClientOptions, HttpAnswer};

/// An action of some product's API, with its own parameters.
#[derive(Clone, Debug)]
pub struct RpcRequest {
    action: String,
    version: &'static str,
    format: &'static str,
    /// The action's parameters, each key once, in the order they were added. Keys are mostly
    /// literals; numbered ones (`Tag.1.Key`) are built.
    params: Vec<(Cow<'static, str>, String)>,
    in_body: bool,
    /// Parameter values to scrub from whatever the service quotes back.
    secrets: Vec<Secret>,
    answer_is_secret: bool,
}

impl RpcRequest {
    pub fn new(action: impl Into<String>, version: &'static str) -> Self {
        RpcRequest {
            action: action.into(),
            version,
            format: "json",
            params: Vec::new(),
            in_body: false,
            secrets: Vec::new(),
            answer_is_secret: false,
        }
    }

    pub fn action(&self) -> &str {
        &self.action
    }

    /// Adds an action parameter (or replaces it); values are sent as the API wants them, all
    /// strings. The common parameters (`Action`, `Timestamp`, the signature's) are not action
    /// parameters.
    pub fn param(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        let key = key.into();
        debug_assert!(!COMMON.contains(&key.as_ref()), "{key} is a common parameter");
        let value = value.into();
        match self.params.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = value,
            None => self.params.push((key, value)),
        }
        self
    }

    /// Adds the parameter when there is a value.
    pub fn optional(self, key: &'static str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.param(key, value),
            None => self,
        }
    }

    /// A parameter that is itself a secret (an OIDC token): scrubbed from error messages.
    pub fn secret(mut self, key: &'static str, value: &Secret) -> Self {
        self.secrets.push(value.clone());
        self.param(key, value.expose())
    }

    /// `Format` as the product's own SDK spells it (`json` by default; STS' SDKs send `JSON`).
    pub fn format(mut self, format: &'static str) -> Self {
        self.format = format;
        self
    }

    /// Sends the action's parameters in a form body instead of the query string, so that no
    /// proxy log shows them (an OIDC token); the common parameters stay in the query string.
    pub fn in_body(mut self) -> Self {
        self.in_body = true;
        self
    }

    /// The answer carries secrets (temporary credentials): an undecodable one is never quoted.
    pub fn answer_is_secret(mut self) -> Self {
        self.answer_is_secret = true;
        self
    }

    /// The query string (the common parameters, the action's unless they go in the body and,
    /// given a key, the signature parameters, canonical, with `Signature` last) and the form
    /// body when there is one. The signature covers every parameter, query and body alike.
    /// The parameters are borrowed pairs sorted in place: no map and one string per request.
    fn encode(&self, key: Option<&Credentials>, now: SystemTime) -> EncodedRequest {
        let timestamp = format_timestamp(now);
        let nonce = key.map(|_| new_nonce());
        let mut common: Vec<(&str, &str)> = Vec::with_capacity(COMMON.len() + self.params.len());
        common.extend([
            ("Action", self.action.as_str()),
            ("Version", self.version),
            ("Format", self.format),
            ("Timestamp", timestamp.as_str()),
        ]);
        if let (Some(key), Some(nonce)) = (key, nonce.as_deref()) {
            common.extend([
                ("SignatureNonce", nonce),
                ("SignatureMethod", sign::SIGNATURE_METHOD),
                ("SignatureVersion", sign::SIGNATURE_VERSION),
                ("AccessKeyId", key.access_key_id.as_str()),
            ]);
            if let Some(token) = &key.security_token {
                common.push(("SecurityToken", token.expose()));
            }
        }
        let action = self.params.iter().map(|(k, v)| (k.as_ref(), v.as_str()));
        let sign = |canonical_query: &str| {
            key.map(|key| sign::sign_canonical("POST", canonical_query, key.access_key_secret.expose()))
        };
        if !self.in_body {
            common.extend(action);
            let mut query = canonical(common);
            let signature = sign(&query);
            push_signature(&mut query, signature);
            return EncodedRequest { query, body: None };
        }
        let signature = sign(&canonical(common.iter().copied().chain(action.clone()).collect()));
        let mut query = canonical(common);
        push_signature(&mut query, signature);
        EncodedRequest { query, body: Some(canonical(action.collect())) }
    }
}

/// The parameters every call sets itself, never an action's.
const COMMON: [&str; 10] = [
    "Action",
    "Version",
    "Format",
    "Timestamp",
    "SignatureNonce",
    "SignatureMethod",
    "SignatureVersion",
    "AccessKeyId",
    "SecurityToken",
    "Signature",
];

/// What goes on the wire for one call.
#[derive(Debug)]
struct EncodedRequest {
    /// The query string, without its `?`.
    query: String,
    /// The form body of an action whose parameters go there.
    body: Option<String>,
}

/// The canonical query of `pairs`, sorted here by the bytes of their keys.
fn canonical(mut pairs: Vec<(&str, &str)>) -> String {
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    // Room for the pairs, a few escapes and the signature that may follow.
    let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(size + size / 4 + 64);
    sign::push_canonical_query(&mut out, pairs);
    out
}

/// The official SDKs send `Signature` last, after the canonical parameters.
fn push_signature(query: &mut String, signature: Option<String>) {
    if let Some(signature) = signature {
        query.push_str("&Signature=");
        query.push_str(&sign::percent_encode(&signature));
    }
}

/// A complete answer, not yet looked into: see [`RpcResponse::decode`].
#[derive(Debug)]
pub struct RpcResponse {
    answer: HttpAnswer,
    /// Every secret the request carried, to scrub from what the service quotes back.
    secrets: Vec<Secret>,
    answer_is_secret: bool,
}

impl RpcResponse {
    pub fn status(&self) -> u16 {
        self.answer.status
    }

    pub fn body(&self) -> &[u8] {
        &self.answer.body
    }

    /// The error the answer carries, or its payload under `key` as a `T`; the service's messages
    /// come back without the request's secrets in them.
    pub fn decode<'de, T: Deserialize<'de>>(&'de self, key: &str) -> Result<Answer<T>, RpcError> {
        let payload = if self.answer_is_secret { Payload::secret(key) } else { Payload::named(key) };
        decode_answer(self.answer.status, &self.answer.body, self.answer.retry_after, payload)
            .map_err(|err| err.redact(&self.secrets.iter().map(Secret::expose).collect::<Vec<_>>()))
    }
}

/// A client for RPC-style APIs of any product: one connection pool, any endpoint.
#[derive(Clone, Debug)]
pub struct RpcClient {
    http: reqwest::Client,
    /// Shared: a client is cloned into every target of an account.
    options: Arc<ClientOptions>,
}

impl RpcClient {
    pub fn new(options: ClientOptions) -> Result<Self, RpcError> {
        Ok(RpcClient { http: transport::client(&options)?, options: Arc::new(options) })
    }

    /// One call of `request` at `endpoint` (`https://host`, or a URL such as a simulator's),
    /// signed with `key`, or unsigned without one (`AssumeRoleWithOIDC`). Errors here are the
    /// transport's; those the answer carries come out of [`RpcResponse::decode`].
    pub async fn call(
        &self,
        endpoint: &str,
        request: &RpcRequest,
        key: Option<&Credentials>,
    ) -> Result<RpcResponse, RpcError> {
        let encoded = request.encode(key, SystemTime::now());
        // The official SDKs POST with the parameters in the query string.
        let endpoint_base = endpoint.trim_end_matches('/');
        let mut url = String::with_capacity(endpoint_base.len() + 2 + encoded.query.len());
        url.push_str(endpoint_base);
        url.push_str("/?");
        url.push_str(&encoded.query);
        let http_request = match encoded.body {
            Some(body) => self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body),
            None => self.http.post(url).header(reqwest::header::CONTENT_LENGTH, "0"),
        };
        let answer = transport::send(http_request, endpoint, self.options.max_body_bytes).await?;
        let mut secrets = request.secrets.clone();
        if let Some(key) = key {
            secrets.push(key.access_key_secret.clone());
            secrets.extend(key.security_token.clone());
        }
        Ok(RpcResponse { answer, secrets, answer_is_secret: request.answer_is_secret })
    }
}

/// 128 random bits as hex: unique per request, so the service never sees a replay.
fn new_nonce() -> String {
    use std::fmt::Write as _;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let mut hex = String::with_capacity(32);
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;

    #[test]
    fn nonces_are_unique() {
        let nonces: HashSet<String> = (0..1000).map(|_| new_nonce()).collect();
        assert_eq!(nonces.len(), 1000);
    }

    /// The pairs of a query string or form body, decoded, and its `Signature` apart.
    fn decoded(encoded: &str) -> (BTreeMap<String, String>, Option<String>) {
        let mut pairs: BTreeMap<String, String> =
            url::form_urlencoded::parse(encoded.as_bytes()).into_owned().collect();
        let signature = pairs.remove("Signature");
        (pairs, signature)
    }

    #[test]
    fn sts_credentials_sign_their_token_and_the_signature_verifies() {
        let creds = Credentials::new("STS.id", "secret").with_security_token("tok");
        let request =
            RpcRequest::new("DescribeDownloadTask", "2021-01-01").param("RegionCode", "cn-hangzhou");
        let encoded = request.encode(Some(&creds), SystemTime::now());
        assert!(encoded.query.contains("&Signature="), "the signature travels last");
        let (params, signature) = decoded(&encoded.query);
        assert_eq!(params["SecurityToken"], "tok");
        assert_eq!(params["Format"], "json");
        assert_eq!(params["RegionCode"], "cn-hangzhou");
        assert_eq!(encoded.query.split("&Signature=").next().unwrap(), sign::canonical_query(&params));
        assert_eq!(sign::sign_params("POST", &params, "secret"), signature.unwrap());
    }

    #[test]
    fn body_parameters_are_signed_but_stay_out_of_the_query() {
        let creds = Credentials::new("LTAIid", "secret");
        let request =
            RpcRequest::new("AssumeRole", "2015-04-01").param("RoleArn", "acs:ram::1:role/r").in_body();
        let encoded = request.encode(Some(&creds), SystemTime::now());
        let (query, signature) = decoded(&encoded.query);
        assert!(!query.contains_key("RoleArn"));
        assert_eq!(encoded.body.as_deref(), Some("RoleArn=acs%3Aram%3A%3A1%3Arole%2Fr"));
        let mut everything = query.clone();
        everything.insert("RoleArn".into(), "acs:ram::1:role/r".into());
        assert_eq!(sign::sign_params("POST", &everything, "secret"), signature.unwrap());
    }

    #[test]
    fn an_unsigned_call_carries_no_signature_parameters() {
        let request = RpcRequest::new("AssumeRoleWithOIDC", "2015-04-01").format("JSON");
        let encoded = request.encode(None, SystemTime::now());
        let (query, signature) = decoded(&encoded.query);
        assert_eq!(signature, None);
        for unsigned in ["AccessKeyId", "SignatureNonce", "SignatureMethod", "SecurityToken"] {
            assert!(!query.contains_key(unsigned), "{unsigned}");
        }
        assert_eq!(query["Format"], "JSON");
    }

    #[test]
    fn a_parameter_given_twice_is_sent_once_with_its_last_value() {
        let request = RpcRequest::new("DescribeDownloadTask", "2021-01-01")
            .param("PageSize", "10")
            .param("PageSize", "100");
        let (query, _) = decoded(&request.encode(None, SystemTime::now()).query);
        assert_eq!(query["PageSize"], "100");
        assert_eq!(request.encode(None, SystemTime::now()).query.matches("PageSize").count(), 1);
    }
}
