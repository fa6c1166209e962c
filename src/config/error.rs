//! What is wrong with a configuration, and where: `config.yaml:7:18: regions[0].instances: ...`.

use std::fmt;
use std::io;

/// A 1-based line and column in the configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// The file, with the line and column when they are known: `config.yaml:7:18` or `config.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub origin: String,
    pub location: Option<Location>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        match self.location {
            Some(Location { line, column }) => write!(f, ":{line}:{column}"),
            None => Ok(()),
        }
    }
}

/// Why a configuration was refused. Every message starts with the file, then the line and column
/// where known, then the field path, so editors and CI logs can jump to it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing, unreadable or not UTF-8.
    #[error("{origin}: cannot read the configuration file: {source}")]
    Read {
        origin: String,
        #[source]
        source: io::Error,
    },
    /// Nothing but whitespace, comments or `null`.
    #[error("{origin}: the configuration is empty: it must at least list `regions`")]
    Empty { origin: String },
    /// Not YAML at all, or more than one document.
    #[error("{place}: invalid YAML: {message}")]
    Syntax { place: Place, message: String },
    /// YAML, but not a valid configuration. `field` is the path of the offending value
    /// (`regions[0].instances`); `None` for the document as a whole.
    #[error("{place}: {}{message}", FieldPrefix(.field.as_deref()))]
    Invalid { place: Place, field: Option<String>, message: String },
}

impl ConfigError {
    /// The line and column the error points at, when it points at one.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Syntax { place, .. } | ConfigError::Invalid { place, .. } => place.location,
            ConfigError::Read { .. } | ConfigError::Empty { .. } => None,
        }
    }

    /// The path of the offending value, when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

struct FieldPrefix<'a>(Option<&'a str>);

impl fmt::Display for FieldPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(field) => write!(f, "{field}: "),
            None => Ok(()),
        }
    }
}

/// A YAML error from reading the document against the schema, at `field`.
pub(super) fn invalid(
    origin: &str,
    field: &serde_path_to_error::Path,
    err: &serde_yaml::Error,
) -> ConfigError {
    let field = Some(field.to_string()).filter(|path| path != ".");
    let message = yaml_message(err, field.as_deref());
    ConfigError::Invalid {
        place: Place { origin: origin.to_string(), location: yaml_location(err) },
        field,
        message,
    }
}

/// An error from libyaml itself, or a second document. A tab where libyaml stopped is named:
/// libyaml only says it "cannot start any token".
pub(super) fn syntax(origin: &str, text: &str, err: &serde_yaml::Error) -> ConfigError {
    let location = yaml_location(err);
    let place = Place { origin: origin.to_string(), location };
    let message = match location {
        Some(at) if char_at(text, at) == Some('\t') => {
            "a tab character: YAML indents with spaces only".to_string()
        }
        _ => yaml_message(err, None),
    };
    ConfigError::Syntax { place, message }
}

/// The character at a 1-based line and column.
fn char_at(text: &str, at: Location) -> Option<char> {
    text.lines().nth(at.line.checked_sub(1)?)?.chars().nth(at.column.checked_sub(1)?)
}

/// The line and column serde_yaml attached, if any. serde_yaml reports 0:0 when it has no real
/// position (an error raised outside every deserializer call), which is no position at all.
pub(super) fn yaml_location(err: &serde_yaml::Error) -> Option<Location> {
    err.location()
        .filter(|l| l.line() != 0 || l.column() != 0)
        .map(|l| Location { line: l.line(), column: l.column() })
}

/// serde_yaml's message without what this crate prints itself: the position (`at line 7 column
/// 18`) and serde_yaml's own copy of the field path (`regions[0].instances: `). serde_yaml's path
/// can stop short of serde_path_to_error's (an unknown key is in the latter, not the former), so
/// any leading part of `field` is stripped.
fn yaml_message(err: &serde_yaml::Error, field: Option<&str>) -> String {
    let mut message = err.to_string();
    if let Some(location) = err.location() {
        let position = format!(" at line {} column {}", location.line(), location.column());
        message = message.replacen(&position, "", 1);
    }
    let Some(field) = field else { return message };
    let ends = field.match_indices(['.', '[']).map(|(end, _)| end).chain([field.len()]);
    let mut prefixes: Vec<&str> = ends.map(|end| &field[..end]).filter(|prefix| !prefix.is_empty()).collect();
    prefixes.reverse();
    for prefix in prefixes {
        if let Some(rest) = message.strip_prefix(prefix).and_then(|rest| rest.strip_prefix(": ")) {
            return rest.to_string();
        }
    }
    message
}
