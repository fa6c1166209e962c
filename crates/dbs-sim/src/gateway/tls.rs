//! HTTPS for the simulator: a CA made at start (never written anywhere but where it is asked
//! to be), a certificate it signs for the loopback names, and the server side of the handshake,
//! offering HTTP/2 and HTTP/1.1 as Alibaba's gateways do.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// A certificate authority of the simulator's own and the server configuration of a certificate
/// it signed for `127.0.0.1`, `::1` and `localhost`. Clones share both.
#[derive(Clone)]
pub struct SimCa {
    ca_pem: Arc<str>,
    server: Arc<ServerConfig>,
}

impl SimCa {
    /// A new CA (its key lives in memory only) and a server certificate signed by it.
    pub fn generate() -> Result<SimCa, String> {
        let fail = |err: rcgen::Error| format!("cannot make the simulator's certificates: {err}");
        let ca_key = KeyPair::generate().map_err(fail)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca_params.distinguished_name.push(DnType::CommonName, "dbs-exporter simulator CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).map_err(fail)?;

        let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
        let mut params = CertificateParams::new(names).map_err(fail)?;
        params.distinguished_name.push(DnType::CommonName, "dbs-exporter simulator");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(fail)?;
        let leaf = params.signed_by(&key, &ca, &ca_key).map_err(fail)?;

        let chain = vec![CertificateDer::from(leaf.der().to_vec())];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, private))
            .map_err(|err| format!("cannot configure the simulator's TLS: {err}"))?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(SimCa { ca_pem: ca.pem().into(), server: Arc::new(server) })
    }

    /// The CA certificate, PEM: what a client trusts to talk to this simulator.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA certificate (never a key) to `path`.
    pub fn write_ca(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.ca_pem.as_bytes())
    }

    pub(super) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.server))
    }
}

impl std::fmt::Debug for SimCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimCa")
    }
}
