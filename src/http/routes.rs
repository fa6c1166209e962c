//! What each path answers: `/metrics` (or the telemetry path), `/-/healthy`, `/-/ready`,
//! `POST /-/reload` when a reload channel is attached (403 when the lifecycle API is switched
//! off, as Prometheus answers without `--web.enable-lifecycle`), and a landing page; with a
//! status board, the status page `/`, an instance's page `/instance` and the JSON under
//! `/api/v1/`.

use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::{Method, Request, Response, StatusCode};

use super::body::Chunks;
use super::status::html::{escape, href};
use super::status::instance_page::{self, InstanceQuery};
use super::status::page::{self as status_page, StatusQuery};
use crate::http::reload::{self, ReloadSender};
use crate::http::status::{ActivityQuery, InstanceLookup, StatusBoard};
use crate::render::Exposition;

/// The JSON views of the tasks beside the targets.
#[derive(Clone, Copy, Debug)]
enum Activity {
    Events,
    Tasks,
}

/// The content type of the Prometheus text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// A reload that has not answered by then is reported as failed; it may still complete.
const RELOAD_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What Prometheus answers on its lifecycle endpoints without `--web.enable-lifecycle`.
pub const LIFECYCLE_DISABLED: &str = "Lifecycle API is not enabled.\n";

#[derive(Debug)]
pub struct Routes {
    exposition: Arc<Exposition>,
    telemetry_path: String,
    reload: Reload,
    status: Option<Arc<StatusBoard>>,
}

/// What `/-/reload` does.
#[derive(Debug)]
enum Reload {
    /// Nothing to reload: the path does not exist (404).
    Absent,
    /// There is a configuration to reload, but the lifecycle API is off: 403, as Prometheus.
    Disabled,
    /// `POST` asks whoever holds the receiving end.
    Enabled(ReloadSender),
}

impl Routes {
    pub fn new(exposition: Arc<Exposition>, telemetry_path: impl Into<String>) -> Self {
        Routes { exposition, telemetry_path: telemetry_path.into(), reload: Reload::Absent, status: None }
    }

    /// Serves the status page at `/` and `/api/v1/targets` from `board`.
    pub fn with_status(mut self, board: Arc<StatusBoard>) -> Self {
        self.status = Some(board);
        self
    }

    /// Enables `POST /-/reload`, answered by whoever holds the receiving end.
    pub fn with_reload(mut self, sender: ReloadSender) -> Self {
        self.reload = Reload::Enabled(sender);
        self
    }

    /// `/-/reload` answers 403 `Lifecycle API is not enabled.` to every request.
    pub fn with_reload_disabled(mut self) -> Self {
        self.reload = Reload::Disabled;
        self
    }

