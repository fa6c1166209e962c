//! `credentials: {source: <link>, <that link's settings>}`, read key by key: each key is refused
//! where it is written when it does not fit the source, and `source` is refused where it is
//! written when a setting above it does not fit.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::values::{FilePath, OidcProviderArn, RoleArn, SessionName, VariableName};
use crate::config::values::{Endpoint, Identifier};
use crate::credentials::CredentialSource;

/// The source a `credentials` mapping describes.
pub(in crate::config) struct RawCredentials(pub CredentialSource);

#[derive(Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    DefaultChain,
    Environment,
    Oidc,
    CredentialsFile,
    CliProfile,
    EcsRamRole,
}

const SOURCES: &[&str] =
    &["default_chain", "environment", "oidc", "credentials_file", "cli_profile", "ecs_ram_role"];

impl SourceKind {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "default_chain" => SourceKind::DefaultChain,
            "environment" => SourceKind::Environment,
            "oidc" => SourceKind::Oidc,
            "credentials_file" => SourceKind::CredentialsFile,
            "cli_profile" => SourceKind::CliProfile,
            "ecs_ram_role" => SourceKind::EcsRamRole,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            SourceKind::DefaultChain => "default_chain",
            SourceKind::Environment => "environment",
            SourceKind::Oidc => "oidc",
            SourceKind::CredentialsFile => "credentials_file",
            SourceKind::CliProfile => "cli_profile",
            SourceKind::EcsRamRole => "ecs_ram_role",
        }
    }

    /// The options this source takes besides `source`.
    fn options(self) -> &'static [&'static str] {
        match self {
            SourceKind::DefaultChain => &[],
            SourceKind::Environment => &["access_key_id_env", "access_key_secret_env", "security_token_env"],
            SourceKind::Oidc => {
                &["role_arn", "oidc_provider_arn", "oidc_token_file", "role_session_name", "sts_endpoint"]
            }
            SourceKind::CredentialsFile | SourceKind::CliProfile => &["path", "profile"],
            SourceKind::EcsRamRole => &["role_name"],
        }
    }

    fn takes(self, option: &str) -> bool {
        self.options().contains(&option)
    }
}

const CREDENTIAL_KEYS: &[&str] = &[
    "source",
    "access_key_id_env",
    "access_key_secret_env",
    "security_token_env",
    "role_arn",
    "oidc_provider_arn",
    "oidc_token_file",
    "role_session_name",
    "sts_endpoint",
    "path",
    "profile",
    "role_name",
];

fn refuse_option<E: de::Error>(kind: SourceKind, option: &str) -> E {
    let takes = match kind.options() {
        [] => "no other settings".to_string(),
        options => options.join(", "),
    };
    E::custom(format!("`{option}` does not apply to source {}: it takes {takes}", kind.name()))
}

impl<'de> Deserialize<'de> for RawCredentials {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CredentialsVisitor)
    }
}

struct CredentialsVisitor;

#[derive(Default)]
struct CredentialOptions {
    access_key_id_env: Option<String>,
    access_key_secret_env: Option<String>,
    security_token_env: Option<String>,
    role_arn: Option<String>,
    oidc_provider_arn: Option<String>,
    oidc_token_file: Option<PathBuf>,
    role_session_name: Option<String>,
    sts_endpoint: Option<String>,
    path: Option<PathBuf>,
    profile: Option<String>,
    role_name: Option<String>,
}

