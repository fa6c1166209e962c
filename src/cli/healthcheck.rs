//! `dbs-exporter healthcheck`: the image's probe of a running exporter (it has no shell or
//! curl), exit 0 when `/-/healthy` answers.

use std::process::ExitCode;
use std::time::Duration;

use super::{Cli, Error};
use crate::http::parse_listen_address;

pub(super) async fn run(cli: &Cli) -> Result<ExitCode, Error> {
    let mut address = parse_listen_address(&cli.listen_address).map_err(Error::Usage)?;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    // With --web.config.file the probe speaks TLS when the server does. It checks that this
    // process answers, not who it is, so the certificate is not verified, and a 401 from
    // basic auth counts as alive: the probe has no password, only the hashes exist.
    let tls = match &cli.web_config_file {
        Some(path) => crate::http::WebSettings::load(path)?.tls.is_some(),
        None => false,
    };
    let url = format!("{}://{address}/-/healthy", if tls { "https" } else { "http" });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .danger_accept_invalid_certs(tls)
        .build()
        .map_err(Error::HealthcheckClient)?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(response)
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && cli.web_config_file.is_some() =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Ok(response) => {
            eprintln!("{url}: HTTP {}", response.status());
            Ok(ExitCode::FAILURE)
        }
        Err(err) => {
            eprintln!("{url}: {}", err.without_url());
            Ok(ExitCode::FAILURE)
        }
    }
}
