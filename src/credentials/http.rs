//! The HTTP both credential services share: short timeouts, a capped body, and errors that
//! never carry the URL (STS URLs hold the AccessKeyId, the signature and the STS token).

use std::time::Duration;

use super::CredentialsError;

/// Credential answers are a few hundred bytes; anything much larger is not one.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A status and a complete body.
pub(super) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How a credential service is reached.
#[derive(Clone, Copy)]
pub(super) enum Route {
    /// STS is a public HTTPS service: an `HTTPS_PROXY` applies, as it does to DBS calls.
    ProxiesAllowed,
    /// The metadata service is plain HTTP on the instance's own link-local address, which no
    /// proxy can reach and no proxy should see.
    Direct,
}

pub(super) fn client(
    link: &str,
    route: Route,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, CredentialsError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .user_agent(format!("dbs-exporter/{}", env!("CARGO_PKG_VERSION")));
    if matches!(route, Route::Direct) {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|err| {
        CredentialsError::invalid(
            link,
            format!("cannot build an HTTP client: {}", crate::error_chain(&err.without_url())),
        )
    })
}

/// Sends `request` and reads the whole answer; `endpoint` names the service in errors.
pub(super) async fn send(
    link: &str,
    endpoint: &str,
    request: reqwest::RequestBuilder,
) -> Result<Answer, CredentialsError> {
    let transport = |err: reqwest::Error| CredentialsError::Transport {
        link: link.to_string(),
        endpoint: endpoint.to_string(),
        detail: crate::error_chain(&err.without_url()),
    };
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(CredentialsError::Malformed {
                link: link.to_string(),
                endpoint: endpoint.to_string(),
                detail: format!("HTTP {status}: the body exceeds {MAX_BODY_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body })
}