impl<'de> Visitor<'de> for CredentialsVisitor {
    type Value = RawCredentials;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a credential source: a mapping with `source` and that source's settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCredentials, A::Error> {
        let mut kind: Option<SourceKind> = None;
        let mut earlier: Vec<&'static str> = Vec::new();
        let mut options = CredentialOptions::default();
        while let Some(key) = map.next_key_seed(CredentialKey { kind })? {
            if key == "source" {
                kind = Some(map.next_value_seed(SourceSeed { earlier: &earlier })?);
                continue;
            }
            earlier.push(key);
            match key {
                "access_key_id_env" => options.access_key_id_env = Some(map.next_value::<VariableName>()?.0),
                "access_key_secret_env" => {
                    options.access_key_secret_env = Some(map.next_value::<VariableName>()?.0)
                }
                "security_token_env" => {
                    options.security_token_env = Some(map.next_value::<VariableName>()?.0)
                }
                "role_arn" => options.role_arn = Some(map.next_value::<RoleArn>()?.0),
                "oidc_provider_arn" => {
                    options.oidc_provider_arn = Some(map.next_value::<OidcProviderArn>()?.0)
                }
                "oidc_token_file" => options.oidc_token_file = Some(map.next_value::<FilePath>()?.0),
                "role_session_name" => options.role_session_name = Some(map.next_value::<SessionName>()?.0),
                "sts_endpoint" => options.sts_endpoint = Some(map.next_value::<Endpoint>()?.0),
                "path" => options.path = Some(map.next_value::<FilePath>()?.0),
                "profile" => options.profile = Some(map.next_value::<Identifier>()?.0),
                "role_name" => options.role_name = Some(map.next_value::<Identifier>()?.0),
                _ => unreachable!("CredentialKey only lets the keys of CREDENTIAL_KEYS through"),
            }
        }
        let Some(kind) = kind else {
            return Err(de::Error::missing_field("source"));
        };
        let source = match kind {
            SourceKind::DefaultChain => CredentialSource::DefaultChain,
            SourceKind::Environment => match (options.access_key_id_env, options.access_key_secret_env) {
                (None, None) => CredentialSource::standard_environment(),
                (Some(access_key_id_var), Some(access_key_secret_var)) => CredentialSource::Environment {
                    access_key_id_var,
                    access_key_secret_var,
                    security_token_var: options.security_token_env,
                },
                _ => {
                    return Err(de::Error::custom(
                        "give both access_key_id_env and access_key_secret_env, or neither (for the standard variables)",
                    ))
                }
            },
            SourceKind::Oidc => CredentialSource::Oidc {
                role_arn: options.role_arn,
                oidc_provider_arn: options.oidc_provider_arn,
                token_file: options.oidc_token_file,
                role_session_name: options.role_session_name,
                sts_endpoint: options.sts_endpoint,
            },
            SourceKind::CredentialsFile => {
                CredentialSource::CredentialsFile { path: options.path, profile: options.profile }
            }
            SourceKind::CliProfile => CredentialSource::CliProfile { path: options.path, profile: options.profile },
            SourceKind::EcsRamRole => CredentialSource::EcsRamRole { role_name: options.role_name },
        };
        Ok(RawCredentials(source))
    }
}

/// A key of `credentials`, refused at the key when it is unknown or does not fit the source
/// already read.
struct CredentialKey {
    kind: Option<SourceKind>,
}

impl<'de> DeserializeSeed<'de> for CredentialKey {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<&'static str, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for CredentialKey {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a credentials setting")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<&'static str, E> {
        let Some(known) = CREDENTIAL_KEYS.iter().copied().find(|k| *k == key) else {
            return Err(E::unknown_field(key, CREDENTIAL_KEYS));
        };
        match self.kind {
            Some(kind) if known != "source" && !kind.takes(known) => Err(refuse_option(kind, known)),
            _ => Ok(known),
        }
    }
}

/// The `source` value, refused when a setting written above it does not fit it.
struct SourceSeed<'a> {
    earlier: &'a [&'static str],
}

impl<'de> DeserializeSeed<'de> for SourceSeed<'_> {
    type Value = SourceKind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<SourceKind, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for SourceSeed<'_> {
    type Value = SourceKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a credential source: one of {}", SOURCES.join(", "))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<SourceKind, E> {
        let kind = SourceKind::parse(text).ok_or_else(|| E::unknown_variant(text, SOURCES))?;
        match self.earlier.iter().find(|option| !kind.takes(option)) {
            Some(option) => Err(refuse_option(kind, option)),
            None => Ok(kind),
        }
    }
}
