//! The Alibaba Cloud CLI's `~/.aliyun/config.json`: `{"current": "<name>", "profiles": [{"name",
//! "mode", ...}]}`. Modes `AK`, `StsToken`, `RamRoleArn` and `EcsRamRole` are understood; the
//! profile is `ALIBABA_CLOUD_PROFILE`, else the file's `current`, else `default`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::profile::Found;
use super::spec::DEFAULT_ROLE_SESSION_NAME;
use super::sts::AssumeRole;
use super::{Credentials, CredentialsError};

/// The CLI's file, read as untyped JSON so that no decoding message can quote a secret.
pub(super) struct CliConfig {
    path: String,
    current: Option<String>,
    profiles: Vec<Value>,
}

impl CliConfig {
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let shown = path.display().to_string();
        let bad = |message: String| CredentialsError::invalid("cli-profile", format!("{shown}: {message}"));
        let text = std::fs::read_to_string(path).map_err(|err| bad(format!("cannot read it: {err}")))?;
        let value: Value = serde_json::from_str(&text).map_err(|err| bad(format!("not JSON: {err}")))?;
        let profiles = match value.get("profiles") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(profiles)) => profiles.clone(),
            Some(_) => return Err(bad("`profiles` is not a list".into())),
        };
        let current =
            value.get("current").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_string);
        Ok(CliConfig { path: shown, current, profiles })
    }

    /// The profile the CLI itself would use when none is named.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// The profile `name`, or `Ok(None)` when the file has none by that name.
    pub fn profile(&self, name: &str) -> Result<Option<Found>, CredentialsError> {
        let link = format!("cli-profile:{name}");
        let Some(profile) =
            self.profiles.iter().find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        else {
            return Ok(None);
        };
        let bad = |message: String| CredentialsError::invalid(&link, format!("{}: {message}", self.path));
        let text =
            |key: &str| profile.get(key).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty());
        let required = |key: &str| {
            text(key)
                .map(str::to_string)
                .ok_or_else(|| bad(format!("profile {name:?}: `{key}` is missing or empty")))
        };
        let mode = text("mode").unwrap_or("AK");
        let found = match mode {
            "AK" => Found::AccessKey(Credentials::new(required("access_key_id")?, required("access_key_secret")?)),
            "StsToken" => Found::AccessKey(
                Credentials::new(required("access_key_id")?, required("access_key_secret")?)
                    .with_security_token(required("sts_token")?),
            ),
            "RamRoleArn" => {
                let seconds = profile.get("expired_seconds").and_then(Value::as_u64).filter(|s| *s > 0);
                Found::RamRoleArn {
                    base: Credentials::new(required("access_key_id")?, required("access_key_secret")?),
                    request: AssumeRole {
                        role_arn: required("ram_role_arn")?,
                        session_name: text("ram_session_name").unwrap_or(DEFAULT_ROLE_SESSION_NAME).to_string(),
                        external_id: text("external_id").map(str::to_string),
                        policy: None,
                        duration: Duration::from_secs(seconds.unwrap_or(3600)),
                    },
                }
            }
            "EcsRamRole" => Found::EcsRamRole { role_name: text("ram_role_name").map(str::to_string) },
            other => {
                return Err(bad(format!(
                    "profile {name:?}: mode {other:?} is not supported: use AK, StsToken, RamRoleArn or EcsRamRole"
                )))
            }
        };
        Ok(Some(found))
    }
}
