//! STS, RPC style, version 2015-04-01: `AssumeRole` signed with signature V1 by the caller's
//! credentials, and `AssumeRoleWithOIDC`, which carries no signature (the OIDC token is the proof).
//!
//! Both are POSTs: the common parameters travel in the query string, the action's own parameters
//! (the OIDC token among them) in a form body, so that no proxy log shows the token. Signature V1
//! covers the union of both.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use rand::RngCore;
use time::format_description::well_known::Rfc3339;

use super::http::{self, Answer, Route};
use super::refresh::Expiring;
use super::{Credentials, CredentialsError, Secret};
use crate::api::sign;

pub const STS_VERSION: &str = "2015-04-01";
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.aliyuncs.com";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(15);

/// The STS endpoint the SDKs pick from the environment: `sts.aliyuncs.com`, the region's
/// `sts.<region>.aliyuncs.com`, or inside a VPC `sts-vpc.<region>.aliyuncs.com`.
pub(super) fn endpoint_for(region: Option<&str>, vpc: bool) -> Result<String, CredentialsError> {
    match (region, vpc) {
        (Some(region), true) => Ok(format!("https://sts-vpc.{region}.aliyuncs.com")),
        (None, true) => Err(CredentialsError::invalid(
            "sts",
            format!(
                "{}=true needs {} (the VPC endpoint is per region)",
                super::ENV_VPC_ENDPOINT_ENABLED,
                super::ENV_STS_REGION
            ),
        )),
        (Some(region), false) => Ok(format!("https://sts.{region}.aliyuncs.com")),
        (None, false) => Ok(DEFAULT_STS_ENDPOINT.to_string()),
    }
}

/// A host gets `https://`; a URL is taken as written (tests use `http://127.0.0.1:<port>`).
pub(super) fn endpoint_url(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    }
}

/// A client of one STS endpoint.
#[derive(Clone, Debug)]
pub(super) struct Sts {
    http: reqwest::Client,
    endpoint: String,
}

/// The parameters of `AssumeRole`.
#[derive(Clone, Debug)]
pub(super) struct AssumeRole {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub policy: Option<String>,
    pub duration: Duration,
}

/// The parameters of `AssumeRoleWithOIDC`.
#[derive(Clone, Debug)]
pub(super) struct AssumeRoleWithOidc {
    pub role_arn: String,
    pub oidc_provider_arn: String,
    pub token: Secret,
    pub session_name: String,
    pub duration: Duration,
}

impl Sts {
    pub fn new(link: &str, endpoint: &str) -> Result<Self, CredentialsError> {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        Ok(Sts { http: http::client(link, Route::ProxiesAllowed, CONNECT_TIMEOUT, TIMEOUT)?, endpoint })
    }

    pub async fn assume_role(
        &self,
        link: &str,
        caller: &Credentials,
        request: &AssumeRole,
    ) -> Result<Expiring, CredentialsError> {
        let mut common = common_params("AssumeRole");
        common.insert("SignatureMethod".into(), sign::SIGNATURE_METHOD.into());
        common.insert("SignatureVersion".into(), sign::SIGNATURE_VERSION.into());
        common.insert("SignatureNonce".into(), nonce());
        common.insert("AccessKeyId".into(), caller.access_key_id.clone());
        if let Some(token) = &caller.security_token {
            common.insert("SecurityToken".into(), token.expose().to_string());
        }
        let mut form = BTreeMap::new();
        form.insert("RoleArn".to_string(), request.role_arn.clone());
        form.insert("RoleSessionName".to_string(), request.session_name.clone());
        form.insert("DurationSeconds".to_string(), request.duration.as_secs().to_string());
        if let Some(external_id) = &request.external_id {
            form.insert("ExternalId".to_string(), external_id.clone());
        }
        if let Some(policy) = &request.policy {
            form.insert("Policy".to_string(), policy.clone());
        }
        let mut signed: BTreeMap<String, String> = common.clone();
        signed.extend(form.clone());
        let signature = sign::sign_params("POST", &signed, caller.access_key_secret.expose());
        common.insert("Signature".into(), signature);

        let mut scrub = vec![caller.access_key_secret.expose().to_string()];
        scrub.extend(caller.security_token.as_ref().map(|t| t.expose().to_string()));
        self.post(link, &common, &form, &scrub).await
    }

