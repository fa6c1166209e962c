//! The certificate authorities that API calls trust beyond the built-in web PKI roots: a PEM
//! bundle (a company CA that re-signs TLS at a proxy, a private endpoint's CA), read and checked
//! once, then added to every client built with it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// The certificates of one PEM file, each of them checked to parse as a trust anchor.
#[derive(Clone)]
pub struct CaBundle {
    path: PathBuf,
    certificates: Arc<[CertificateDer<'static>]>,
}

impl CaBundle {
    /// Reads `path`; the error says what is wrong with it, without the path (the caller names
    /// the setting and the file).
    pub fn read(path: &Path) -> Result<CaBundle, String> {
        let pem = std::fs::read(path).map_err(|err| format!("cannot read the CA bundle: {err}"))?;
        CaBundle::from_pem(path, &pem)
    }

    /// The certificates of `pem`, which came from `path`.
    pub fn from_pem(path: &Path, pem: &[u8]) -> Result<CaBundle, String> {
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("not a PEM certificate bundle: {err}"))?;
        if certificates.is_empty() {
            return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in the CA bundle".to_string());
        }
        let mut store = RootCertStore::empty();
        for (index, certificate) in certificates.iter().enumerate() {
            store.add(certificate.clone()).map_err(|err| {
                format!("certificate {} of the CA bundle is not a usable CA certificate: {err}", index + 1)
            })?;
        }
        Ok(CaBundle { path: path.to_path_buf(), certificates: certificates.into() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many certificates the bundle holds (at least one).
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    pub(super) fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

/// Two bundles are the same when they come from the same file with the same certificates, so a
/// reload that changed the file's contents counts as a change.
impl PartialEq for CaBundle {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.certificates == other.certificates
    }
}

impl Eq for CaBundle {}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = params;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_bundle_of_two_certificates_is_read_whole() {
        let pem = format!("{}{}", ca_pem(), ca_pem());
        let bundle = CaBundle::from_pem(Path::new("ca.pem"), pem.as_bytes()).unwrap();
        assert_eq!(bundle.len(), 2);
        assert_eq!(bundle.path(), Path::new("ca.pem"));
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let err = CaBundle::from_pem(Path::new("x"), b"just text\n").unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn a_certificate_that_does_not_parse_is_refused() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = CaBundle::from_pem(Path::new("x"), pem.as_bytes()).unwrap_err();
        assert!(err.contains("certificate 1 of the CA bundle is not a usable CA certificate"), "{err}");
    }

    #[test]
    fn a_missing_file_says_it_cannot_be_read() {
        let err = CaBundle::read(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(err.starts_with("cannot read the CA bundle:"), "{err}");
    }

    #[test]
    fn bundles_differ_by_their_certificates() {
        let (one, two) = (ca_pem(), ca_pem());
        let a = CaBundle::from_pem(Path::new("ca.pem"), one.as_bytes()).unwrap();
        let b = CaBundle::from_pem(Path::new("ca.pem"), two.as_bytes()).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, CaBundle::from_pem(Path::new("ca.pem"), one.as_bytes()).unwrap());
    }
}
