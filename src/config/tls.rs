//! `tls: {ca_file}`: the certificate authorities every Alibaba API call (DBS, discovery, STS)
//! trusts besides the built-in roots. The file is read and checked while its value is read, so a
//! missing or malformed bundle is reported at the line of `ca_file`, and a reload reads it anew.

use std::path::PathBuf;

use serde::Deserialize;

use super::values::{deserialize_by_parse, Scalar};
use crate::rpc::CaBundle;

/// The `tls` block as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub ca_file: CaFile,
}

/// A PEM bundle of one or more CA certificates, read from the path written.
pub(super) struct CaFile(pub CaBundle);

impl Scalar for CaFile {
    const EXPECTING: &'static str = "the path of a PEM file of CA certificates";

    fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("must not be empty".to_string());
        }
        let path = PathBuf::from(text);
        CaBundle::read(&path).map(CaFile).map_err(|err| format!("{}: {err}", path.display()))
    }
}

deserialize_by_parse!(CaFile);

/// TLS of the API calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// `tls.ca_file`, read; `None` when the key is absent (then `SSL_CERT_FILE` may name one).
    pub ca_file: Option<CaBundle>,
}

impl TlsConfig {
    /// `tls: {ca_file: path}`, the file read as the configuration would read it.
    pub fn with_ca_file(path: &std::path::Path) -> Result<TlsConfig, String> {
        let bundle = CaBundle::read(path).map_err(|err| format!("{}: {err}", path.display()))?;
        Ok(TlsConfig { ca_file: Some(bundle) })
    }
}

impl From<Option<RawTls>> for TlsConfig {
    fn from(raw: Option<RawTls>) -> TlsConfig {
        TlsConfig { ca_file: raw.map(|raw| raw.ca_file.0) }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn an_empty_path_is_refused() {
        assert_eq!(CaFile::parse(" ").err().unwrap(), "must not be empty");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = CaFile::parse("/nonexistent/company-ca.pem").err().unwrap();
        assert!(err.starts_with("/nonexistent/company-ca.pem: cannot read the CA bundle:"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_named() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"not a certificate\n").unwrap();
        let err = CaFile::parse(file.path().to_str().unwrap()).err().unwrap();
        assert!(err.contains("no PEM certificate"), "{err}");
    }
}
