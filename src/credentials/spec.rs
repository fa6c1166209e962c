//! Where one account's credentials come from, as data: the configuration file describes it, and
//! [`super::CredentialEnv::provider`] turns it into a provider. Nothing here is a secret: keys
//! stay in the environment or in credential files, and the spec only names where to find them.

use std::path::PathBuf;
use std::time::Duration;

/// The `RoleSessionName` sent to STS when none is configured; it shows in ActionTrail.
pub const DEFAULT_ROLE_SESSION_NAME: &str = "dbs-exporter";

/// The lifetime asked of STS `AssumeRole` when none is configured (the API's default).
pub const DEFAULT_ASSUME_ROLE_DURATION: Duration = Duration::from_secs(3600);

/// One account's credentials: a source, and optionally a role assumed with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialSpec {
    pub source: CredentialSource,
    pub assume_role: Option<AssumeRoleSpec>,
}

/// A link of the chain, chosen explicitly. Every `Option` falls back on the variable the
/// default chain reads (`ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_PROFILE`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CredentialSource {
    /// The whole default chain: the first configured link wins.
    #[default]
    DefaultChain,
    /// An AccessKey (and maybe an STS token) from environment variables with these names, so
    /// that two accounts can each have their own.
    Environment {
        access_key_id_var: String,
        access_key_secret_var: String,
        security_token_var: Option<String>,
    },
    /// STS `AssumeRoleWithOIDC` with a service-account token (RRSA).
    Oidc {
        role_arn: Option<String>,
        oidc_provider_arn: Option<String>,
        token_file: Option<PathBuf>,
        role_session_name: Option<String>,
        sts_endpoint: Option<String>,
    },
    /// A profile of the INI file `~/.alibabacloud/credentials.ini`.
    CredentialsFile { path: Option<PathBuf>, profile: Option<String> },
    /// A profile of the Alibaba Cloud CLI's `~/.aliyun/config.json`.
    CliProfile { path: Option<PathBuf>, profile: Option<String> },
    /// The RAM role of the ECS instance the exporter runs on.
    EcsRamRole { role_name: Option<String> },
}

impl CredentialSource {
    /// `environment` with the standard variable names.
    pub fn standard_environment() -> Self {
        CredentialSource::Environment {
            access_key_id_var: super::ENV_ACCESS_KEY_ID.to_string(),
            access_key_secret_var: super::ENV_ACCESS_KEY_SECRET.to_string(),
            security_token_var: Some(super::ENV_SECURITY_TOKEN.to_string()),
        }
    }
}

/// STS `AssumeRole`, signed with the source's credentials: how one exporter reads another
/// Alibaba Cloud account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeRoleSpec {
    /// `acs:ram::<account id>:role/<name>`.
    pub role_arn: String,
    pub session_name: String,
    /// Required by the role's trust policy when the other account set one.
    pub external_id: Option<String>,
    /// `DurationSeconds`: 15 minutes to the role's maximum session (12 hours at most).
    pub duration: Duration,
    /// `None`: the STS endpoint the environment selects (see `docs/credentials.md`).
    pub sts_endpoint: Option<String>,
}

impl AssumeRoleSpec {
    pub fn new(role_arn: impl Into<String>) -> Self {
        AssumeRoleSpec {
            role_arn: role_arn.into(),
            session_name: DEFAULT_ROLE_SESSION_NAME.to_string(),
            external_id: None,
            duration: DEFAULT_ASSUME_ROLE_DURATION,
            sts_endpoint: None,
        }
    }
}
