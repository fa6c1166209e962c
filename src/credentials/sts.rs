//! STS, RPC style, version 2015-04-01: `AssumeRole` signed with signature V1 by the caller's
//! credentials, and `AssumeRoleWithOIDC`, which carries no signature (the OIDC token is the proof).
//!
//! Both are POSTs: the common parameters travel in the query string, the action's own parameters
//! (the OIDC token among them) in a form body, so that no proxy log shows the token. Signature V1
//! covers the union of both.

use std::time::{Duration, SystemTime};

use time::format_description::well_known::Rfc3339;

use super::refresh::Expiring;
use super::{Credentials, CredentialsError, Secret};
use crate::rpc::{Answer, CaBundle, ClientOptions, RpcClient, RpcError, RpcRequest};

pub const STS_VERSION: &str = "2015-04-01";
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.aliyuncs.com";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(15);
/// Credential answers are a few hundred bytes; anything much larger is not one.
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Where an answer keeps the credentials.
const CREDENTIALS: &str = "Credentials";

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
    rpc: RpcClient,
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
    pub fn new(link: &str, endpoint: &str, ca_bundle: Option<CaBundle>) -> Result<Self, CredentialsError> {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let options = ClientOptions {
            timeout: TIMEOUT,
            connect_timeout: CONNECT_TIMEOUT,
            max_body_bytes: MAX_BODY_BYTES,
            ca_bundle,
            ..ClientOptions::default()
        };
        let rpc = RpcClient::new(options).map_err(|err| from_rpc(link, &endpoint, err))?;
        Ok(Sts { rpc, endpoint })
    }

    pub async fn assume_role(
        &self,
        link: &str,
        caller: &Credentials,
        request: &AssumeRole,
    ) -> Result<Expiring, CredentialsError> {
        let call = sts_request("AssumeRole")
            .param("RoleArn", &request.role_arn)
            .param("RoleSessionName", &request.session_name)
            .param("DurationSeconds", request.duration.as_secs().to_string())
            .optional("ExternalId", request.external_id.as_deref())
            .optional("Policy", request.policy.as_deref());
        self.call(link, &call, Some(caller)).await
    }

    pub async fn assume_role_with_oidc(
        &self,
        link: &str,
        request: &AssumeRoleWithOidc,
    ) -> Result<Expiring, CredentialsError> {
        let call = sts_request("AssumeRoleWithOIDC")
            .param("RoleArn", &request.role_arn)
            .param("OIDCProviderArn", &request.oidc_provider_arn)
            .secret("OIDCToken", &request.token)
            .param("RoleSessionName", &request.session_name)
            .param("DurationSeconds", request.duration.as_secs().to_string());
        self.call(link, &call, None).await
    }

    /// `AssumeRole` is signed by `caller`; `AssumeRoleWithOIDC` carries no signature (the OIDC
    /// token is the proof).
    async fn call(
        &self,
        link: &str,
        request: &RpcRequest,
        caller: Option<&Credentials>,
    ) -> Result<Expiring, CredentialsError> {
        let response = self
            .rpc
            .call(&self.endpoint, request, caller)
            .await
            .map_err(|err| from_rpc(link, &self.endpoint, err))?;
        credentials_in(link, &self.endpoint, response.status(), response.decode(CREDENTIALS))
    }
}

/// An STS action as the SDKs send it: `Format=JSON`, the action's parameters in a form body
/// (so that no proxy log shows an OIDC token), an answer that holds secrets.
fn sts_request(action: &str) -> RpcRequest {
    RpcRequest::new(action, STS_VERSION).format("JSON").in_body().answer_is_secret()
}

/// `{"Credentials": {AccessKeyId, AccessKeySecret, SecurityToken, Expiration}}`, or the error
/// the answer carries. The credentials are read as untyped JSON, so that no decoding message can
/// quote a secret value.
fn credentials_in(
    link: &str,
    endpoint: &str,
    status: u16,
    answer: Result<Answer<serde_json::Value>, RpcError>,
) -> Result<Expiring, CredentialsError> {
    let answer = answer.map_err(|err| from_rpc(link, endpoint, err))?;
    credentials_from(&answer.payload).map_err(|detail| CredentialsError::Malformed {
        link: link.to_string(),
        endpoint: endpoint.to_string(),
        detail: format!("HTTP {status}: {detail}"),
    })
}