    pub async fn assume_role_with_oidc(
        &self,
        link: &str,
        request: &AssumeRoleWithOidc,
    ) -> Result<Expiring, CredentialsError> {
        let common = common_params("AssumeRoleWithOIDC");
        let mut form = BTreeMap::new();
        form.insert("RoleArn".to_string(), request.role_arn.clone());
        form.insert("OIDCProviderArn".to_string(), request.oidc_provider_arn.clone());
        form.insert("OIDCToken".to_string(), request.token.expose().to_string());
        form.insert("RoleSessionName".to_string(), request.session_name.clone());
        form.insert("DurationSeconds".to_string(), request.duration.as_secs().to_string());
        self.post(link, &common, &form, &[request.token.expose().to_string()]).await
    }

    async fn post(
        &self,
        link: &str,
        query: &BTreeMap<String, String>,
        form: &BTreeMap<String, String>,
        scrub: &[String],
    ) -> Result<Expiring, CredentialsError> {
        let url = format!("{}/?{}", self.endpoint, encode(query));
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encode(form));
        let answer = http::send(link, &self.endpoint, request).await?;
        decode(link, &self.endpoint, &answer).map_err(|err| redact(err, scrub))
    }
}

fn common_params(action: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    params.insert("Action".to_string(), action.to_string());
    params.insert("Version".to_string(), STS_VERSION.to_string());
    params.insert("Format".to_string(), "JSON".to_string());
    params.insert(
        "Timestamp".to_string(),
        crate::api::client::format_timestamp(time::OffsetDateTime::now_utc()),
    );
    params
}

