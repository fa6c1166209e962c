//! The simulator over real loopback HTTP, driven by a hand-written HTTP/1.1 client and requests
//! signed with the crate's own signer.

mod auth;
mod discovery;
mod discovery_rds;
mod faults;
mod listing;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::gateway::signature::{self, format_timestamp};

use super::{SimHandle, Simulator};

pub(super) const AK: &str = "LTAI5tSimTestKey";
pub(super) const SECRET: &str = "sim-test-secret";

/// A response as it came off the wire.
#[derive(Debug)]
pub(super) struct HttpReply {
    pub status: u16,
    headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The gateway error code, asserting the error body's shape on the way.
    pub fn code(&self) -> String {
        let body = self.json();
        for field in ["RequestId", "HostId", "Code", "Message", "Recommend"] {
            assert!(body[field].is_string(), "{field} missing from {body}");
        }
        body["Code"].as_str().unwrap().to_string()
    }
}

pub(super) async fn start(sim: Simulator) -> SimHandle {
    sim.start(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind loopback")
}

pub(super) fn simulator() -> Simulator {
    Simulator::new().with_access_key(AK, SECRET)
}

/// Sends raw bytes and reads until the server closes.
pub(super) async fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no close within 5 s"))??;
    Ok(received)
}

/// Splits status, headers and body; `None` when not even a status line and headers arrived.
pub(super) fn parse(raw: &[u8]) -> Option<HttpReply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(HttpReply { status, headers, body: raw[split + 4..].to_vec() })
}

/// Every common parameter of a valid JSON request for `cn-hangzhou`/`rm-1`, plus `extra`
/// (an empty value removes the parameter).
pub(super) fn params(access_key_id: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> = [
        ("Action", "DescribeDownloadTask"),
        ("Version", "2021-01-01"),
        ("Format", "json"),
        ("SignatureMethod", signature::METHOD),
        ("SignatureVersion", signature::VERSION),
        ("AccessKeyId", access_key_id),
        ("RegionCode", "cn-hangzhou"),
        ("InstanceName", "rm-1"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    params.insert("Timestamp".into(), format_timestamp(SystemTime::now()));
    params.insert("SignatureNonce".into(), format!("{:032x}", rand::random::<u128>()));
    for (key, value) in extra {
        if value.is_empty() {
            params.remove(*key);
        } else {
            params.insert(key.to_string(), value.to_string());
        }
    }
    params
}

pub(super) fn signed(
    method: &str,
    mut params: BTreeMap<String, String>,
    secret: &str,
) -> BTreeMap<String, String> {
    let signed = signature::signature(secret, &signature::string_to_sign(method, &params));
    params.insert("Signature".into(), signed);
    params
}

pub(super) fn encode(params: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect();
    pairs.join("&")
}

/// Sends `params` in the query string (`POST` with an empty body, as the SDK does, or `GET`).
pub(super) async fn send(sim: &SimHandle, method: &str, params: &BTreeMap<String, String>) -> HttpReply {
    let request = format!(
        "{method} /?{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        encode(params),
        sim.addr()
    );
    let raw = exchange(sim.addr(), request.as_bytes()).await.expect("exchange");
    parse(&raw).unwrap_or_else(|| panic!("no HTTP response: {}", String::from_utf8_lossy(&raw)))
}

/// A correctly signed POST for the default account with `extra` parameters.
pub(super) async fn call(sim: &SimHandle, extra: &[(&str, &str)]) -> HttpReply {
    send(sim, "POST", &signed("POST", params(AK, extra), SECRET)).await
}
