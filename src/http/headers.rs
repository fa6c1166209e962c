//! `http_server_config.headers` of the web config: response headers added to every answer,
//! limited, as in the exporter toolkit, to the security headers a site policy asks for.

use hyper::header::{HeaderName, HeaderValue};
use std::fmt;

use serde::de::{Error, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The headers the exporter toolkit lets a web config set.
const SETTABLE: [&str; 5] = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

/// Headers to add to every response, checked while they are read so that an error points at
/// the line of the header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHeaders(Vec<(HeaderName, HeaderValue)>);

impl ResponseHeaders {
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.0.iter().map(|(name, value)| (name, value))
    }
}

impl<'de> Deserialize<'de> for ResponseHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeadersVisitor)
    }
}

/// Checks each header as it is read, so that an error is placed at that header's line.
struct HeadersVisitor;

impl<'de> Visitor<'de> for HeadersVisitor {
    type Value = ResponseHeaders;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of header names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ResponseHeaders, A::Error> {
        let mut headers = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if !SETTABLE.iter().any(|settable| settable.eq_ignore_ascii_case(&name)) {
                let only = SETTABLE.join(", ");
                return Err(A::Error::custom(format!("header {name:?} cannot be set here; only {only}")));
            }
            let value: String = map.next_value()?;
            let parsed_name = HeaderName::from_bytes(name.as_bytes()).map_err(A::Error::custom)?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| A::Error::custom(format!("header {name:?}: not a valid header value")))?;
            headers.push((parsed_name, value));
        }
        Ok(ResponseHeaders(headers))
    }
}
