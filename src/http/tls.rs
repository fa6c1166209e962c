//! The TLS side of the server: a rustls configuration (ring provider) from the web config's
//! `tls_server_config`, and the handshake of one connection.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Client certificate policy, named as in Go's `crypto/tls` (and so the exporter toolkit).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum ClientAuthType {
    #[default]
    NoClientCert,
    /// A certificate is optional; one that is sent must chain to `client_ca_file`.
    VerifyClientCertIfGiven,
    /// A certificate chaining to `client_ca_file` is required.
    RequireAndVerifyClientCert,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    TLS12,
    TLS13,
}

impl TlsVersion {
    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::TLS12 => &rustls::version::TLS12,
            TlsVersion::TLS13 => &rustls::version::TLS13,
        }
    }
}

/// `tls_server_config` with its paths resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_auth_type: ClientAuthType,
    pub client_ca_file: Option<PathBuf>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
}

impl TlsFiles {
    /// Every file the settings are read from, for change detection.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        [Some(self.cert_file.as_path()), Some(self.key_file.as_path()), self.client_ca_file.as_deref()]
            .into_iter()
            .flatten()
    }
}

/// What went wrong, and under which key of `tls_server_config`.
#[derive(Debug)]
pub struct TlsError {
    pub field: &'static str,
    pub message: String,
}

fn fail(field: &'static str, message: impl Into<String>) -> TlsError {
    TlsError { field, message: message.into() }
}

/// Reads the certificate, key and client CAs and builds the acceptor.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static SupportedProtocolVersion> = [TlsVersion::TLS12, TlsVersion::TLS13]
        .into_iter()
        .filter(|v| (files.min_version..=files.max_version).contains(v))
        .map(TlsVersion::rustls)
        .collect();
    if versions.is_empty() {
        return Err(fail("min_version", "must not be above max_version"));
    }
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|err| fail("min_version", err.to_string()))?;
    let builder = match (files.client_auth_type, &files.client_ca_file) {
        (ClientAuthType::NoClientCert, None) => builder.with_no_client_auth(),
        (ClientAuthType::NoClientCert, Some(_)) => {
            return Err(fail("client_ca_file", "is set, but client_auth_type is NoClientCert"));
        }
        (_, None) => return Err(fail("client_ca_file", "is required by client_auth_type")),
        (policy, Some(path)) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certificates(path, "client_ca_file")? {
                roots
                    .add(cert)
                    .map_err(|err| fail("client_ca_file", format!("{}: {err}", path.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match policy {
                ClientAuthType::VerifyClientCertIfGiven => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier.build().map_err(|err| fail("client_ca_file", err.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let certs = read_certificates(&files.cert_file, "cert_file")?;
    let key = read_file(&files.key_file, "key_file").and_then(|pem| {
        PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|err| fail("key_file", format!("{}: no private key: {err}", files.key_file.display())))
    })?;
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|err| fail("key_file", format!("does not fit cert_file: {err}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_file(path: &Path, field: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|err| fail(field, format!("cannot read {}: {err}", path.display())))
}

fn read_certificates(path: &Path, field: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(path, field)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| fail(field, format!("{}: {err}", path.display())))?;
    if certs.is_empty() {
        return Err(fail(field, format!("{}: no PEM certificate in it", path.display())));
    }
    Ok(certs)
}

/// The handshake of one connection. A client speaking plain HTTP gets a 400 that says so, the
/// way Go's server answers it, and `None`.
pub async fn accept(
    acceptor: &TlsAcceptor,
    mut stream: TcpStream,
) -> io::Result<Option<TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Ok(None);
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        // Read what the client sent so that closing does not reset the connection before it has
        // read the answer.
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request).await?;
        stream
            .write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
            .await?;
        stream.shutdown().await?;
        return Ok(None);
    }
    acceptor.accept(stream).await.map(Some)
}
