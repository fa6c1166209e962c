//! The key a call is signed with, and a secret type that never prints.
//!
//! They live here, in the layer that signs, because signing is the one place that reads a secret;
//! `credentials` decides where keys come from and re-exports both.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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

pub type KeyFuture<'a, E> = Pin<Box<dyn Future<Output = Result<Arc<Credentials>, E>> + Send + 'a>>;

/// Where the key of each attempt comes from: asked before every attempt, so that a source of
/// temporary credentials can refresh them between two.
pub trait KeySource: Send + Sync {
    /// Why no key could be had.
    type Error;

    fn key(&self) -> KeyFuture<'_, Self::Error>;

    /// The service refused the key's STS token (rotated or revoked before its stated expiry):
    /// the next [`key`](Self::key) must not hand it out again.
    fn token_refused(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let creds = Credentials::new("LTAIid", "canary-secret").with_security_token("canary-token");
        let shown =
            format!("{creds:?} {} {}", creds.access_key_secret, creds.security_token.as_ref().unwrap());
        assert!(!shown.contains("canary"), "{shown}");
        assert_eq!(creds.access_key_secret.expose(), "canary-secret");
    }
}
