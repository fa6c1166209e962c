//! Where AccessKeys come from, and a secret type that never prints.
//!
//! The client asks a [`CredentialsProvider`] for credentials before every request, so a provider
//! that refreshes temporary (STS) credentials slots in without touching the client.
//!
//! [`CredentialEnv::default_chain`] picks the first configured link of the chain Alibaba's own
//! SDKs use (environment, OIDC/RRSA, CLI profile, credentials file, ECS RAM role);
//! [`CredentialEnv::provider`] builds the provider of one configured account (a source, maybe
//! with an STS `AssumeRole` on top). `docs/credentials.md` is the operator's guide.

mod assume_role;
mod chain;
mod cli_profile;
mod ecs;
mod env;
mod oidc;
mod profile;
mod refresh;
mod spec;
mod sts;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

pub use self::chain::{default_chain, from_process_env, CredentialEndpoints, CredentialEnv};
pub use self::ecs::{TOKEN_HEADER as ECS_TOKEN_HEADER, TOKEN_TTL_HEADER as ECS_TOKEN_TTL_HEADER};
pub use self::refresh::{system_clock, Clock};
pub use self::spec::{AssumeRoleSpec, CredentialSource, CredentialSpec, DEFAULT_ROLE_SESSION_NAME};
pub use self::sts::format_expiration;
pub use crate::rpc::{Credentials, Secret};
use crate::rpc::{KeyFuture, KeySource};

pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
/// OIDC / RRSA: all three set means the pod assumes a RAM role with its service-account token.
pub const ENV_ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
pub const ENV_OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
pub const ENV_OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
pub const ENV_ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
/// The STS endpoint, as a host (`sts-vpc.cn-hangzhou.aliyuncs.com`) or a URL; ACK's RRSA webhook
/// sets it. Without it: `sts.<region>.aliyuncs.com`, or with the VPC switch
/// `sts-vpc.<region>.aliyuncs.com`, or `sts.aliyuncs.com`.
pub const ENV_STS_ENDPOINT: &str = "ALIBABA_CLOUD_STS_ENDPOINT";
pub const ENV_STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";
pub const ENV_VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";
pub const ENV_CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";
pub const ENV_PROFILE: &str = "ALIBABA_CLOUD_PROFILE";
pub const ENV_CLI_PROFILE_DISABLED: &str = "ALIBABA_CLOUD_CLI_PROFILE_DISABLED";
/// The ECS instance's RAM role name; when unset it is listed by the metadata service.
pub const ENV_ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
pub const ENV_ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
pub const ENV_IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";

/// Why no usable credentials could be had. Messages name the link of the chain (`oidc`,
/// `ecs-ram-role`, `credentials-file`, ...) and never carry a secret: service messages are
/// scrubbed of every token the request carried.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialsError {
    /// Nothing configured, and the ECS link switched off with `ALIBABA_CLOUD_ECS_METADATA_DISABLED`.
    #[error("no credentials: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, or use RRSA, a credentials file or an ECS RAM role (docs/credentials.md)")]
    NotConfigured,
    #[error("{variable} is set but empty")]
    Empty { variable: &'static str },
    /// A link is configured wrongly: a half-set group of variables, an unreadable or malformed
    /// file, an unsupported profile type. Found when the chain is built, or at a refresh.
    #[error("{link}: {message}")]
    Invalid { link: String, message: String },
    /// STS or the metadata service answered with an error.
    #[error("{link}: HTTP {status} {code}: {message} (RequestId {request_id})")]
    Service { link: String, status: u16, code: String, message: String, request_id: String },
    /// STS or the metadata service could not be reached, or did not answer in time.
    #[error("{link}: cannot reach {endpoint}: {detail}")]
    Transport { link: String, endpoint: String, detail: String },
    /// An answer that is not what the service is documented to send.
    #[error("{link}: unexpected answer from {endpoint}: {detail}")]
    Malformed { link: String, endpoint: String, detail: String },
    /// The temporary credentials ran out and no refresh has succeeded since.
    #[error(
        "{link}: temporary credentials expired at {expired_at} and could not be refreshed: {last_error}"
    )]
    Expired { link: String, expired_at: String, last_error: String },
}

impl CredentialsError {
    pub(crate) fn invalid(link: impl Into<String>, message: impl Into<String>) -> Self {
        CredentialsError::Invalid { link: link.into(), message: message.into() }
    }
}

pub type CredentialsFuture<'a> = KeyFuture<'a, CredentialsError>;

