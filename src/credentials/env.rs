//! Reading variables through an injectable lookup, and the environment link of the chain.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Credentials, CredentialsError};

/// How the chain reads a variable: the process environment in production, a map in tests.
pub type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A variable counts as set when it holds more than whitespace: Helm charts and Kubernetes
/// manifests often render an unused variable as an empty string.
pub(super) fn var(lookup: &Lookup, name: &str) -> Option<String> {
    lookup(name).map(|value| value.trim().to_string()).filter(|value| !value.is_empty())
}

/// `true` (any case) switches a flag on, as the SDKs read it; anything else leaves it off.
pub(super) fn flag(lookup: &Lookup, name: &str) -> bool {
    var(lookup, name).is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

/// `~/...` relative to `home`; any other path as written.
pub(super) fn expand_home(path: &str, home: Option<&PathBuf>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// An AccessKey from the variables `id_var` and `secret_var` (and maybe an STS token from
/// `token_var`): `Ok(None)` when neither is set, an error naming the missing one when only one is.
/// The official SDKs would move on to the next link in the second case; a half-configured key is
/// more likely a mistake worth stopping for than a wish to use the next link.
pub(super) fn access_key(
    lookup: &Lookup,
    id_var: &str,
    secret_var: &str,
    token_var: Option<&str>,
) -> Result<Option<Credentials>, CredentialsError> {
    let link = "environment";
    match (var(lookup, id_var), var(lookup, secret_var)) {
        (None, None) => Ok(None),
        (Some(_), None) => {
            Err(CredentialsError::invalid(link, format!("{id_var} is set but {secret_var} is not")))
        }
        (None, Some(_)) => {
            Err(CredentialsError::invalid(link, format!("{secret_var} is set but {id_var} is not")))
        }
        (Some(id), Some(secret)) => {
            let credentials = Credentials::new(id, secret);
            Ok(Some(match token_var.and_then(|name| var(lookup, name)) {
                Some(token) => credentials.with_security_token(token),
                None => credentials,
            }))
        }
    }
}
