//! `--web.config.file`: TLS and basic auth in the file format of the Prometheus exporter toolkit,
//! so that a web config written for a Go exporter works here (for the keys this server knows).
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional, default NoClientCert
//!   client_ca_file: clients.crt    # required by the two verifying client_auth_types
//!   min_version: TLS12             # optional: TLS12 (default) or TLS13; max_version likewise
//! basic_auth_users:
//!   alice: $2y$10$...              # bcrypt hash
//! http_server_config:
//!   headers:                       # added to every response; the toolkit's security headers only
//!     Strict-Transport-Security: max-age=31536000
//!   http2: false                   # optional; this server speaks HTTP/1.1, so `true` is refused
//! ```
//!
//! The file, and the files it names, are watched: [`WebConfigWatch::current`] looks at their
//! metadata at most once per [`CHECK_INTERVAL`] and reloads on a change. A change that does not
//! load keeps the settings in force and is logged once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Deserializer};
use tokio_rustls::TlsAcceptor;

use super::auth::{is_bcrypt_hash, BasicAuth};
use super::headers::ResponseHeaders;
use super::tls::{self, ClientAuthType, TlsFiles, TlsVersion};
use crate::config::{ConfigError, Location, Place};

/// How often, at most, the files are looked at again.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, BcryptHash>,
    #[serde(default)]
    http_server_config: RawHttpServer,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpServer {
    #[serde(default)]
    headers: ResponseHeaders,
    #[serde(default, deserialize_with = "http1_only")]
    #[allow(dead_code)] // read only to refuse `true`
    http2: bool,
}

/// `http2: true` (the toolkit's default, so rarely written) is refused: this server answers
/// HTTP/1.1 only, and a setting it cannot honour is not accepted silently.
fn http1_only<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match bool::deserialize(deserializer)? {
        true => Err(serde::de::Error::custom("this server speaks HTTP/1.1 only: leave it out or set false")),
        false => Ok(false),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: ClientAuthType,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<TlsVersion>,
    #[serde(default)]
    max_version: Option<TlsVersion>,
}

/// A bcrypt hash, checked while it is read so that errors point at its line.
#[derive(Debug)]
struct BcryptHash(String);

impl<'de> Deserialize<'de> for BcryptHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hash = String::deserialize(deserializer)?;
        if is_bcrypt_hash(&hash) {
            Ok(BcryptHash(hash))
        } else {
            // The value may be a password pasted by mistake: it is not repeated.
            Err(serde::de::Error::custom("not a bcrypt hash (want $2y$, $2b$ or $2a$, cost 4-31)"))
        }
    }
}

/// One loaded web config: the acceptor when TLS is on, the users when basic auth is.
#[derive(Default)]
pub struct WebSettings {
    pub tls: Option<TlsAcceptor>,
    pub auth: Option<BasicAuth>,
    /// Added to every response.
    pub headers: ResponseHeaders,
    /// The files besides the web config itself that the settings came from.
    files: Vec<PathBuf>,
}

impl std::fmt::Debug for WebSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSettings")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth)
            .field("headers", &self.headers)
            .field("files", &self.files)
            .finish()
    }
}

impl WebSettings {
    /// Reads and validates `path` and every file it names; messages name the file and field.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { origin: origin.clone(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &origin, base)
    }

    /// Validates a web config's text; relative paths are taken relative to `base`.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Self, ConfigError> {
        // An empty file (or only comments) is valid and turns nothing on, as in the toolkit.
        let raw: Option<RawWebConfig> =
            serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
                .map_err(|err| invalid(origin, err))?;
        let raw = raw.unwrap_or_default();
        let mut settings = WebSettings { headers: raw.http_server_config.headers, ..WebSettings::default() };
        if let Some(tls) = raw.tls_server_config {
            let files = TlsFiles {
                cert_file: base.join(tls.cert_file),
                key_file: base.join(tls.key_file),
                client_auth_type: tls.client_auth_type,
                client_ca_file: tls.client_ca_file.map(|ca| base.join(ca)),
                min_version: tls.min_version.unwrap_or(TlsVersion::TLS12),
                max_version: tls.max_version.unwrap_or(TlsVersion::TLS13),
            };
            settings.files = files.paths().map(Path::to_path_buf).collect();
            settings.tls = Some(tls::acceptor(&files).map_err(|err| ConfigError::Invalid {
                place: Place { origin: origin.to_string(), location: None },
                field: Some(format!("tls_server_config.{}", err.field)),
                message: err.message,
            })?);
        }
        if !raw.basic_auth_users.is_empty() {
            let users = raw.basic_auth_users.into_iter().map(|(user, hash)| (user, hash.0)).collect();
            settings.auth = Some(BasicAuth::new(users));
        }
        Ok(settings)
    }
}

/// A serde error at a field path, as `file:line:column: field: message`.
fn invalid(origin: &str, err: serde_path_to_error::Error<serde_yaml::Error>) -> ConfigError {
    let field = err.path().to_string();
    let err = err.into_inner();
    let position = err.location().filter(|at| at.line() != 0 || at.column() != 0);
    let mut message = err.to_string();
    if let Some(at) = err.location() {
        message = message.replacen(&format!(" at line {} column {}", at.line(), at.column()), "", 1);
    }
    // serde_yaml starts with its own (sometimes shorter) copy of the path; the field is printed
    // once, in front.
    let segments: Vec<&str> = field.split('.').collect();
    for end in (1..=segments.len()).rev() {
        let prefix = format!("{}: ", segments[..end].join("."));
        if let Some(rest) = message.strip_prefix(&prefix) {
            message = rest.to_string();
            break;
        }
    }
    ConfigError::Invalid {
        place: Place {
            origin: origin.to_string(),
            location: position.map(|at| Location { line: at.line(), column: at.column() }),
        },
        field: Some(field).filter(|path| path != "."),
        message,
    }
}

