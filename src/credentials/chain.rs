//! The default chain, and the providers of configured accounts.
//!
//! Links in the order of Alibaba's SDKs; the first one configured wins, and the choice is made
//! once, when the chain is built (nothing is fetched then):
//! 1. environment: `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and the
//!    optional `ALIBABA_CLOUD_SECURITY_TOKEN`;
//! 2. OIDC / RRSA: `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` and
//!    `ALIBABA_CLOUD_OIDC_TOKEN_FILE`;
//! 3. the CLI profile in `~/.aliyun/config.json` (unless `ALIBABA_CLOUD_CLI_PROFILE_DISABLED`),
//!    then the INI file `ALIBABA_CLOUD_CREDENTIALS_FILE` or `~/.alibabacloud/credentials.ini`,
//!    profile `ALIBABA_CLOUD_PROFILE` or `default`;
//! 4. the ECS instance's RAM role, unless `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`.
//!
//! A link configured halfway (one variable of a group, a named profile or file that does not
//! exist, a file that does not parse) is an error rather than a reason to try the next one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::assume_role::AssumeRoleFetcher;
use super::cli_profile::CliConfig;
use super::ecs::{EcsFetcher, DEFAULT_METADATA_ENDPOINT};
use super::env::{self, Lookup};
use super::oidc::OidcFetcher;
use super::profile::{self, Found};
use super::refresh::Refreshing;
use super::spec::{AssumeRoleSpec, CredentialSource, CredentialSpec, DEFAULT_ROLE_SESSION_NAME};
use super::sts::{self, AssumeRole, Sts};
use super::*;
use crate::rpc::CaBundle;

/// Where the credential services are. `None` means the real ones: STS as the environment selects
/// it (`sts.aliyuncs.com`, regional or VPC), the metadata service at `http://100.100.100.200`.
/// Tests point both at loopback fakes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialEndpoints {
    pub sts: Option<String>,
    pub ecs_metadata: Option<String>,
}

/// What the chain reads: variables through a lookup, files under a home directory, the
/// credential services' endpoints, and the clock that temporary credentials are refreshed by.
/// Tests inject all four and never touch the process's own. STS is called trusting the CA bundle
/// of the configuration in force ([`CredentialEnv::trusting`]).
#[derive(Clone)]
pub struct CredentialEnv {
    lookup: Lookup,
    home: Option<PathBuf>,
    endpoints: CredentialEndpoints,
    clock: Clock,
    ca_bundle: Option<CaBundle>,
}

impl fmt::Debug for CredentialEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialEnv").field("home", &self.home).field("endpoints", &self.endpoints).finish()
    }
}

/// The default chain over any environment: see [`CredentialEnv::default_chain`].
pub fn default_chain(
    lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    home: Option<PathBuf>,
    endpoints: CredentialEndpoints,
) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
    CredentialEnv::new(lookup, home, endpoints).default_chain()
}

/// The default chain over the process environment and `$HOME`, with the real endpoints.
pub fn from_process_env() -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
    CredentialEnv::from_process().default_chain()
}

impl CredentialEnv {
    pub fn new(
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
        home: Option<PathBuf>,
        endpoints: CredentialEndpoints,
    ) -> Self {
        CredentialEnv { lookup: Arc::new(lookup), home, endpoints, clock: system_clock(), ca_bundle: None }
    }

    /// The same environment, its STS calls trusting `ca_bundle` besides the built-in roots (the
    /// metadata service is plain HTTP on the instance's own link and needs none).
    pub fn trusting(&self, ca_bundle: Option<CaBundle>) -> CredentialEnv {
        CredentialEnv { ca_bundle, ..self.clone() }
    }

