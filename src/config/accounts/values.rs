//! The scalar values of `accounts:`, each a [`Scalar`] that parses itself (read through the one
//! helper, so that a bad one is reported at its line and column and null is refused).

use std::path::PathBuf;
use std::time::Duration;

use crate::config::duration::parse_duration;
use crate::config::values::{deserialize_by_parse, Scalar};

/// Letters, digits, `-`, `_` and `.`, at most 64: it becomes a label value and a log field.
pub(in crate::config) struct AccountName(pub String);

impl Scalar for AccountName {
    const EXPECTING: &'static str = "an account name such as prod";

    fn parse(text: &str) -> Result<Self, String> {
        let fits = !text.is_empty()
            && text.len() <= 64
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if fits {
            Ok(AccountName(text.to_string()))
        } else {
            Err(format!("{text:?} is not an account name: 1 to 64 letters, digits, '-', '_' or '.'"))
        }
    }
}

/// `acs:ram::<account id>:role/<name>`.
pub(in crate::config) struct RoleArn(pub String);

impl Scalar for RoleArn {
    const EXPECTING: &'static str = "a RAM role ARN";

    fn parse(text: &str) -> Result<Self, String> {
        ram_arn(text, "role").map(RoleArn).ok_or_else(|| {
            format!("{text:?} is not a RAM role ARN such as acs:ram::1234567890123456:role/dbs-reader")
        })
    }
}

/// `acs:ram::<account id>:oidc-provider/<name>`.
pub(in crate::config) struct OidcProviderArn(pub String);

impl Scalar for OidcProviderArn {
    const EXPECTING: &'static str = "an OIDC provider ARN";

    fn parse(text: &str) -> Result<Self, String> {
        ram_arn(text, "oidc-provider").map(OidcProviderArn).ok_or_else(|| {
            format!("{text:?} is not an OIDC provider ARN such as acs:ram::1234567890123456:oidc-provider/ack-rrsa-c123")
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

impl Scalar for SessionName {
    const EXPECTING: &'static str = "a role session name";

    fn parse(text: &str) -> Result<Self, String> {
        let fits = (2..=64).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-' | b'_'));
        if fits {
            Ok(SessionName(text.to_string()))
        } else {
            Err(format!("{text:?} is not a session name: 2 to 64 letters, digits, '.', '@', '-' or '_'"))
        }
    }
}

/// STS `ExternalId`: 2 to 1224 of letters, digits and `=,.@:/-_`. Never printed back.
pub(in crate::config) struct ExternalId(pub String);

impl Scalar for ExternalId {
    const EXPECTING: &'static str = "an external id";

    fn parse(text: &str) -> Result<Self, String> {
        let fits = (2..=1224).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"=,.@:/-_".contains(&b));
        if fits {
            Ok(ExternalId(text.to_string()))
        } else {
            Err("is not an external id: 2 to 1224 letters, digits or any of =,.@:/-_".to_string())
        }
    }
}

/// `DurationSeconds` of `AssumeRole`: from 15 minutes to 12 hours (and at most the role's own
/// maximum session duration, which only STS knows).
pub(in crate::config) struct SessionDuration(pub Duration);

impl Scalar for SessionDuration {
    const EXPECTING: &'static str = "a duration from 15m to 12h";

    fn parse(text: &str) -> Result<Self, String> {
        let duration = parse_duration(text)?;
        if duration.subsec_nanos() == 0 && (900..=43_200).contains(&duration.as_secs()) {
            Ok(SessionDuration(duration))
        } else {
            Err(format!("must be whole seconds from 15m to 12h, got {text}"))
        }
    }
}

/// An environment variable's name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(in crate::config) struct VariableName(pub String);

impl Scalar for VariableName {
    const EXPECTING: &'static str = "an environment variable name";

    fn parse(text: &str) -> Result<Self, String> {
        let mut bytes = text.bytes();
        let fits = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if fits {
            Ok(VariableName(text.to_string()))
        } else {
            Err(format!("{text:?} is not an environment variable name such as PROD_ACCESS_KEY_ID"))
        }
    }
}

/// A file path, not empty.
pub(in crate::config) struct FilePath(pub PathBuf);

impl Scalar for FilePath {
    const EXPECTING: &'static str = "a file path";

    fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(FilePath(PathBuf::from(text)))
        }
    }
}

deserialize_by_parse!(
    AccountName,
    RoleArn,
    OidcProviderArn,
    SessionName,
    ExternalId,
    SessionDuration,
    VariableName,
    FilePath,
);