/// `k=v&...`, both sides percent-encoded as the signature encodes them (valid form encoding too).
fn encode(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(key, value)| format!("{}={}", sign::percent_encode(key), sign::percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// 128 random bits as hex: a replayed AssumeRole is refused by the gateway.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `{"Credentials": {AccessKeyId, AccessKeySecret, SecurityToken, Expiration}}`, or an error body
/// `{RequestId, HostId, Code, Message, Recommend}`. The body is read as untyped JSON first, so
/// that no decoding message can quote a secret value.
pub(super) fn decode(link: &str, endpoint: &str, answer: &Answer) -> Result<Expiring, CredentialsError> {
    let malformed = |detail: String| CredentialsError::Malformed {
        link: link.to_string(),
        endpoint: endpoint.to_string(),
        detail: format!("HTTP {}: {detail}", answer.status),
    };
    let body: serde_json::Value = match serde_json::from_slice(&answer.body) {
        Ok(body) => body,
        Err(_) if answer.status >= 400 => {
            return Err(CredentialsError::Service {
                link: link.to_string(),
                status: answer.status,
                code: String::new(),
                message: "the answer is not JSON".into(),
                request_id: "none".into(),
            })
        }
        Err(err) => return Err(malformed(format!("not JSON ({err})"))),
    };
    let text = |value: &serde_json::Value, key: &str| {
        value.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string()
    };
    let error_code = body.get("Code").is_some_and(|code| !code.is_null());
    if answer.status >= 400 || (error_code && body.get("Credentials").is_none()) {
        return Err(CredentialsError::Service {
            link: link.to_string(),
            status: answer.status,
            code: text(&body, "Code"),
            message: text(&body, "Message"),
            request_id: Some(text(&body, "RequestId"))
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| "none".into()),
        });
    }
    let Some(credentials) = body.get("Credentials") else {
        return Err(malformed("no `Credentials` in the answer".into()));
    };
    credentials_from(credentials).map_err(malformed)
}

/// The four fields STS and the metadata service both answer with.
pub(super) fn credentials_from(value: &serde_json::Value) -> Result<Expiring, String> {
    let field = |key: &str| match value.get(key).and_then(|v| v.as_str()) {
        Some(text) if !text.is_empty() => Ok(text.to_string()),
        _ => Err(format!("`{key}` is missing or empty")),
    };
    let credentials = Credentials::new(field("AccessKeyId")?, field("AccessKeySecret")?)
        .with_security_token(field("SecurityToken")?);
    let expiration = field("Expiration")?;
    let expires_at = parse_expiration(&expiration).ok_or_else(|| {
        format!("`Expiration` {expiration:?} is not a UTC time such as 2025-01-02T03:04:05Z")
    })?;
    Ok(Expiring { credentials, expires_at })
}

/// `2025-01-02T03:04:05Z`, with or without fractional seconds.
pub(super) fn parse_expiration(text: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(text.trim(), &Rfc3339).ok().map(SystemTime::from)
}

/// Removes every secret the request carried from the service's message, in each encoding it may
/// be quoted in (`SignatureDoesNotMatch` quotes the string-to-sign, encoded twice).
fn redact(err: CredentialsError, secrets: &[String]) -> CredentialsError {
    let scrub = |mut text: String| {
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            let once = sign::percent_encode(secret);
            let twice = sign::percent_encode(&once);
            text = text.replace(&twice, "***").replace(&once, "***").replace(secret.as_str(), "***");
        }
        text
    };
    match err {
        CredentialsError::Service { link, status, code, message, request_id } => {
            CredentialsError::Service { link, status, code, message: scrub(message), request_id }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn an_sts_answer_gives_four_fields_and_the_expiration() {
        let body = r#"{"RequestId":"R","AssumedRoleUser":{"Arn":"a"},"Credentials":{"AccessKeyId":"STS.id","AccessKeySecret":"canary-s","SecurityToken":"canary-t","Expiration":"2025-01-02T03:04:05Z"}}"#;
        let got = decode("oidc", "https://sts", &answer(200, body)).unwrap();
        assert_eq!(got.credentials.access_key_id, "STS.id");
        assert_eq!(got.credentials.security_token.unwrap().expose(), "canary-t");
        assert_eq!(got.expires_at, SystemTime::from(datetime!(2025-01-02 03:04:05 UTC)));
    }

    #[test]
    fn fractional_seconds_in_the_expiration_are_accepted() {
        let at = parse_expiration("2025-01-02T03:04:05.250Z").unwrap();
        assert_eq!(at, SystemTime::from(datetime!(2025-01-02 03:04:05.25 UTC)));
        assert_eq!(parse_expiration("2025-01-02 03:04:05"), None);
    }

    #[test]
    fn an_error_body_becomes_a_service_error_with_its_code_and_request_id() {
        let body = r#"{"RequestId":"R-1","HostId":"sts.aliyuncs.com","Code":"InvalidParameter.RoleArn","Message":"bad arn","Recommend":"x"}"#;
        let err = decode("oidc", "https://sts", &answer(400, body)).unwrap_err();
        assert_eq!(err.to_string(), "oidc: HTTP 400 InvalidParameter.RoleArn: bad arn (RequestId R-1)");
    }

    #[test]
    fn a_broken_answer_never_quotes_its_values() {
        let body = r#"{"Credentials":{"AccessKeyId":"STS.id","AccessKeySecret":"canary-s","SecurityToken":"canary-t","Expiration":"canary-e"}}"#;
        let err = decode("oidc", "https://sts", &answer(200, body)).unwrap_err().to_string();
        assert!(err.contains("Expiration"), "{err}");
        assert!(!err.contains("canary-s") && !err.contains("canary-t"), "{err}");
        let err =
            decode("oidc", "https://sts", &answer(200, r#"{"Credentials":{"AccessKeyId":7}}"#)).unwrap_err();
        assert!(err.to_string().contains("AccessKeyId"), "{err}");
    }

    #[test]
    fn secrets_quoted_by_the_service_are_scrubbed() {
        let token = "canary/tok+en=";
        let twice = sign::percent_encode(&sign::percent_encode(token));
        let body = format!(
            r#"{{"RequestId":"R","Code":"SignatureDoesNotMatch","Message":"string to sign: {twice} {token}"}}"#
        );
        let err = decode("x", "e", &answer(400, &body)).unwrap_err();
        let text = redact(err, &[token.to_string()]).to_string();
        assert!(!text.contains("canary"), "{text}");
    }

    #[test]
    fn the_endpoint_follows_region_and_vpc_switch() {
        assert_eq!(endpoint_for(None, false).unwrap(), "https://sts.aliyuncs.com");
        assert_eq!(endpoint_for(Some("cn-hangzhou"), false).unwrap(), "https://sts.cn-hangzhou.aliyuncs.com");
        assert_eq!(
            endpoint_for(Some("cn-shanghai"), true).unwrap(),
            "https://sts-vpc.cn-shanghai.aliyuncs.com"
        );
        assert!(endpoint_for(None, true).unwrap_err().to_string().contains("ALIBABA_CLOUD_STS_REGION"));
        assert_eq!(
            endpoint_url("sts-vpc.cn-hangzhou.aliyuncs.com"),
            "https://sts-vpc.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(endpoint_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
