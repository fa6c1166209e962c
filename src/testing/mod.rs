//! Test support: fakes of STS and of the ECS metadata service, as products on the simulator's
//! [`Gateway`], for this crate's tests and the integration tests. Built only for tests (the
//! `test-support` feature, which the crate's own tests turn on): none of it is in the release
//! binary.
//!
//! Each fake starts on a gateway of its own, or mounts on one shared with other products
//! ([`FakeSts::mount`]): then the temporary credentials STS hands out are keys the gateway
//! accepts for every product, until they expire. Each hands out numbered temporary credentials
//! with a short, adjustable lifetime, fails on request, and records what it saw.
//!
//! Not for production: the fakes keep the secrets they issue in plain strings, so tests can check
//! that none of them leaks.
//!
//! [`Gateway`]: crate::sim::Gateway

mod metadata;
mod sts;

use std::time::SystemTime;

use crate::credentials::format_expiration;

pub use self::metadata::{FakeMetadata, MetadataCounts};
pub use self::sts::{FakeSts, StsCall};

/// Temporary credentials as a fake hands them out (or is told to, with [`FakeSts::plan`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expires_at: SystemTime,
}

impl IssuedCredentials {
    fn numbered(prefix: &str, serial: u64, expires_at: SystemTime) -> Self {
        IssuedCredentials {
            access_key_id: format!("STS.{prefix}{serial}"),
            access_key_secret: format!("{prefix}-secret-{serial}"),
            security_token: format!("{prefix}-token-{serial}"),
            expires_at,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "AccessKeyId": self.access_key_id,
            "AccessKeySecret": self.access_key_secret,
            "SecurityToken": self.security_token,
            "Expiration": format_expiration(self.expires_at),
        })
    }
}
