//! Values that parse themselves: each type says what a good value looks like in its own
//! [`Scalar::parse`], tested without serde, and serde reads every one of them through
//! [`deserialize_scalar`], so that all refuse YAML null the same way and every error is placed at
//! the value's line and column.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};

use super::metrics::OptionalFamily;
use crate::api::{DownloadState, TaskType};

/// A setting written as one YAML scalar.
pub(super) trait Scalar: Sized {
    /// What a value looks like, for serde's `invalid type: …, expected <this>`.
    const EXPECTING: &'static str;

    /// The value the text stands for, or why it does not fit.
    fn parse(text: &str) -> Result<Self, String>;
}

/// Reads a [`Scalar`] from the text of a YAML scalar (a number is taken as written,
/// `backup_set_id: 123`). The check runs inside the deserializer's call for the scalar, which is
/// while serde_yaml still knows where the value is.
pub(super) fn deserialize_scalar<'de, T: Scalar, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    struct TextVisitor<T>(PhantomData<T>);

    impl<T: Scalar> Visitor<'_> for TextVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(T::EXPECTING)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            // serde_yaml hands a null (`~`, `null`) to a string visitor as its text; no setting
            // is spelt like that, so those texts mean the value was left empty.
            if matches!(text, "~" | "null" | "Null" | "NULL") {
                return Err(E::custom("must not be null: give a value or leave the key out"));
            }
            T::parse(text).map_err(E::custom)
        }
    }

    deserializer.deserialize_str(TextVisitor(PhantomData))
}

/// Implements `Deserialize` for [`Scalar`] types through [`deserialize_scalar`].
macro_rules! deserialize_by_parse {
    ($($scalar:ty),+ $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $scalar {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::config::values::deserialize_scalar(deserializer)
            }
        }
    )+};
}
pub(super) use deserialize_by_parse;

/// `[a-z0-9-]+`, as every Alibaba Cloud region id is: catches `CN-Hangzhou` and `cn_hangzhou`
/// here rather than as a failed listing at runtime.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct RegionId(pub String);

impl Scalar for RegionId {
    const EXPECTING: &'static str = "a region id such as cn-hangzhou";

    fn parse(text: &str) -> Result<Self, String> {
        let looks_right = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if looks_right {
            Ok(RegionId(text.to_string()))
        } else {
            Err(format!(
                "{text:?} is not a region id: expected lowercase letters, digits and '-', e.g. cn-hangzhou"
            ))
        }
    }
}

/// An instance id or API filter value: sent as a query parameter, so it may not be empty or hold
/// whitespace.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Identifier(pub String);

impl Scalar for Identifier {
    const EXPECTING: &'static str = "an id";

    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            Err("must not be empty".to_string())
        } else if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Err(format!("{text:?} must not contain whitespace"))
        } else {
            Ok(Identifier(text.to_string()))
        }
    }
}

/// An `http://` or `https://` URL with a host and nothing the client would append to wrongly:
/// requests go to `<endpoint>/?<signed query>`, so a query or fragment here would break the
/// signature, and user info would end up in logs.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Endpoint(pub String);

impl Scalar for Endpoint {
    const EXPECTING: &'static str = "an http:// or https:// URL";

    fn parse(text: &str) -> Result<Self, String> {
        let refuse = |why: &str| Err(format!("{text:?} is not a usable endpoint: {why}"));
        let url = match url::Url::parse(text) {
            Ok(url) => url,
            Err(err) => {
                return refuse(&format!("{err}; expected e.g. https://dbs-api.cn-hangzhou.aliyuncs.com"))
            }
        };
        // Both schemes require a host, so parsing has already refused `http://`.
        if !matches!(url.scheme(), "http" | "https") {
            refuse("the scheme must be http or https")
        } else if !url.username().is_empty() || url.password().is_some() {
            refuse("user info does not belong in an endpoint")
        } else if url.query().is_some() || url.fragment().is_some() {
            refuse("it must not have a query or fragment")
        } else {
            Ok(Endpoint(text.trim().to_string()))
        }
    }
}

/// `full` or `pitr`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TaskTypeName(pub TaskType);

impl Scalar for TaskTypeName {
    const EXPECTING: &'static str = "a task type: full or pitr";

    fn parse(text: &str) -> Result<Self, String> {
        TaskType::parse(text)
            .map(TaskTypeName)
            .ok_or_else(|| format!("{text:?} is not a task type: expected full or pitr"))
    }
}

/// A family of task series that `metrics.disable` can turn off.
pub(super) struct FamilyName(pub OptionalFamily);

