//! The INI credentials file the SDKs share, `~/.alibabacloud/credentials.ini`:
//!
//! ```ini
//! [default]
//! type = access_key
//! access_key_id = LTAI...
//! access_key_secret = ...
//!
//! [other-account]
//! type = ram_role_arn
//! access_key_id = LTAI...
//! access_key_secret = ...
//! role_arn = acs:ram::123456789012:role/dbs-reader
//! ```
//!
//! The format used is a small subset of INI (sections, `key = value`, whole-line `#`/`;`
//! comments, and inline ones after whitespace), so it is read here in a few lines rather than
//! with a dependency. Messages name the file and line and never quote a value.

use std::path::Path;
use std::time::Duration;

use super::spec::DEFAULT_ROLE_SESSION_NAME;
use super::sts::AssumeRole;
use super::{Credentials, CredentialsError};

/// What a profile (of this file or of the CLI's) says to use.
#[derive(Debug)]
pub(super) enum Found {
    /// An AccessKey, with an STS token when the profile holds one.
    AccessKey(Credentials),
    /// An AccessKey that signs STS `AssumeRole`.
    RamRoleArn { base: Credentials, request: AssumeRole },
    /// The ECS instance's RAM role.
    EcsRamRole { role_name: Option<String> },
}

/// A profile as written: its line, and its `key = value` pairs with their lines.
#[derive(Debug)]
pub(super) struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<(String, String, usize)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _, _)| k == key).map(|(_, v, _)| v.as_str()).filter(|v| !v.is_empty())
    }
}

/// Reads the sections of an INI text; `Err((line, message))` for the first malformed line.
pub(super) fn parse_ini(text: &str) -> Result<Vec<Section>, (usize, String)> {
    let mut sections: Vec<Section> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = strip_comment(raw).trim();
        if content.is_empty() {
            continue;
        }
        if let Some(header) = content.strip_prefix('[') {
            let Some(name) = header.strip_suffix(']').map(str::trim).filter(|name| !name.is_empty()) else {
                return Err((line, "a section header is written `[name]`".into()));
            };
            if let Some(first) = sections.iter().find(|s| s.name == name) {
                return Err((
                    line,
                    format!("profile [{name}] is written twice (first at line {})", first.line),
                ));
            }
            sections.push(Section { name: name.to_string(), line, entries: Vec::new() });
            continue;
        }
        let Some((key, value)) = content.split_once('=') else {
            return Err((line, "expected `key = value` or a `[profile]` header".into()));
        };
        let Some(section) = sections.last_mut() else {
            return Err((line, "a setting before any `[profile]` header".into()));
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err((line, "a setting without a name".into()));
        }
        if let Some((_, _, first)) = section.entries.iter().find(|(k, _, _)| *k == key) {
            return Err((
                line,
                format!("`{key}` is written twice in [{}] (first at line {first})", section.name),
            ));
        }
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        section.entries.push((key, value.to_string(), line));
    }
    Ok(sections)
}

/// A `#` or `;` at the start of the line, or after whitespace, starts a comment.
fn strip_comment(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with(';') {
        return "";
    }
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if (*b == b'#' || *b == b';') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return &line[..i];
        }
    }
    line
}

/// The profile `name` of the file at `path`: `Ok(None)` when the file does not have it, or has it
/// with `enable = false`.
pub(super) fn load(path: &Path, name: &str) -> Result<Option<Found>, CredentialsError> {
    let link = format!("credentials-file:{name}");
    let text = std::fs::read_to_string(path)
        .map_err(|err| CredentialsError::invalid(&link, format!("cannot read {}: {err}", path.display())))?;
    let sections = parse_ini(&text).map_err(|(line, message)| {
        CredentialsError::invalid(&link, format!("{}:{line}: {message}", path.display()))
    })?;
    let Some(section) = sections.into_iter().find(|s| s.name == name) else {
        return Ok(None);
    };
    if section.get("enable").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        tracing::debug!(profile = name, file = %path.display(), "profile disabled by `enable = false`");
        return Ok(None);
    }
    let at = |line: usize| format!("{}:{line}: [{name}]", path.display());
    let required = |key: &str| {
        section.get(key).map(str::to_string).ok_or_else(|| {
            CredentialsError::invalid(&link, format!("{}: `{key}` is missing or empty", at(section.line)))
        })
    };
    let kind = section.get("type").unwrap_or("access_key").to_string();
    let found = match kind.as_str() {
        "access_key" => {
            Found::AccessKey(Credentials::new(required("access_key_id")?, required("access_key_secret")?))
        }
        "sts" => Found::AccessKey(
            Credentials::new(required("access_key_id")?, required("access_key_secret")?)
                .with_security_token(required("security_token")?),
        ),
        "ram_role_arn" => Found::RamRoleArn {
            base: Credentials::new(required("access_key_id")?, required("access_key_secret")?),
            request: AssumeRole {
                role_arn: required("role_arn")?,
                session_name: section
                    .get("role_session_name")
                    .unwrap_or(DEFAULT_ROLE_SESSION_NAME)
                    .to_string(),
                external_id: section.get("external_id").map(str::to_string),
                policy: section.get("policy").map(str::to_string),
                duration: Duration::from_secs(3600),
            },
        },
        "ecs_ram_role" => Found::EcsRamRole { role_name: section.get("role_name").map(str::to_string) },
        other => {
            let line =
                section.entries.iter().find(|(k, _, _)| k == "type").map_or(section.line, |(_, _, l)| *l);
            return Err(CredentialsError::invalid(
                &link,
                format!(
                    "{}: type `{other}` is not supported: use access_key, sts, ram_role_arn or ecs_ram_role",
                    at(line)
                ),
            ));
        }
    };
    Ok(Some(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_and_comments() {
        let text =
            "# top\n[default]\ntype = access_key ; inline\naccess_key_id = LTAI#x\n\n[b]\n; c\nKEY=\"v\"\n";
        let sections = parse_ini(text).unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].get("type"), Some("access_key"));
        assert_eq!(sections[0].get("access_key_id"), Some("LTAI#x"), "a # inside a value is kept");
        assert_eq!(sections[1].get("key"), Some("v"));
        assert_eq!(sections[1].line, 6);
    }

    #[test]
    fn malformed_lines_are_placed() {
        assert_eq!(parse_ini("key = v\n").unwrap_err().0, 1);
        assert_eq!(parse_ini("[a]\nnot a setting\n").unwrap_err().0, 2);
        assert_eq!(parse_ini("[a]\n[]\n").unwrap_err().0, 2);
        let (line, message) = parse_ini("[a]\nk=1\n[a]\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(message.contains("first at line 1"), "{message}");
        let (line, message) = parse_ini("[a]\nk=canary\nk=canary\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(!message.contains("canary"), "{message}");
    }
}
