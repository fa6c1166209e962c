//! The scalar values of `accounts:`, each checked inside its own deserializer call so that a bad
//! one is reported at its line and column.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::config::duration::parse_duration;

/// Letters, digits, `-`, `_` and `.`, at most 64: it becomes a label value and a log field.
pub(in crate::config) struct AccountName(pub String);

impl<'de> Deserialize<'de> for AccountName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "an account name such as prod", |text| {
            let fits = !text.is_empty()
                && text.len() <= 64
                && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if fits {
                Ok(AccountName(text.to_string()))
            } else {
                Err(format!("{text:?} is not an account name: 1 to 64 letters, digits, '-', '_' or '.'"))
            }
        })
    }
}
/// `acs:ram::<account id>:role/<name>`.
pub(in crate::config) struct RoleArn(pub String);

impl<'de> Deserialize<'de> for RoleArn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a RAM role ARN", |text| {
            ram_arn(text, "role").map(RoleArn).ok_or_else(|| {
                format!("{text:?} is not a RAM role ARN such as acs:ram::1234567890123456:role/dbs-reader")
            })
        })
    }
}

/// `acs:ram::<account id>:oidc-provider/<name>`.
pub(in crate::config) struct OidcProviderArn(pub String);

impl<'de> Deserialize<'de> for OidcProviderArn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "an OIDC provider ARN", |text| {
            ram_arn(text, "oidc-provider").map(OidcProviderArn).ok_or_else(|| {
                format!("{text:?} is not an OIDC provider ARN such as acs:ram::1234567890123456:oidc-provider/ack-rrsa-c123")
            })
        })
    }
}

/// `acs:ram::<digits>:<kind>/<name>`, as written, or `None`.
fn ram_arn(text: &str, kind: &str) -> Option<String> {
    let rest = text.strip_prefix("acs:ram::")?;
    let (account, resource) = rest.split_once(':')?;
    let name = resource.strip_prefix(kind)?.strip_prefix('/')?;
    let fits = !account.is_empty()
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    fits.then(|| text.to_string())
}

/// STS `RoleSessionName`: 2 to 64 of letters, digits, `.`, `@`, `-` and `_`.
pub(in crate::config) struct SessionName(pub String);

impl<'de> Deserialize<'de> for SessionName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a role session name", |text| {
            let fits = (2..=64).contains(&text.len())
                && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-' | b'_'));
            if fits {
                Ok(SessionName(text.to_string()))
            } else {
                Err(format!("{text:?} is not a session name: 2 to 64 letters, digits, '.', '@', '-' or '_'"))
            }
        })
    }
}

/// STS `ExternalId`: 2 to 1224 of letters, digits and `=,.@:/-_`. Never printed back.
pub(in crate::config) struct ExternalId(pub String);

impl<'de> Deserialize<'de> for ExternalId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "an external id", |text| {
            let fits = (2..=1224).contains(&text.len())
                && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"=,.@:/-_".contains(&b));
            if fits {
                Ok(ExternalId(text.to_string()))
            } else {
                Err("is not an external id: 2 to 1224 letters, digits or any of =,.@:/-_".to_string())
            }
        })
    }
}

/// `DurationSeconds` of `AssumeRole`: from 15 minutes to 12 hours (and at most the role's own
/// maximum session duration, which only STS knows).
pub(in crate::config) struct SessionDuration(pub Duration);

impl<'de> Deserialize<'de> for SessionDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a duration from 15m to 12h", |text| {
            let duration = parse_duration(text)?;
            if duration.subsec_nanos() == 0 && (900..=43_200).contains(&duration.as_secs()) {
                Ok(SessionDuration(duration))
            } else {
                Err(format!("must be whole seconds from 15m to 12h, got {text}"))
            }
        })
    }
}

/// An environment variable's name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(in crate::config) struct VariableName(pub String);

impl<'de> Deserialize<'de> for VariableName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "an environment variable name", |text| {
            let mut bytes = text.bytes();
            let fits = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if fits {
                Ok(VariableName(text.to_string()))
            } else {
                Err(format!("{text:?} is not an environment variable name such as PROD_ACCESS_KEY_ID"))
            }
        })
    }
}

/// A file path, not empty.
pub(in crate::config) struct FilePath(pub PathBuf);

impl<'de> Deserialize<'de> for FilePath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a file path", |text| {
            if text.trim().is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(FilePath(PathBuf::from(text)))
            }
        })
    }
}

/// Reads a string and checks it inside the same deserializer call, so that the error is placed
/// at the value.
fn checked_str<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct Checked<T, F> {
        expecting: &'static str,
        check: F,
        value: PhantomData<T>,
    }

    impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for Checked<T, F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            // serde_yaml hands a null (`~`, `null`) to a string visitor as its text.
            if matches!(text, "~" | "null" | "Null" | "NULL") {
                return Err(E::custom("must not be null: give a value or leave the key out"));
            }
            (self.check)(text).map_err(E::custom)
        }
    }

    deserializer.deserialize_str(Checked { expecting, check, value: PhantomData })
}