    /// Answers one request. Bodies, authentication and connection limits are the server's
    /// business; this only routes.
    pub async fn respond<B>(&self, request: &Request<B>) -> Response<Chunks> {
        let (method, path) = (request.method(), request.uri().path());
        match (&self.reload, path) {
            (Reload::Enabled(sender), "/-/reload") => return answer_reload(sender, method).await,
            (Reload::Disabled, "/-/reload") => return text(StatusCode::FORBIDDEN, LIFECYCLE_DISABLED),
            _ => {}
        }
        let known = path == self.telemetry_path
            || matches!(path, "/" | "/-/healthy" | "/-/ready")
            || (matches!(path, "/api/v1/targets" | "/api/v1/events" | "/api/v1/tasks" | "/instance")
                && self.status.is_some());
        if !known {
            return text(StatusCode::NOT_FOUND, "not found\n");
        }
        if method != Method::GET && method != Method::HEAD {
            return method_not_allowed("GET, HEAD");
        }
        match path {
            "/-/healthy" => text(StatusCode::OK, "dbs-exporter is healthy.\n"),
            "/-/ready" if self.exposition.ready() => text(StatusCode::OK, "dbs-exporter is ready.\n"),
            "/-/ready" => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "dbs-exporter is not ready: not every target has been listed yet.\n",
            ),
            "/" => match &self.status {
                Some(board) => self.status_page(board, request.uri().query()),
                None => self.landing_page(),
            },
            "/instance" => self.instance_page(request.uri().query()),
            "/api/v1/targets" => self.targets_json(request.uri().query()),
            "/api/v1/events" => self.activity_json(request.uri().query(), Activity::Events),
            "/api/v1/tasks" => self.activity_json(request.uri().query(), Activity::Tasks),
            _ => self.metrics(request.headers()).await,
        }
    }

    async fn metrics(&self, headers: &HeaderMap) -> Response<Chunks> {
        let scrape = Arc::clone(&self.exposition).serve(accepts_gzip(headers)).await;
        let gzip = scrape.gzip;
        let mut response = Response::new(Chunks::from(scrape));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    }

    fn status_page(&self, board: &StatusBoard, query: Option<&str>) -> Response<Chunks> {
        let snapshot = board.snapshot(std::time::SystemTime::now());
        let page = status_page::html(&snapshot, &StatusQuery::parse(query), &self.telemetry_path);
        let mut response = Response::new(Chunks::from(page));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        response
    }

    /// One instance's page: 400 without a region and an instance id (or with an id several
    /// accounts have and no account), 404 for an instance that is not a target now.
    fn instance_page(&self, query: Option<&str>) -> Response<Chunks> {
        let Some(board) = &self.status else { return text(StatusCode::NOT_FOUND, "not found\n") };
        let query = InstanceQuery::parse(query);
        let (Some(region_id), Some(instance_id)) = (&query.region_id, &query.instance_id) else {
            let page = instance_page::problem(
                "Which instance?",
                &["This page needs the instance's <code>region_id</code> and <code>instance_id</code> \
                   (and its <code>account</code> when the exporter watches several): \
                   <code>/instance?region_id=cn-hangzhou&amp;instance_id=rm-...</code>. \
                   The <a href=\"/\">status page</a> links every instance to its page."
                    .to_string()],
            );
            return html(StatusCode::BAD_REQUEST, page);
        };
        let account = query.account.as_deref();
        let now = std::time::SystemTime::now();
        match board.instance(account, region_id, instance_id, instance_page::EVENT_LIMIT, now) {
            InstanceLookup::Found(instance) => html(StatusCode::OK, instance_page::html(&instance)),
            InstanceLookup::Unknown => {
                let named = match account {
                    Some(account) => format!(" of account <b>{}</b>", escape(account)),
                    None => String::new(),
                };
                let page = instance_page::problem(
                    "Unknown instance",
                    &[
                        format!(
                            "This exporter polls no instance <b>{}</b> in region <b>{}</b>{named}.",
                            escape(instance_id),
                            escape(region_id)
                        ),
                        "It may be polled by another shard, or have left the targets at a reload or a \
                         discovery refresh. The <a href=\"/\">status page</a> lists every target of this exporter."
                            .to_string(),
                    ],
                );
                html(StatusCode::NOT_FOUND, page)
            }
            InstanceLookup::Ambiguous(accounts) => {
                let links: Vec<String> = accounts
                    .iter()
                    .map(|account| {
                        let href = href("/instance", Some(account), region_id, instance_id);
                        format!("<a href=\"{}\">{}</a>", escape(&href), escape(account))
                    })
                    .collect();
                let page = instance_page::problem(
                    "Which account?",
                    &[format!(
                        "Several accounts have an instance <b>{}</b> in region <b>{}</b>: {}.",
                        escape(instance_id),
                        escape(region_id),
                        links.join(", ")
                    )],
                );
                html(StatusCode::BAD_REQUEST, page)
            }
        }
    }

    fn activity_json(&self, query: Option<&str>, activity: Activity) -> Response<Chunks> {
        let Some(board) = &self.status else { return text(StatusCode::NOT_FOUND, "not found\n") };
        let body = match activity {
            Activity::Events => serde_json::to_vec(&board.events(&ActivityQuery::parse(query, "to"))),
            Activity::Tasks => serde_json::to_vec(&board.tasks(&ActivityQuery::parse(query, "state"))),
        };
        let body = body.expect("plain rows serialise");
        let mut response = Response::new(Chunks::from(body));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    fn targets_json(&self, query: Option<&str>) -> Response<Chunks> {
        let Some(board) = &self.status else { return text(StatusCode::NOT_FOUND, "not found\n") };
        let body =
            status_page::json(board.snapshot(std::time::SystemTime::now()), &StatusQuery::parse(query));
        let mut response = Response::new(Chunks::from(body));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    fn landing_page(&self) -> Response<Chunks> {
        let path = escape(&self.telemetry_path);
        let html = format!(
            "<!DOCTYPE html>\n<html><head><title>DBS Exporter</title></head><body>\n\
             <h1>Alibaba Cloud DBS download task exporter</h1>\n\
             <p>Version {}</p>\n<ul>\n<li><a href=\"{path}\">Metrics</a></li>\n\
             <li><a href=\"/-/healthy\">Health</a></li>\n<li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n\
             </body></html>\n",
            env!("CARGO_PKG_VERSION")
        );
        let mut response = Response::new(Chunks::from(html));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        response
    }
}

/// The paths the exporter serves itself: `--web.telemetry-path` may be none of them, or
/// Prometheus would scrape a page instead of the metrics.
pub const BUILT_IN_PATHS: [&str; 8] = [
    "/",
    "/-/healthy",
    "/-/ready",
    "/-/reload",
    "/api/v1/targets",
    "/api/v1/events",
    "/api/v1/tasks",
    "/instance",
];

/// Asks whoever holds the receiving end to reload, and reports the outcome.
async fn answer_reload(sender: &ReloadSender, method: &Method) -> Response<Chunks> {
    // Prometheus takes both.
    if method != Method::POST && method != Method::PUT {
        return method_not_allowed("POST, PUT");
    }
    match tokio::time::timeout(RELOAD_ANSWER_TIMEOUT, reload::request(sender)).await {
        Ok(Ok(())) => text(StatusCode::OK, "config reloaded\n"),
        Ok(Err(err)) => {
            owned_text(StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {err}\n"))
        }
        Err(_) => owned_text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: no answer within {RELOAD_ANSWER_TIMEOUT:?}\n"),
        ),
    }
}

/// Whether the client takes a gzipped answer, by RFC 9110's rules for `Accept-Encoding`: an
/// explicit `gzip` (or its alias `x-gzip`) decides by its quality; otherwise `*` does; a quality of
/// 0 means "not acceptable". Codings and parameter names are case-insensitive; an element with a
/// malformed quality is ignored.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip: Option<u16> = None;
    let mut any: Option<u16> = None;
    let values = headers.get_all(ACCEPT_ENCODING).iter().filter_map(|value| value.to_str().ok());
    for element in values.flat_map(|value| value.split(',')) {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let Some(quality) = quality(parts) else { continue };
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        // A coding listed twice: the more favourable weight wins.
        *slot = Some(slot.map_or(quality, |earlier| earlier.max(quality)));
    }
    gzip.or(any).is_some_and(|quality| quality > 0)
}

