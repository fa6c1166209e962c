//! Where AccessKeys come from, and a secret type that never prints.
//!
//! The client asks a [`CredentialsProvider`] for credentials before every request, so a provider
//! that refreshes temporary (STS) credentials can slot in without touching the client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// A value that must not reach logs, metrics or error messages.
/// Reading it is an explicit [`Secret::expose`] call at the one place that signs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An AccessKey pair, plus the STS token when the pair is temporary.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub security_token: Option<Secret>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: Secret::new(access_key_secret),
            security_token: None,
        }
    }

    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(Secret::new(token));
        self
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialsError {
    #[error("no credentials: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}")]
    NotConfigured,
    #[error("{variable} is set but empty")]
    Empty { variable: &'static str },
}

pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<Credentials>, CredentialsError>> + Send + 'a>>;

/// Anything that can hand out credentials for the next request.
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    fn credentials(&self) -> CredentialsFuture<'_>;
    /// A short, secret-free description for startup logs ("environment", "static").
    fn describe(&self) -> &'static str;
}

/// Fixed credentials, read once (from the environment, or given by a test or the demo).
#[derive(Debug, Clone)]
pub struct StaticCredentials {
    credentials: Arc<Credentials>,
    source: &'static str,
}

impl StaticCredentials {
    pub fn new(credentials: Credentials) -> Self {
        StaticCredentials { credentials: Arc::new(credentials), source: "static" }
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
        Ok(StaticCredentials { credentials: Arc::new(credentials), source: "environment" })
    }
}

impl CredentialsProvider for StaticCredentials {
    fn credentials(&self) -> CredentialsFuture<'_> {
        let credentials = Arc::clone(&self.credentials);
        Box::pin(async move { Ok(credentials) })
    }

    fn describe(&self) -> &'static str {
        self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn secret_never_prints_its_value() {
        let creds = Credentials::new("LTAIid", "canary-secret").with_security_token("canary-token");
        let shown =
            format!("{creds:?} {} {}", creds.access_key_secret, creds.security_token.as_ref().unwrap());
        assert!(!shown.contains("canary"), "{shown}");
        assert_eq!(creds.access_key_secret.expose(), "canary-secret");
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