/// A failed call, told as the credential link it was made for.
pub(super) fn from_rpc(link: &str, endpoint: &str, err: RpcError) -> CredentialsError {
    let (link, endpoint) = (link.to_string(), endpoint.to_string());
    match err {
        RpcError::Setup { detail } => {
            CredentialsError::Invalid { link, message: format!("cannot build an HTTP client: {detail}") }
        }
        RpcError::Transport { detail, .. } => CredentialsError::Transport { link, endpoint, detail },
        RpcError::Certificate { detail, .. } => CredentialsError::Transport {
            link,
            endpoint,
            detail: format!(
                "TLS certificate refused ({detail}): give its CA with tls.ca_file or SSL_CERT_FILE"
            ),
        },
        RpcError::Http { status, code, message, request_id, .. } => {
            CredentialsError::Service { link, status, code, message, request_id }
        }
        RpcError::InBand { code, message, request_id } => {
            CredentialsError::Service { link, status: 200, code, message, request_id }
        }
        RpcError::Decode { status, detail, .. } => {
            CredentialsError::Malformed { link, endpoint, detail: format!("HTTP {status}: {detail}") }
        }
        RpcError::BodyTooLarge { status, cap } => CredentialsError::Malformed {
            link,
            endpoint,
            detail: format!("HTTP {status}: the body exceeds {cap} bytes"),
        },
    }
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

/// `Expiration` as STS and the metadata service write it (RFC 3339, UTC), with fractional
/// seconds when the instant has them.
pub fn format_expiration(at: SystemTime) -> String {
    time::OffsetDateTime::from(at).format(&Rfc3339).unwrap_or_else(|_| format!("{at:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{decode_answer, sign, Payload};
    use time::macros::datetime;

    fn decode(link: &str, endpoint: &str, status: u16, body: &str) -> Result<Expiring, CredentialsError> {
        let answer = decode_answer(status, body.as_bytes(), None, Payload::secret(CREDENTIALS));
        credentials_in(link, endpoint, status, answer)
    }

    #[test]
    fn an_sts_answer_gives_four_fields_and_the_expiration() {
        let body = r#"{"RequestId":"R","AssumedRoleUser":{"Arn":"a"},"Credentials":{"AccessKeyId":"STS.id","AccessKeySecret":"canary-s","SecurityToken":"canary-t","Expiration":"2025-01-02T03:04:05Z"}}"#;
        let got = decode("oidc", "https://sts", 200, body).unwrap();
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
        let err = decode("oidc", "https://sts", 400, body).unwrap_err();
        assert_eq!(err.to_string(), "oidc: HTTP 400 InvalidParameter.RoleArn: bad arn (RequestId R-1)");
    }

    #[test]
    fn a_broken_answer_never_quotes_its_values() {
        let body = r#"{"Credentials":{"AccessKeyId":"STS.id","AccessKeySecret":"canary-s","SecurityToken":"canary-t","Expiration":"canary-e"}}"#;
        let err = decode("oidc", "https://sts", 200, body).unwrap_err().to_string();
        assert!(err.contains("Expiration"), "{err}");
        assert!(!err.contains("canary-s") && !err.contains("canary-t"), "{err}");
        let err = decode("oidc", "https://sts", 200, r#"{"Credentials":{"AccessKeyId":7}}"#).unwrap_err();
        assert!(err.to_string().contains("AccessKeyId"), "{err}");
    }

    #[test]
    fn secrets_quoted_by_the_service_are_scrubbed() {
        let token = "canary/tok+en=";
        let twice = sign::percent_encode(&sign::percent_encode(token));
        let body = format!(
            r#"{{"RequestId":"R","Code":"SignatureDoesNotMatch","Message":"string to sign: {twice} {token}"}}"#
        );
        let answer = decode_answer(400, body.as_bytes(), None, Payload::secret(CREDENTIALS));
        let text = credentials_in("x", "e", 400, answer.map_err(|err| err.redact(&[token])))
            .unwrap_err()
            .to_string();
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