impl Scalar for FamilyName {
    const EXPECTING: &'static str =
        "a family: export_bytes, import_bytes, oldest_task_timestamps, transitions or running_tables";

    fn parse(text: &str) -> Result<Self, String> {
        OptionalFamily::ALL.into_iter().find(|family| family.as_str() == text).map(FamilyName).ok_or_else(
            || format!("{text:?} is not a family that can be turned off: expected {}", Self::EXPECTING),
        )
    }
}

/// A documented task state, for `metrics.states`.
pub(super) struct StateName(pub DownloadState);

impl Scalar for StateName {
    const EXPECTING: &'static str =
        "a task state: initializing, queueing, running, failed, finished or expired";

    fn parse(text: &str) -> Result<Self, String> {
        match DownloadState::parse(text) {
            DownloadState::Other(_) => {
                Err(format!("{text:?} is not a task state: expected {}", Self::EXPECTING))
            }
            state => Ok(StateName(state)),
        }
    }
}

deserialize_by_parse!(RegionId, Identifier, Endpoint, TaskTypeName, FamilyName, StateName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_ids_are_lowercase_letters_digits_and_dashes() {
        assert_eq!(RegionId::parse("cn-hangzhou"), Ok(RegionId("cn-hangzhou".into())));
        assert_eq!(RegionId::parse("ap-southeast-1"), Ok(RegionId("ap-southeast-1".into())));
        for wrong in ["CN-Hangzhou", "cn_hangzhou", "", "cn hangzhou"] {
            assert!(RegionId::parse(wrong).unwrap_err().contains("is not a region id"), "{wrong:?}");
        }
    }

    #[test]
    fn identifiers_are_taken_as_written_without_whitespace() {
        assert_eq!(Identifier::parse("rm-bp1x7k2m9q4w8e5r3"), Ok(Identifier("rm-bp1x7k2m9q4w8e5r3".into())));
        assert_eq!(Identifier::parse("123"), Ok(Identifier("123".into())));
        assert_eq!(Identifier::parse(""), Err("must not be empty".into()));
        assert!(Identifier::parse("rm 1").unwrap_err().contains("must not contain whitespace"));
        assert!(Identifier::parse("rm\t1").is_err());
    }

    #[test]
    fn endpoints_are_http_urls_without_user_query_or_fragment() {
        assert_eq!(
            Endpoint::parse("https://dbs-api.cn-hangzhou.aliyuncs.com"),
            Ok(Endpoint("https://dbs-api.cn-hangzhou.aliyuncs.com".into()))
        );
        assert!(Endpoint::parse("http://127.0.0.1:8080").is_ok());
        for (wrong, why) in [
            ("dbs-api.cn-hangzhou.aliyuncs.com", "relative URL"),
            ("ftp://dbs-api.cn-hangzhou.aliyuncs.com", "scheme must be http or https"),
            ("https://user:pw@dbs-api.cn-hangzhou.aliyuncs.com", "user info"),
            ("https://dbs-api.cn-hangzhou.aliyuncs.com/?a=b", "query or fragment"),
            ("http://", "empty host"),
        ] {
            let err = Endpoint::parse(wrong).unwrap_err();
            assert!(err.contains("is not a usable endpoint") && err.contains(why), "{wrong}: {err}");
        }
    }

    #[test]
    fn task_types_are_full_or_pitr() {
        assert_eq!(TaskTypeName::parse("full"), Ok(TaskTypeName(TaskType::Full)));
        assert_eq!(TaskTypeName::parse("pitr"), Ok(TaskTypeName(TaskType::Pitr)));
        assert_eq!(
            TaskTypeName::parse("diff"),
            Err("\"diff\" is not a task type: expected full or pitr".into())
        );
    }

    #[test]
    fn every_scalar_refuses_yaml_null_alike_even_quoted() {
        fn refusal<T: Scalar + std::fmt::Debug>(yaml: &str) -> String {
            let deserializer = serde_yaml::Deserializer::from_str(yaml);
            deserialize_scalar::<T, _>(deserializer).unwrap_err().to_string()
        }
        for yaml in ["~", "null", "\"~\"", "'null'", "NULL"] {
            for message in [
                refusal::<RegionId>(yaml),
                refusal::<Identifier>(yaml),
                refusal::<Endpoint>(yaml),
                refusal::<TaskTypeName>(yaml),
            ] {
                assert!(
                    message.starts_with("must not be null: give a value or leave the key out"),
                    "{yaml}: {message}"
                );
            }
        }
    }
}
