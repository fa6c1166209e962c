//! One RPC-style call: the common parameters, the V1 signature over them and the action's own,
//! the POST, and the answer read whole.

use std::collections::BTreeMap;
use std::time::SystemTime;

use rand::RngCore;
use serde::Deserialize;

use super::answer::{decode_answer, Answer, Payload};
use super::error::RpcError;
use super::http::{self, ClientOptions, HttpAnswer};
use super::key::{Credentials, Secret};
use super::sign;
use super::timestamp::format_timestamp;

/// An action of some product's API, with its own parameters.
#[derive(Clone, Debug)]
pub struct RpcRequest {
    action: String,
    version: &'static str,
    format: &'static str,
    params: BTreeMap<String, String>,
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
            params: BTreeMap::new(),
            in_body: false,
            secrets: Vec::new(),
            answer_is_secret: false,
        }
    }

    pub fn action(&self) -> &str {
        &self.action
    }

    /// Adds an action parameter; values are sent as the API wants them, all strings.
    pub fn param(mut self, key: &str, value: impl Into<String>) -> Self {
        self.params.insert(key.to_string(), value.into());
        self
    }

    /// Adds the parameter when there is a value.
    pub fn optional(self, key: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.param(key, value),
            None => self,
        }
    }

    /// A parameter that is itself a secret (an OIDC token): scrubbed from error messages.
    pub fn secret(mut self, key: &str, value: &Secret) -> Self {
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

    /// The common parameters and, given a key, the signature parameters and the signature over
    /// every parameter (query and body alike). `Signature` itself is left out of the query.
    fn common(
        &self,
        key: Option<&Credentials>,
        now: SystemTime,
    ) -> (BTreeMap<String, String>, Option<String>) {
        let mut query: BTreeMap<String, String> = [
            ("Action", self.action.clone()),
            ("Version", self.version.to_string()),
            ("Format", self.format.to_string()),
            ("Timestamp", format_timestamp(now)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if !self.in_body {
            query.extend(self.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let Some(key) = key else {
            return (query, None);
        };
        let signing = [
            ("SignatureNonce", new_nonce()),
            ("SignatureMethod", sign::SIGNATURE_METHOD.to_string()),
            ("SignatureVersion", sign::SIGNATURE_VERSION.to_string()),
            ("AccessKeyId", key.access_key_id.clone()),
        ];
        query.extend(signing.into_iter().map(|(k, v)| (k.to_string(), v)));
        if let Some(token) = &key.security_token {
            query.insert("SecurityToken".into(), token.expose().to_string());
        }
        let signature = if self.in_body {
            let mut everything = query.clone();
            everything.extend(self.params.iter().map(|(k, v)| (k.clone(), v.clone())));
            sign::sign_params("POST", &everything, key.access_key_secret.expose())
        } else {
            sign::sign_params("POST", &query, key.access_key_secret.expose())
        };
        (query, Some(signature))
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
    options: ClientOptions,
}

impl RpcClient {
    pub fn new(options: ClientOptions) -> Result<Self, RpcError> {
        Ok(RpcClient { http: http::client(&options)?, options })
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
        let (query, signature) = request.common(key, SystemTime::now());
        // The official SDKs POST with the parameters in the query string; `Signature` travels last.
        let mut url = format!("{}/?{}", endpoint.trim_end_matches('/'), sign::canonical_query(&query));
        if let Some(signature) = &signature {
            url.push_str("&Signature=");
            url.push_str(&sign::percent_encode(signature));
        }
        let http_request = if request.in_body {
            self.http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(sign::canonical_query(&request.params))
        } else {
            self.http.post(url).header(reqwest::header::CONTENT_LENGTH, "0")
        };
        let answer = http::send(http_request, endpoint, self.options.max_body_bytes).await?;
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
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn nonces_are_unique() {
        let nonces: HashSet<String> = (0..1000).map(|_| new_nonce()).collect();
        assert_eq!(nonces.len(), 1000);
    }

    #[test]
    fn sts_credentials_sign_their_token_and_the_signature_verifies() {
        let creds = Credentials::new("STS.id", "secret").with_security_token("tok");
        let request =
            RpcRequest::new("DescribeDownloadTask", "2021-01-01").param("RegionCode", "cn-hangzhou");
        let (params, signature) = request.common(Some(&creds), SystemTime::now());
        assert_eq!(params["SecurityToken"], "tok");
        assert_eq!(params["Format"], "json");
        assert_eq!(params["RegionCode"], "cn-hangzhou");
        assert_eq!(sign::sign_params("POST", &params, "secret"), signature.unwrap());
    }

    #[test]
    fn body_parameters_are_signed_but_stay_out_of_the_query() {
        let creds = Credentials::new("LTAIid", "secret");
        let request =
            RpcRequest::new("AssumeRole", "2015-04-01").param("RoleArn", "acs:ram::1:role/r").in_body();
        let (query, signature) = request.common(Some(&creds), SystemTime::now());
        assert!(!query.contains_key("RoleArn"));
        let mut everything = query.clone();
        everything.insert("RoleArn".into(), "acs:ram::1:role/r".into());
        assert_eq!(sign::sign_params("POST", &everything, "secret"), signature.unwrap());
    }

    #[test]
    fn an_unsigned_call_carries_no_signature_parameters() {
        let request = RpcRequest::new("AssumeRoleWithOIDC", "2015-04-01").format("JSON");
        let (query, signature) = request.common(None, SystemTime::now());
        assert_eq!(signature, None);
        for unsigned in ["AccessKeyId", "SignatureNonce", "SignatureMethod", "SecurityToken"] {
            assert!(!query.contains_key(unsigned), "{unsigned}");
        }
        assert_eq!(query["Format"], "JSON");
    }
}
