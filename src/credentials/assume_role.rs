//! STS `AssumeRole` on top of another provider: the other provider's credentials sign the call,
//! and the role's temporary credentials sign the DBS calls. How one exporter reads the DBS tasks
//! of several Alibaba Cloud accounts.

use std::sync::Arc;

use super::refresh::{Fetch, FetchFuture};
use super::sts::{AssumeRole, Sts};
use super::{CredentialsError, CredentialsProvider};

#[derive(Debug)]
pub(super) struct AssumeRoleFetcher {
    pub base: Arc<dyn CredentialsProvider>,
    pub sts: Sts,
    pub request: AssumeRole,
    pub described: String,
}

impl Fetch for AssumeRoleFetcher {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let caller = self.base.credentials().await.map_err(|err| {
                CredentialsError::invalid(
                    &self.described,
                    format!("no credentials to sign AssumeRole with: {err}"),
                )
            })?;
            let result = self.sts.assume_role(&self.described, &caller, &self.request).await;
            if let Err(CredentialsError::Service { code, .. }) = &result {
                // The base's own STS token was refused: it must not be offered again.
                if code.starts_with("InvalidSecurityToken") {
                    self.base.invalidate();
                }
            }
            result
        })
    }

    fn describe(&self) -> &str {
        &self.described
    }

    fn upstream_errors(&self) -> u64 {
        self.base.refresh_errors()
    }
}
