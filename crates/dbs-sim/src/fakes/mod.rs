//! Test support: fakes of STS and of the ECS metadata service, as products on the simulator's
//! [`Gateway`], for the exporter's tests. Built only with this crate's `testing` feature, which
//! only test builds turn on: none of it is in the exporter's release binary.
//!
//! Each fake starts on a gateway of its own, or mounts on one shared with other products
//! ([`FakeSts::mount`]): then the temporary credentials STS hands out are keys the gateway
//! accepts for every product, until they expire. Each hands out numbered temporary credentials
//! with a short, adjustable lifetime, fails on request, and records what it saw.
//!
//! Not for production: the fakes keep the secrets they issue in plain strings, so tests can check
//! that none of them leaks.
//!
//! [`Gateway`]: crate::Gateway

mod metadata;
mod sts;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use time::format_description::well_known::Rfc3339;

use crate::util::lock;

pub use self::metadata::{FakeMetadata, MetadataCounts};
pub use self::sts::{FakeSts, StsCall};

/// Where a fake reads the time: the exporter's credential providers take a clock of the same
/// type, so one [`ManualClock`] can drive both.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The system's clock.
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// An expiration as STS and the metadata service write it: RFC 3339 in UTC.
fn format_expiration(at: SystemTime) -> String {
    time::OffsetDateTime::from(at).format(&Rfc3339).expect("a UTC instant always formats")
}

/// A clock that a test moves by hand, shared by the fakes (for the expirations they write) and
/// the credential providers under test (for when they refresh), so a test sees a lifetime run
/// out without waiting for it.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// Starting at the system's time now; it moves only when told.
    pub fn starting_now() -> Self {
        ManualClock { now: Arc::new(Mutex::new(SystemTime::now())) }
    }

    pub fn now(&self) -> SystemTime {
        *lock(&self.now)
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.now) += by;
    }

    /// Moves the clock to `at`, never back.
    pub fn advance_to(&self, at: SystemTime) {
        let mut now = lock(&self.now);
        *now = (*now).max(at);
    }

    /// This clock as a [`Clock`], for the fakes and the exporter's `CredentialEnv::with_clock`.
    pub fn clock(&self) -> Clock {
        let now = Arc::clone(&self.now);
        Arc::new(move || *lock(&now))
    }
}

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