    /// Temporary credentials refreshed by `clock` rather than the system's (one a test moves by
    /// hand, say).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The process environment, `$HOME` (`%USERPROFILE%` on Windows) and the real endpoints.
    pub fn from_process() -> Self {
        let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).map(PathBuf::from);
        Self::new(|name| std::env::var(name).ok(), home, CredentialEndpoints::default())
    }

    /// The first configured link of the chain (see the module documentation). Builds, checks
    /// and fetches nothing over the network: the first request does.
    pub fn default_chain(&self) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
        if let Some(credentials) =
            env::access_key(&self.lookup, ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, Some(ENV_SECURITY_TOKEN))?
        {
            return Ok(Arc::new(StaticCredentials::described(credentials, "environment")));
        }
        let oidc = [ENV_ROLE_ARN, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE];
        let set: Vec<&str> = oidc.iter().copied().filter(|name| self.var(name).is_some()).collect();
        if set.len() == oidc.len() {
            return self.oidc(None, None, None, None, None);
        }
        if !set.is_empty() {
            let missing: Vec<&str> = oidc.iter().copied().filter(|name| !set.contains(name)).collect();
            return Err(CredentialsError::invalid(
                "oidc",
                format!("{} set, but {} not: RRSA needs all three", set.join(" and "), missing.join(" and ")),
            ));
        }
        if let Some(provider) = self.profiles()? {
            return Ok(provider);
        }
        if self.flag(ENV_ECS_METADATA_DISABLED) {
            return Err(CredentialsError::NotConfigured);
        }
        self.ecs(self.var(ENV_ECS_METADATA))
    }

    /// The provider of one configured account: its source, with STS `AssumeRole` on top when
    /// the account names a role.
    pub fn provider(&self, spec: &CredentialSpec) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
        let base = self.source(&spec.source)?;
        match &spec.assume_role {
            None => Ok(base),
            Some(role) => self.assume_role(base, role),
        }
    }

    fn source(&self, source: &CredentialSource) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
        match source {
            CredentialSource::DefaultChain => self.default_chain(),
            CredentialSource::Environment {
                access_key_id_var,
                access_key_secret_var,
                security_token_var,
            } => {
                let found = env::access_key(
                    &self.lookup,
                    access_key_id_var,
                    access_key_secret_var,
                    security_token_var.as_deref(),
                )?;
                let Some(credentials) = found else {
                    return Err(CredentialsError::invalid(
                        "environment",
                        format!("{access_key_id_var} and {access_key_secret_var} are not set"),
                    ));
                };
                let described = if access_key_id_var == ENV_ACCESS_KEY_ID {
                    "environment".to_string()
                } else {
                    format!("environment:{access_key_id_var}")
                };
                Ok(Arc::new(StaticCredentials::described(credentials, described)))
            }
            CredentialSource::Oidc {
                role_arn,
                oidc_provider_arn,
                token_file,
                role_session_name,
                sts_endpoint,
            } => self.oidc(
                role_arn.clone(),
                oidc_provider_arn.clone(),
                token_file.clone(),
                role_session_name.clone(),
                sts_endpoint.as_deref(),
            ),
            CredentialSource::CredentialsFile { path, profile } => {
                let Some((path, _)) = self.ini_path(path.as_deref()) else {
                    return Err(CredentialsError::invalid(
                        "credentials-file",
                        format!("no home directory to find ~/.alibabacloud/credentials.ini in, and {ENV_CREDENTIALS_FILE} is not set"),
                    ));
                };
                let name =
                    profile.clone().or_else(|| self.var(ENV_PROFILE)).unwrap_or_else(|| "default".into());
                if !path.exists() {
                    return Err(CredentialsError::invalid(
                        format!("credentials-file:{name}"),
                        format!("{} does not exist", path.display()),
                    ));
                }
                match profile::load(&path, &name)? {
                    Some(found) => self.found(found, format!("credentials-file:{name}")),
                    None => Err(CredentialsError::invalid(
                        format!("credentials-file:{name}"),
                        format!("{} has no enabled profile [{name}]", path.display()),
                    )),
                }
            }
            CredentialSource::CliProfile { path, profile } => {
                let path = match path {
                    Some(path) => path.clone(),
                    None => self.cli_path().ok_or_else(|| {
                        CredentialsError::invalid(
                            "cli-profile",
                            "no home directory to find ~/.aliyun/config.json in",
                        )
                    })?,
                };
                let config = CliConfig::load(&path)?;
                let name = profile
                    .clone()
                    .or_else(|| self.var(ENV_PROFILE))
                    .or_else(|| config.current().map(str::to_string))
                    .unwrap_or_else(|| "default".into());
                match config.profile(&name)? {
                    Some(found) => self.found(found, format!("cli-profile:{name}")),
                    None => Err(CredentialsError::invalid(
                        format!("cli-profile:{name}"),
                        format!("{} has no profile {name:?}", path.display()),
                    )),
                }
            }
            CredentialSource::EcsRamRole { role_name } => {
                self.ecs(role_name.clone().or_else(|| self.var(ENV_ECS_METADATA)))
            }
        }
    }

    /// Link 3: the CLI's profile, then the INI file's. `Ok(None)` when neither has the profile
    /// and none was asked for by name.
    fn profiles(&self) -> Result<Option<Arc<dyn CredentialsProvider>>, CredentialsError> {
        let named = self.var(ENV_PROFILE);
        let mut looked_in = Vec::new();
        if self.flag(ENV_CLI_PROFILE_DISABLED) {
            tracing::debug!("credentials: CLI profile disabled by {ENV_CLI_PROFILE_DISABLED}");
        } else if let Some(path) = self.cli_path().filter(|path| path.exists()) {
            let config = CliConfig::load(&path)?;
            let name = named
                .clone()
                .or_else(|| config.current().map(str::to_string))
                .unwrap_or_else(|| "default".into());
            if let Some(found) = config.profile(&name)? {
                return self.found(found, format!("cli-profile:{name}")).map(Some);
            }
            tracing::debug!(profile = name, file = %path.display(), "credentials: no such CLI profile");
            looked_in.push(path.display().to_string());
        }

        let name = named.clone().unwrap_or_else(|| "default".into());
        match self.ini_path(None) {
            Some((path, explicit)) if path.exists() => {
                if let Some(found) = profile::load(&path, &name)? {
                    return self.found(found, format!("credentials-file:{name}")).map(Some);
                }
                tracing::debug!(profile = name, file = %path.display(), "credentials: no such profile");
                if explicit {
                    return Err(CredentialsError::invalid(
                        format!("credentials-file:{name}"),
                        format!(
                            "{ENV_CREDENTIALS_FILE} names {}, which has no enabled profile [{name}]",
                            path.display()
                        ),
                    ));
                }
                looked_in.push(path.display().to_string());
            }
            Some((path, true)) => {
                return Err(CredentialsError::invalid(
                    "credentials-file",
                    format!("{ENV_CREDENTIALS_FILE} names {}, which does not exist", path.display()),
                ));
            }
            Some(_) | None => {}
        }
        match named {
            Some(name) if looked_in.is_empty() => Err(CredentialsError::invalid(
                format!("profile:{name}"),
                format!("{ENV_PROFILE} is set, but there is no ~/.aliyun/config.json nor credentials file"),
            )),
            Some(name) => Err(CredentialsError::invalid(
                format!("profile:{name}"),
                format!("{ENV_PROFILE} names a profile that is in none of {}", looked_in.join(", ")),
            )),
            None => Ok(None),
        }
    }

    fn found(
        &self,
        found: Found,
        described: String,
    ) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
        match found {
            Found::AccessKey(credentials) => {
                Ok(Arc::new(StaticCredentials::described(credentials, described)))
            }
            Found::RamRoleArn { base, request } => {
                let base: Arc<dyn CredentialsProvider> =
                    Arc::new(StaticCredentials::described(base, described));
                self.assume(base, request, None)
            }
            Found::EcsRamRole { role_name } => self.ecs(role_name.or_else(|| self.var(ENV_ECS_METADATA))),
        }
    }

    fn oidc(
        &self,
        role_arn: Option<String>,
        oidc_provider_arn: Option<String>,
        token_file: Option<PathBuf>,
        session_name: Option<String>,
        sts_endpoint: Option<&str>,
    ) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
        let need = |value: Option<String>, variable: &str| {
            value.or_else(|| self.var(variable)).ok_or_else(|| {
                CredentialsError::invalid(
                    "oidc",
                    format!("{variable} is not set, and the account does not say it"),
                )
            })
        };
        let role_arn = need(role_arn, ENV_ROLE_ARN)?;
        let oidc_provider_arn = need(oidc_provider_arn, ENV_OIDC_PROVIDER_ARN)?;
        let token_file = match token_file {
            Some(path) => path,
            None => env::expand_home(&need(None, ENV_OIDC_TOKEN_FILE)?, self.home.as_ref()),
        };
        let described = format!("oidc:{role_arn}");
        // Kubernetes mounts the token before the container starts: a missing file is a mistake
        // in the manifest, better reported now than at every poll.
        if let Err(err) = std::fs::metadata(&token_file) {
            return Err(CredentialsError::invalid(
                described,
                format!("cannot read the OIDC token file {}: {err}", token_file.display()),
            ));
        }
        let fetcher = OidcFetcher {
            sts: Sts::new(&described, &self.sts_endpoint(sts_endpoint)?, self.ca_bundle.clone())?,
            role_arn,
            oidc_provider_arn,
            token_file,
            session_name: session_name
                .or_else(|| self.var(ENV_ROLE_SESSION_NAME))
                .unwrap_or_else(|| DEFAULT_ROLE_SESSION_NAME.to_string()),
            described,
        };
        Ok(Arc::new(Refreshing::with_clock(fetcher, Arc::clone(&self.clock))))
    }

    fn ecs(&self, role_name: Option<String>) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
        let endpoint = self.endpoints.ecs_metadata.as_deref().unwrap_or(DEFAULT_METADATA_ENDPOINT);
        let fetcher = EcsFetcher::new(endpoint, role_name, self.flag(ENV_IMDSV1_DISABLED))?;
        Ok(Arc::new(Refreshing::with_clock(fetcher, Arc::clone(&self.clock))))
    }

    fn assume_role(
        &self,
        base: Arc<dyn CredentialsProvider>,
        spec: &AssumeRoleSpec,
    ) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
        let request = AssumeRole {
            role_arn: spec.role_arn.clone(),
            session_name: spec.session_name.clone(),
            external_id: spec.external_id.clone(),
            policy: None,
            duration: spec.duration,
        };
        self.assume(base, request, spec.sts_endpoint.as_deref())
    }

    fn assume(
        &self,
        base: Arc<dyn CredentialsProvider>,
        request: AssumeRole,
        sts_endpoint: Option<&str>,
    ) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
        let described = format!("assume-role:{} via {}", request.role_arn, base.describe());
        let fetcher = AssumeRoleFetcher {
            sts: Sts::new(&described, &self.sts_endpoint(sts_endpoint)?, self.ca_bundle.clone())?,
            base,
            request,
            described,
        };
        Ok(Arc::new(Refreshing::with_clock(fetcher, Arc::clone(&self.clock))))
    }

    /// The account's own endpoint, else the one given to the chain, else what the environment
    /// selects (`ALIBABA_CLOUD_STS_ENDPOINT`, else `ALIBABA_CLOUD_STS_REGION` and
    /// `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`).
    fn sts_endpoint(&self, explicit: Option<&str>) -> Result<String, CredentialsError> {
        if let Some(endpoint) = explicit.or(self.endpoints.sts.as_deref()) {
            return Ok(endpoint.to_string());
        }
        if let Some(endpoint) = self.var(ENV_STS_ENDPOINT) {
            return Ok(sts::endpoint_url(&endpoint));
        }
        sts::endpoint_for(self.var(ENV_STS_REGION).as_deref(), self.flag(ENV_VPC_ENDPOINT_ENABLED))
    }

    /// The INI file's path, and whether it was named (by the account or the variable) rather
    /// than the default one.
    /// `None` when no file is named and there is no home directory to look in.
    fn ini_path(&self, explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
        if let Some(path) = explicit {
            return Some((path.to_path_buf(), true));
        }
        match self.var(ENV_CREDENTIALS_FILE) {
            Some(path) => Some((env::expand_home(&path, self.home.as_ref()), true)),
            None => {
                self.home.as_ref().map(|home| (home.join(".alibabacloud").join("credentials.ini"), false))
            }
        }
    }

    fn cli_path(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|home| home.join(".aliyun").join("config.json"))
    }

    fn var(&self, name: &str) -> Option<String> {
        env::var(&self.lookup, name)
    }

    fn flag(&self, name: &str) -> bool {
        env::flag(&self.lookup, name)
    }
}