/// What identifies a version of a file without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    /// Replacing a file by renaming (as Kubernetes does with mounted secrets) changes it.
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp { modified: metadata.modified().ok(), len: metadata.len(), inode })
}

/// The web config in force, re-read when its file or the files it names change.
#[derive(Debug)]
pub struct WebConfigWatch {
    path: PathBuf,
    state: Mutex<WatchState>,
}

#[derive(Debug)]
struct WatchState {
    current: Arc<WebSettings>,
    /// Stamps of the web config and the files of `current`, when `current` was loaded.
    stamps: Vec<Option<Stamp>>,
    checked_at: Instant,
    /// Stamps of the last version that failed to load: it is reported once, not at every check.
    refused: Option<Vec<Option<Stamp>>>,
}

impl WebConfigWatch {
    /// Loads the file; an error here should stop the program.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let path = path.into();
        let config_stamp = stamp(&path);
        let settings = WebSettings::load(&path)?;
        let stamps = stamps_with(config_stamp, &settings.files);
        let state =
            WatchState { current: Arc::new(settings), stamps, checked_at: Instant::now(), refused: None };
        Ok(WebConfigWatch { path, state: Mutex::new(state) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings in force, after reloading them if the files changed (looked at no more
    /// than once per [`CHECK_INTERVAL`]).
    pub fn current(&self) -> Arc<WebSettings> {
        let mut state = crate::util::lock(&self.state);
        if state.checked_at.elapsed() >= CHECK_INTERVAL {
            state.checked_at = Instant::now();
            self.reload_if_changed(&mut state);
        }
        Arc::clone(&state.current)
    }

    fn reload_if_changed(&self, state: &mut WatchState) {
        let now = stamps(&self.path, &state.current.files);
        if now == state.stamps || state.refused.as_ref() == Some(&now) {
            return;
        }
        match WebSettings::load(&self.path) {
            Ok(settings) => {
                // The web config's stamp from before it was read: a change made while it was
                // being read is seen at the next check.
                state.stamps = stamps_with(now[0].clone(), &settings.files);
                tracing::info!(
                    file = %self.path.display(),
                    tls = settings.tls.is_some(),
                    basic_auth_users = settings.auth.as_ref().map_or(0, |auth| auth.users().count()),
                    "web config reloaded"
                );
                state.current = Arc::new(settings);
                state.refused = None;
            }
            Err(err) => {
                tracing::error!(error = %err, "web config change refused; the previous web config stays in force");
                state.refused = Some(now);
            }
        }
    }
}

fn stamps(web_config: &Path, files: &[PathBuf]) -> Vec<Option<Stamp>> {
    stamps_with(stamp(web_config), files)
}

fn stamps_with(web_config: Option<Stamp>, files: &[PathBuf]) -> Vec<Option<Stamp>> {
    std::iter::once(web_config).chain(files.iter().map(|file| stamp(file))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        WebSettings::parse(text, "web.yml", Path::new("/nonexistent")).unwrap_err().to_string()
    }

    #[test]
    fn an_empty_file_turns_nothing_on() {
        for text in ["", "# nothing\n", "{}\n"] {
            let settings = WebSettings::parse(text, "web.yml", Path::new(".")).unwrap();
            assert!(settings.tls.is_none() && settings.auth.is_none(), "{text:?}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let message = error("basic_auth_users: {}\nhttp_server_config:\n  http2: false\n  tls: x\n");
        assert!(message.starts_with("web.yml:4:3: http_server_config.tls: unknown field"), "{message}");
        let message = error("http_server_config:\n  http2: true\n");
        assert!(message.starts_with("web.yml:2:3: http_server_config.http2: "), "{message}");
        assert!(message.contains("HTTP/1.1 only"), "{message}");
        let message = error("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: []\n");
        assert!(
            message.starts_with("web.yml:4:3: tls_server_config.cipher_suites: unknown field"),
            "{message}"
        );
    }

    #[test]
    fn a_value_that_is_no_bcrypt_hash_is_refused_without_being_repeated() {
        let message = error("basic_auth_users:\n  alice: hunter2\n");
        assert!(message.starts_with("web.yml:2:3: basic_auth_users.alice: not a bcrypt hash"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn tls_versions_and_client_auth_types_use_go_names() {
        let message = error("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS11\n");
        assert!(message.contains("tls_server_config.min_version: unknown variant `TLS11`"), "{message}");
        let message = error(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n",
        );
        assert!(message.contains("tls_server_config.client_auth_type: unknown variant"), "{message}");
    }

    #[test]
    fn missing_tls_files_are_named_with_the_field() {
        let message = error("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
        assert!(
            message.starts_with("web.yml: tls_server_config.cert_file: cannot read /nonexistent/server.crt"),
            "{message}"
        );
    }

    #[test]
    fn client_cas_need_a_policy_and_verifying_policies_need_client_cas() {
        let message =
            error("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n");
        assert!(message.contains("tls_server_config.client_ca_file: is required"), "{message}");
        let message = error("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca.crt\n");
        assert!(
            message
                .contains("tls_server_config.client_ca_file: is set, but client_auth_type is NoClientCert"),
            "{message}"
        );
    }
}
