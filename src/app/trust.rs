//! Which CA bundle the API calls trust besides the built-in web PKI roots: the configuration's
//! `tls.ca_file`, else the file `SSL_CERT_FILE` names (the convention of OpenSSL, curl, Go and
//! Python, so a machine set up for a TLS-intercepting proxy works unchanged), else none.

use std::path::Path;

use super::Error;
use crate::config::Config;
use crate::rpc::CaBundle;

/// The variable read when the configuration has no `tls.ca_file`.
pub const ENV_SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// Where the bundle in force comes from, for `check-config` and the startup log.
pub fn describe(bundle: Option<&CaBundle>, from_config: bool) -> String {
    match (bundle, from_config) {
        (None, _) => "the built-in web PKI roots".to_string(),
        (Some(bundle), true) => format!(
            "the built-in web PKI roots and {} ({} from tls.ca_file)",
            bundle.path().display(),
            certificates(bundle.len())
        ),
        (Some(bundle), false) => format!(
            "the built-in web PKI roots and {} ({} from {ENV_SSL_CERT_FILE})",
            bundle.path().display(),
            certificates(bundle.len())
        ),
    }
}

fn certificates(count: usize) -> String {
    match count {
        1 => "1 certificate".to_string(),
        n => format!("{n} certificates"),
    }
}

/// The bundle of `config`, else the one `SSL_CERT_FILE` (read through `lookup`) names; an empty
/// variable counts as unset. The file is read now, so a reload picks up a changed one.
pub fn ca_bundle(
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<CaBundle>, Error> {
    if let Some(bundle) = &config.tls.ca_file {
        return Ok(Some(bundle.clone()));
    }
    let Some(path) = lookup(ENV_SSL_CERT_FILE).filter(|path| !path.trim().is_empty()) else {
        return Ok(None);
    };
    CaBundle::read(Path::new(&path))
        .map(Some)
        .map_err(|message| Error::Trust(format!("{ENV_SSL_CERT_FILE}={path}: {message}")))
}

/// [`ca_bundle`] over the process environment.
pub fn ca_bundle_from_process(config: &Config) -> Result<Option<CaBundle>, Error> {
    ca_bundle(config, &|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    const CONFIG: &str = "regions:\n  - region_id: cn-hangzhou\n    instances:\n      - instance_id: rm-1\n";

    #[test]
    fn without_the_key_or_the_variable_only_the_built_in_roots_are_trusted() {
        let config = config::parse(CONFIG, "c.yaml").unwrap();
        assert_eq!(ca_bundle(&config, &|_| None).unwrap(), None);
        assert_eq!(ca_bundle(&config, &|_| Some(" ".into())).unwrap(), None, "empty counts as unset");
        assert_eq!(describe(None, false), "the built-in web PKI roots");
    }

    #[test]
    fn an_unreadable_ssl_cert_file_is_an_error_naming_the_variable() {
        let config = config::parse(CONFIG, "c.yaml").unwrap();
        let err = ca_bundle(&config, &|_| Some("/nonexistent/ca.pem".into())).unwrap_err().to_string();
        assert!(err.starts_with("SSL_CERT_FILE=/nonexistent/ca.pem: cannot read the CA bundle:"), "{err}");
    }
}