/// The `q` parameter among an element's parameters, in thousandths (1000 when absent); `None`
/// when it is not a valid qvalue (`0`, `0.5`, `1.000`: at most three decimals, at most 1).
fn quality<'a>(parameters: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut quality = 1000;
    for parameter in parameters {
        let Some((name, value)) = parameter.split_once('=') else { continue };
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let value = value.trim();
        let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
        let valid = matches!(whole, "0" | "1")
            && fraction.len() <= 3
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && (whole == "0" || fraction.bytes().all(|b| b == b'0'));
        if !valid {
            return None;
        }
        let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
        quality = if whole == "1" { 1000 } else { thousandths };
    }
    Some(quality)
}

pub(super) fn text(status: StatusCode, body: &'static str) -> Response<Chunks> {
    with_status(status, Chunks::from(body))
}

fn html(status: StatusCode, page: String) -> Response<Chunks> {
    let mut response = Response::new(Chunks::from(page));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

fn owned_text(status: StatusCode, body: String) -> Response<Chunks> {
    with_status(status, Chunks::from(body))
}

fn with_status(status: StatusCode, body: Chunks) -> Response<Chunks> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn method_not_allowed(allow: &'static str) -> Response<Chunks> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept_encoding: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(accept_encoding).unwrap());
        headers
    }

    #[test]
    fn gzip_is_used_when_offered_with_a_positive_quality() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("gzip;q=0.001")));
        assert!(accepts_gzip(&headers("gzip ; Q = 1.000")));
        assert!(accepts_gzip(&headers("x-gzip")));
        assert!(accepts_gzip(&headers("*")));
        assert!(accepts_gzip(&headers("identity;q=1, *;q=0.1")));
        // What Prometheus sends.
        assert!(accepts_gzip(&headers("gzip")));
    }

    #[test]
    fn a_zero_quality_refuses_gzip_however_it_is_written() {
        for refused in ["gzip;q=0", "gzip; q=0", "GZIP;Q=0", "gzip;q=0.0", "gzip;q=0.000", "x-gzip;q=0"] {
            assert!(!accepts_gzip(&headers(refused)), "{refused}");
        }
        assert!(!accepts_gzip(&headers("*;q=0")));
        assert!(!accepts_gzip(&headers("identity")));
        assert!(!accepts_gzip(&headers("deflate, br")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn an_explicit_gzip_overrides_the_wildcard_either_way() {
        assert!(!accepts_gzip(&headers("gzip;q=0, *")));
        assert!(!accepts_gzip(&headers("*, gzip;q=0")));
        assert!(accepts_gzip(&headers("*;q=0, gzip")));
        assert!(accepts_gzip(&headers("gzip;q=0.5, *;q=0")));
    }

    #[test]
    fn malformed_qualities_are_ignored_rather_than_read_as_acceptance() {
        for malformed in ["gzip;q=abc", "gzip;q=2", "gzip;q=1.5", "gzip;q=0.0001", "gzip;q=-1", "gzip;q="] {
            assert!(!accepts_gzip(&headers(malformed)), "{malformed}");
        }
        // A malformed element does not hide a valid one.
        assert!(accepts_gzip(&headers("gzip;q=nope, *")));
    }

    #[test]
    fn every_accept_encoding_header_counts() {
        let mut headers = HeaderMap::new();
        headers.append(ACCEPT_ENCODING, HeaderValue::from_static("deflate"));
        headers.append(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(accepts_gzip(&headers));
        headers.append(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0"));
        assert!(accepts_gzip(&headers), "the more favourable of two weights wins");
    }
}
