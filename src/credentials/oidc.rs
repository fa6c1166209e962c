//! OIDC / RRSA: a pod on Alibaba Cloud's Kubernetes service trades its service-account token for
//! a RAM role's STS credentials, with an unsigned `AssumeRoleWithOIDC`.
//!
//! The token file is read at every fetch: Kubernetes rotates the projected token (hourly by
//! default) and an old one is refused once it expires.

use std::path::PathBuf;
use std::time::Duration;

use super::refresh::{Fetch, FetchFuture};
use super::sts::{AssumeRoleWithOidc, Sts};
use super::{CredentialsError, Secret};

/// What the SDKs ask for.
pub(super) const OIDC_DURATION: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub(super) struct OidcFetcher {
    pub sts: Sts,
    pub role_arn: String,
    pub oidc_provider_arn: String,
    pub token_file: PathBuf,
    pub session_name: String,
    pub described: String,
}

impl OidcFetcher {
    fn read_token(&self) -> Result<Secret, CredentialsError> {
        let unreadable = |why: String| {
            CredentialsError::invalid(
                &self.described,
                format!("cannot read the OIDC token file {}: {why}", self.token_file.display()),
            )
        };
        // A few hundred bytes on a projected volume: a blocking read costs nothing worth a thread.
        let text = std::fs::read_to_string(&self.token_file).map_err(|err| unreadable(err.to_string()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(unreadable("it is empty".into()));
        }
        Ok(Secret::new(token))
    }
}

impl Fetch for OidcFetcher {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let request = AssumeRoleWithOidc {
                role_arn: self.role_arn.clone(),
                oidc_provider_arn: self.oidc_provider_arn.clone(),
                token: self.read_token()?,
                session_name: self.session_name.clone(),
                duration: OIDC_DURATION,
            };
            self.sts.assume_role_with_oidc(&self.described, &request).await
        })
    }

    fn describe(&self) -> &str {
        &self.described
    }
}