/// Anything that can hand out credentials for the next request.
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// Credentials valid now. A refreshing provider never returns credentials past their
    /// expiration: it fails instead.
    fn credentials(&self) -> CredentialsFuture<'_>;

    /// A short, secret-free description for startup logs: `environment`, `oidc:<role arn>`,
    /// `credentials-file:default`, `ecs-ram-role:<role>`, `assume-role:<arn> via <base>`.
    fn describe(&self) -> &str;

    /// Failed fetches of temporary credentials since start (this provider's and those of the
    /// provider it builds on), for `aliyun_dbs_credentials_refresh_errors_total`.
    fn refresh_errors(&self) -> u64 {
        0
    }

    /// Tells the provider the service refused its current credentials (`InvalidSecurityToken.*`):
    /// the next call fetches new ones. Fixed credentials have nothing to forget.
    fn invalidate(&self) {}
}

/// Every call signs with the provider's current credentials.
impl KeySource for dyn CredentialsProvider + '_ {
    type Error = CredentialsError;

    fn key(&self) -> CredentialsFuture<'_> {
        self.credentials()
    }

    fn token_refused(&self) {
        self.invalidate();
    }
}

/// Fixed credentials, read once (from the environment or a file, or given by a test or the demo).
#[derive(Debug, Clone)]
pub struct StaticCredentials {
    credentials: Arc<Credentials>,
    source: Cow<'static, str>,
}

impl StaticCredentials {
    pub fn new(credentials: Credentials) -> Self {
        StaticCredentials { credentials: Arc::new(credentials), source: Cow::Borrowed("static") }
    }

    /// Reads `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and the optional
    /// `ALIBABA_CLOUD_SECURITY_TOKEN`.
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same as [`from_env`](Self::from_env) over any variable lookup, so tests need not
    /// mutate the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let id = lookup(ENV_ACCESS_KEY_ID);
        let secret = lookup(ENV_ACCESS_KEY_SECRET);
        let (id, secret) = match (id, secret) {
            (Some(id), Some(secret)) => (id, secret),
            _ => return Err(CredentialsError::NotConfigured),
        };
        if id.trim().is_empty() {
            return Err(CredentialsError::Empty { variable: ENV_ACCESS_KEY_ID });
        }
        if secret.is_empty() {
            return Err(CredentialsError::Empty { variable: ENV_ACCESS_KEY_SECRET });
        }
        let mut credentials = Credentials::new(id.trim(), secret);
        if let Some(token) = lookup(ENV_SECURITY_TOKEN).filter(|t| !t.is_empty()) {
            credentials = credentials.with_security_token(token);
        }
        Ok(StaticCredentials::described(credentials, "environment"))
    }

    /// Fixed credentials that say where they came from (`cli-profile:default`).
    pub(crate) fn described(credentials: Credentials, source: impl Into<Cow<'static, str>>) -> Self {
        StaticCredentials { credentials: Arc::new(credentials), source: source.into() }
    }
}

impl CredentialsProvider for StaticCredentials {
    fn credentials(&self) -> CredentialsFuture<'_> {
        let credentials = Arc::clone(&self.credentials);
        Box::pin(async move { Ok(credentials) })
    }

    fn describe(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn environment_gives_key_secret_and_optional_token() {
        let vars = [(ENV_ACCESS_KEY_ID, "LTAIid"), (ENV_ACCESS_KEY_SECRET, "s3cret")];
        let provider = StaticCredentials::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(provider.credentials.access_key_id, "LTAIid");
        assert!(provider.credentials.security_token.is_none());

        let vars = [(ENV_ACCESS_KEY_ID, "STS.id"), (ENV_ACCESS_KEY_SECRET, "s"), (ENV_SECURITY_TOKEN, "tok")];
        let provider = StaticCredentials::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(provider.credentials.security_token.as_ref().unwrap().expose(), "tok");
        assert_eq!(provider.describe(), "environment");
    }

    #[test]
    fn missing_or_empty_variables_are_named() {
        let err = StaticCredentials::from_lookup(lookup(&[])).unwrap_err();
        assert!(err.to_string().contains(ENV_ACCESS_KEY_ID));
        let vars = [(ENV_ACCESS_KEY_ID, "id"), (ENV_ACCESS_KEY_SECRET, "")];
        let err = StaticCredentials::from_lookup(lookup(&vars)).unwrap_err();
        assert!(err.to_string().contains(ENV_ACCESS_KEY_SECRET));
    }
}
