//! An in-process server on a loopback port, certificates made on the spot, and a raw HTTP/1.1
//! client for what reqwest will not send.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dbs_exporter::api::TaskType;
use dbs_exporter::http::{Limits, Routes, Server, WebConfigWatch};
use dbs_exporter::metrics::ExporterMetrics;
use dbs_exporter::render::Exposition;
use dbs_exporter::store::{Generation, Store};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::PATIENCE;

/// An exposition with the exporter's own metrics and no task yet.
pub fn exposition() -> Arc<Exposition> {
    let mut generation = Generation::of_targets(1, Vec::new());
    generation.layout.task_types = TaskType::ALL.to_vec();
    let store = Store::with_generation(generation);
    Arc::new(Exposition::new(Arc::new(store), ExporterMetrics::new(["cn-hangzhou"])))
}

pub fn routes() -> Routes {
    Routes::new(exposition(), "/metrics")
}

/// A server running on a task, stopped (and awaited) by [`TestServer::stop`].
pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(routes: Routes, web_config: Option<WebConfigWatch>, limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = Server::new(listener, Arc::new(routes)).with_web_config(web_config).with_limits(limits);
        let task = tokio::spawn(server.run(shutdown.clone()));
        TestServer { addr, shutdown, task }
    }

    pub async fn plain(routes: Routes) -> Self {
        Self::start(routes, None, Limits::default()).await
    }

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Cancels and waits until `run` returns; panics if that takes unreasonably long.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task).await.expect("the server did not stop").unwrap();
    }
}

/// Sends `request` as is and reads until the server closes or `within` passes.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], within: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_until_closed(&mut stream, within).await
}

/// What arrives until the server closes the connection or `within` passes.
pub async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut received = Vec::new();
    let _ = tokio::time::timeout(within, read_to_end(stream, &mut received)).await;
    String::from_utf8_lossy(&received).into_owned()
}

/// What the server sent before closing the connection, or `None` if it was still open after
/// `within`.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(within, read_to_end(stream, &mut received)).await.is_ok();
    closed.then(|| String::from_utf8_lossy(&received).into_owned())
}

async fn read_to_end(stream: &mut TcpStream, received: &mut Vec<u8>) {
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// The status code of the first response in `text`, if any.
pub fn status_of(text: &str) -> Option<u16> {
    text.strip_prefix("HTTP/1.1 ").or_else(|| text.strip_prefix("HTTP/1.0 "))?.get(..3)?.parse().ok()
}

/// A certificate authority made for one test, and what it signs.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its key, in PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Issued {
        self.issue(vec!["127.0.0.1".into(), "localhost".into()], ExtendedKeyUsagePurpose::ServerAuth)
    }

    pub fn client(&self, name: &str) -> Issued {
        self.issue(vec![name.to_string()], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, names: Vec<String>, usage: ExtendedKeyUsagePurpose) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
    }
}

impl Issued {
    /// Writes `server.crt` and `server.key` (or any other stem) into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join(format!("{stem}.crt")), dir.join(format!("{stem}.key")));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }

    /// For `reqwest::Identity::from_pem`: the key and the certificate in one PEM.
    pub fn identity_pem(&self) -> Vec<u8> {
        format!("{}{}", self.key_pem, self.cert_pem).into_bytes()
    }
}

/// A client that trusts only `ca_pem` (and not the system roots).
pub fn https_client(ca_pem: &str) -> reqwest::Client {
    client_builder(ca_pem).build().unwrap()
}

pub fn client_builder(ca_pem: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(PATIENCE)
}

/// A bcrypt hash at the lowest cost, to keep tests quick.
pub fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// Writes the web config atomically (rename), as a careful operator or Kubernetes would.
pub fn write_web_config(path: &Path, text: &str) {
    let staging = path.with_extension("tmp");
    std::fs::write(&staging, text).unwrap();
    std::fs::rename(&staging, path).unwrap();
}
