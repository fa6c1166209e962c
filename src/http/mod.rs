//! The HTTP server: `/metrics` (or the telemetry path), `/-/healthy`, `/-/ready`,
//! `POST /-/reload`, the status page `/`, an instance's page `/instance` and the JSON under
//! `/api/v1/`, over HTTP or TLS, with optional basic auth. It knows nothing of the API: it
//! serves what the renderer and the status board produced.
//!
//! [`routes`] answers requests, [`status_page`] writes the status page and its JSON,
//! [`instance_page`] the page of one instance,
//! [`server`] accepts connections and bounds what each may hold,
//! [`web_config`] reads `--web.config.file` into the [`tls`] acceptor and [`auth`] users.

mod auth;
mod body;
mod headers;
pub mod reload;
mod routes;
mod server;
pub mod status;
mod tls;
mod web_config;

use std::net::SocketAddr;

pub use self::auth::VERIFIED_FOR;
pub use self::body::Chunks;
pub use self::routes::{Routes, BUILT_IN_PATHS, LIFECYCLE_DISABLED, METRICS_CONTENT_TYPE};
pub use self::server::{serve, Limits, Server};
pub use self::tls::{ClientAuthType, TlsVersion};
pub use self::web_config::{WebConfigWatch, WebSettings, CHECK_INTERVAL};

/// Parses `--web.listen-address`: `HOST:PORT`, `[v6]:PORT`, or `:PORT` for every interface.
pub fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let with_host = if text.starts_with(':') { format!("0.0.0.0{text}") } else { text.to_string() };
    if let Ok(addr) = with_host.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some((host, port)) = with_host.rsplit_once(':') {
        if host == "localhost" {
            if let Ok(port) = port.parse::<u16>() {
                return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
            }
        }
    }
    Err(format!("invalid listen address {text:?}: want HOST:PORT, [IPv6]:PORT or :PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_follow_prometheus_conventions() {
        assert_eq!(parse_listen_address(":19680").unwrap(), "0.0.0.0:19680".parse().unwrap());
        assert_eq!(parse_listen_address("127.0.0.1:0").unwrap(), "127.0.0.1:0".parse().unwrap());
        assert_eq!(parse_listen_address("[::1]:9000").unwrap(), "[::1]:9000".parse().unwrap());
        assert_eq!(parse_listen_address("localhost:8080").unwrap(), "127.0.0.1:8080".parse().unwrap());
        assert!(parse_listen_address("nope").is_err());
        assert!(parse_listen_address(":99999").is_err());
    }
}
