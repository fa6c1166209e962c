//! The RAM role of the ECS instance, from the instance metadata service.
//!
//! IMDSv2 first: `PUT /latest/api/token` with `X-aliyun-ecs-metadata-token-ttl-seconds` gives a
//! session token that every metadata read then carries in `X-aliyun-ecs-metadata-token`. When the
//! token cannot be had, the reads go without it (IMDSv1), unless `ALIBABA_CLOUD_IMDSV1_DISABLED`
//! forbids that. The role is `ALIBABA_CLOUD_ECS_METADATA`, or the one the service lists.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::refresh::{Expiring, Fetch, FetchFuture};
use super::sts::{credentials_from, from_rpc, MAX_BODY_BYTES};
use super::{CredentialsError, Secret};
use crate::rpc::transport::{self, ClientOptions, HttpAnswer};
use crate::util::lock;

pub const DEFAULT_METADATA_ENDPOINT: &str = "http://100.100.100.200";
const TOKEN_PATH: &str = "/latest/api/token";
const ROLES_PATH: &str = "/latest/meta-data/ram/security-credentials/";
pub const TOKEN_TTL_HEADER: &str = "X-aliyun-ecs-metadata-token-ttl-seconds";
pub const TOKEN_HEADER: &str = "X-aliyun-ecs-metadata-token";
/// A token lives for one fetch; the shortest TTL the service accepts would do, a minute is ample.
const TOKEN_TTL_SECONDS: u32 = 60;

/// The service is on the instance's own link: it answers in milliseconds or not at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(5);

const LINK: &str = "ecs-ram-role";

#[derive(Debug)]
pub(super) struct EcsFetcher {
    http: reqwest::Client,
    endpoint: String,
    imdsv1_disabled: bool,
    configured_role: Option<String>,
    /// The listed role, forgotten when the service stops knowing it (the role was swapped).
    listed_role: Mutex<Option<String>>,
    described: OnceLock<String>,
}

impl EcsFetcher {
    pub fn new(
        endpoint: &str,
        role: Option<String>,
        imdsv1_disabled: bool,
    ) -> Result<Self, CredentialsError> {
        let described = OnceLock::new();
        if let Some(role) = &role {
            let _ = described.set(format!("{LINK}:{role}"));
        }
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let options = ClientOptions {
            timeout: TIMEOUT,
            connect_timeout: CONNECT_TIMEOUT,
            max_body_bytes: MAX_BODY_BYTES,
            use_proxies: false,
            ..ClientOptions::default()
        };
        Ok(EcsFetcher {
            http: transport::client(&options).map_err(|err| from_rpc(LINK, &endpoint, err))?,
            endpoint,
            imdsv1_disabled,
            configured_role: role,
            listed_role: Mutex::new(None),
            described,
        })
    }

    /// The IMDSv2 session token, or `None` to read without one (IMDSv1).
    async fn session_token(&self) -> Result<Option<Secret>, CredentialsError> {
        let request = self
            .http
            .put(format!("{}{TOKEN_PATH}", self.endpoint))
            .header(TOKEN_TTL_HEADER, TOKEN_TTL_SECONDS);
        let failure = match self.send(request).await {
            Ok(answer) if answer.status == 200 && !answer.text().trim().is_empty() => {
                return Ok(Some(Secret::new(answer.text().trim())));
            }
            Ok(answer) => self.refusal(&answer, "the IMDSv2 token"),
            Err(err) => err,
        };
        if self.imdsv1_disabled {
            return Err(CredentialsError::invalid(
                self.describe(),
                format!(
                    "no IMDSv2 token, and {}=true forbids reading without one: {failure}",
                    super::ENV_IMDSV1_DISABLED
                ),
            ));
        }
        tracing::debug!(error = %failure, "no IMDSv2 token; reading the metadata without one (IMDSv1)");
        Ok(None)
    }

    async fn get(&self, path: &str, token: Option<&Secret>) -> Result<HttpAnswer, CredentialsError> {
        let mut request = self.http.get(format!("{}{path}", self.endpoint));
        if let Some(token) = token {
            request = request.header(TOKEN_HEADER, token.expose());
        }
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<HttpAnswer, CredentialsError> {
        transport::send(request, &self.endpoint, MAX_BODY_BYTES)
            .await
            .map_err(|err| from_rpc(self.describe(), &self.endpoint, err))
    }

    async fn role(&self, token: Option<&Secret>) -> Result<String, CredentialsError> {
        if let Some(role) = &self.configured_role {
            return Ok(role.clone());
        }
        if let Some(role) = lock(&self.listed_role).clone() {
            return Ok(role);
        }
        let answer = self.get(ROLES_PATH, token).await?;
        if answer.status != 200 {
            return Err(self.refusal(&answer, "the RAM role list (is a RAM role attached to the instance?)"));
        }
        let text = answer.text();
        let Some(role) = text.lines().map(str::trim).find(|line| !line.is_empty()) else {
            return Err(CredentialsError::invalid(
                self.describe(),
                "no RAM role is attached to this ECS instance",
            ));
        };
        if self.described.set(format!("{LINK}:{role}")).is_ok() {
            tracing::info!(role, "credentials: the ECS instance's RAM role");
        }
        *lock(&self.listed_role) = Some(role.to_string());
        Ok(role.to_string())
    }

    async fn fetch_credentials(&self) -> Result<Expiring, CredentialsError> {
        let token = self.session_token().await?;
        let role = self.role(token.as_ref()).await?;
        let answer = self.get(&format!("{ROLES_PATH}{role}"), token.as_ref()).await?;
        if answer.status == 404 {
            *lock(&self.listed_role) = None;
        }
        if answer.status != 200 {
            return Err(self.refusal(&answer, &format!("the credentials of role {role}")));
        }
        let malformed = |detail: String| CredentialsError::Malformed {
            link: self.describe().to_string(),
            endpoint: self.endpoint.clone(),
            detail,
        };
        let body: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|err| malformed(format!("not JSON ({err})")))?;
        let code = body.get("Code").and_then(|v| v.as_str()).unwrap_or("");
        if code != "Success" {
            return Err(CredentialsError::Service {
                link: self.describe().to_string(),
                status: answer.status,
                code: code.to_string(),
                message: format!("the metadata service did not answer Success for role {role}"),
                request_id: "none".into(),
            });
        }
        credentials_from(&body).map_err(malformed)
    }

    /// A non-200 answer about `what`. Its body is never quoted: it might be a token.
    fn refusal(&self, answer: &HttpAnswer, what: &str) -> CredentialsError {
        CredentialsError::Service {
            link: self.describe().to_string(),
            status: answer.status,
            code: String::new(),
            message: format!("the metadata service refused {what}"),
            request_id: "none".into(),
        }
    }
}

impl Fetch for EcsFetcher {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(self.fetch_credentials())
    }

    fn describe(&self) -> &str {
        self.described.get().map_or(LINK, String::as_str)
    }
}
