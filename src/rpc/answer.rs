//! Reading an RPC answer: the error it carries (an HTTP status with `Code`/`Message`, or HTTP 200
//! with `Success: false`), or its payload, decoded in the same pass into whatever type the caller
//! asks for.
//!
//! Alibaba's answers are not consistent about types (numbers as strings and strings as numbers),
//! so envelope fields are read as [`Loose`] text. No input can make decoding panic; the worst
//! outcome is an [`RpcError::Decode`].

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::error::RpcError;

/// The `RequestId` of an answer that has none.
pub const UNKNOWN_REQUEST_ID: &str = "none";

/// A successful answer: its `RequestId` and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer<T> {
    pub request_id: String,
    pub payload: T,
}

/// Where a successful answer keeps its payload, and whether an undecodable body may be quoted
/// in the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload<'a> {
    key: &'a str,
    quotable: bool,
}

impl<'a> Payload<'a> {
    /// The member that holds the payload: DBS answers `Data`, STS `Credentials`.
    pub const fn named(key: &'a str) -> Self {
        Payload { key, quotable: true }
    }

    /// The same, for answers that carry secrets (temporary credentials): an undecodable body
    /// is described, never quoted.
    pub const fn secret(key: &'a str) -> Self {
        Payload { key, quotable: false }
    }
}

/// Turns one HTTP answer into its payload or the error it carries.
pub fn decode_answer<'de, T: Deserialize<'de>>(
    status: u16,
    body: &'de [u8],
    retry_after: Option<Duration>,
    payload: Payload<'_>,
) -> Result<Answer<T>, RpcError> {
    if !(200..300).contains(&status) {
        return Err(decode_error_body(status, body, retry_after));
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    let envelope = EnvelopeSeed { payload: payload.key, value: PhantomData::<T> }
        .deserialize(&mut reader)
        .and_then(|envelope| reader.end().map(|()| envelope))
        .map_err(|err| RpcError::Decode {
            status,
            request_id: UNKNOWN_REQUEST_ID.into(),
            detail: describe_undecodable(body, &err, payload.quotable),
        })?;
    let request_id = envelope.request_id.owned().unwrap_or_else(|| UNKNOWN_REQUEST_ID.into());
    // HTTP 200 is not success: APIs report some failures in the body. When `Success` is "true"
    // the error fields are noise (DBS' own documented example fills them on success).
    let success = envelope.success.text().map(|s| s.eq_ignore_ascii_case("true"));
    if success == Some(false) || (success.is_none() && envelope.payload.is_none()) {
        let code = envelope.err_code.owned().or_else(|| envelope.code.owned());
        let message = envelope.err_message.owned().or_else(|| envelope.message.owned());
        if success == Some(false) || code.is_some() {
            return Err(RpcError::InBand {
                code: code.unwrap_or_else(|| "Unknown".into()),
                message: message.unwrap_or_default(),
                request_id,
            });
        }
    }
    match envelope.payload {
        Some(payload) => Ok(Answer { request_id, payload }),
        None => Err(RpcError::Decode {
            status,
            request_id,
            detail: format!("the answer has no {} object", payload.key),
        }),
    }
}

/// A JSON scalar taken as text: strings, numbers and booleans all become `Some(text)`;
/// null, empty strings, arrays and objects become `None`. Strings without escapes are borrowed
/// from the body, so most fields cost no allocation.
#[derive(Default, Debug)]
pub struct Loose<'a>(Option<Cow<'a, str>>);

impl Loose<'_> {
    /// The trimmed text, `None` when empty.
    pub fn text(&self) -> Option<&str> {
        self.0.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    pub fn owned(&self) -> Option<String> {
        self.text().map(str::to_string)
    }

    /// A non-negative integer, accepting `"42"`, `42`, `42.0` and `"42.0"`.
    pub fn number(&self) -> Option<u64> {
        let text = self.text()?;
        text.parse::<u64>().ok().or_else(|| {
            let float = text.parse::<f64>().ok()?;
            (float.is_finite() && float >= 0.0 && float <= u64::MAX as f64).then_some(float as u64)
        })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v))))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Borrowed(if v { "true" } else { "false" }))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Loose<'de>, E> {
        Ok(Loose(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Loose<'de>, E> {
        Ok(Loose(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Loose<'de>, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose(None))
    }
}

/// The members every RPC answer may have, and the payload under its product's name.
struct Envelope<'a, T> {
    request_id: Loose<'a>,
    success: Loose<'a>,
    code: Loose<'a>,
    message: Loose<'a>,
    err_code: Loose<'a>,
    err_message: Loose<'a>,
    payload: Option<T>,
}

struct EnvelopeSeed<'k, T> {
    payload: &'k str,
    value: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for EnvelopeSeed<'_, T> {
    type Value = Envelope<'de, T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for EnvelopeSeed<'_, T> {
    type Value = Envelope<'de, T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an API answer: a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope {
            request_id: Loose::default(),
            success: Loose::default(),
            code: Loose::default(),
            message: Loose::default(),
            err_code: Loose::default(),
            err_message: Loose::default(),
            payload: None,
        };
        while let Some(member) = map.next_key_seed(MemberSeed { payload: self.payload })? {
            let slot = match member {
                Member::RequestId => &mut envelope.request_id,
                Member::Success => &mut envelope.success,
                Member::Code => &mut envelope.code,
                Member::Message => &mut envelope.message,
                Member::ErrCode => &mut envelope.err_code,
                Member::ErrMessage => &mut envelope.err_message,
                Member::Payload => {
                    if envelope.payload.is_some() {
                        return Err(de::Error::custom(format_args!("duplicate member `{}`", self.payload)));
                    }
                    envelope.payload = map.next_value::<Option<T>>()?;
                    continue;
                }
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value()?;
        }
        Ok(envelope)
    }
}

enum Member {
    RequestId,
    Success,
    Code,
    Message,
    ErrCode,
    ErrMessage,
    Payload,
    Other,
}

/// Names a member without allocating its key.
struct MemberSeed<'k> {
    payload: &'k str,
}

impl<'de> DeserializeSeed<'de> for MemberSeed<'_> {
    type Value = Member;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Member, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for MemberSeed<'_> {
    type Value = Member;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Member, E> {
        Ok(match key {
            "RequestId" => Member::RequestId,
            "Success" => Member::Success,
            "Code" => Member::Code,
            "Message" => Member::Message,
            "ErrCode" => Member::ErrCode,
            "ErrMessage" => Member::ErrMessage,
            key if key == self.payload => Member::Payload,
            _ => Member::Other,
        })
    }
}

/// The body of a non-2xx answer: `{"RequestId","HostId","Code","Message","Recommend"}`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawErrorBody<'a> {
    #[serde(borrow)]
    request_id: Loose<'a>,
    #[serde(borrow)]
    code: Loose<'a>,
    #[serde(borrow)]
    message: Loose<'a>,
}

fn decode_error_body(status: u16, body: &[u8], retry_after: Option<Duration>) -> RpcError {
    match serde_json::from_slice::<RawErrorBody>(body) {
        Ok(raw) => RpcError::Http {
            status,
            code: raw.code.owned().unwrap_or_default(),
            message: raw.message.owned().unwrap_or_default(),
            request_id: raw.request_id.owned().unwrap_or_else(|| UNKNOWN_REQUEST_ID.into()),
            retry_after,
        },
        // Gateways answer 502/504 with HTML: keep the status, say what the body looked like.
        Err(_) => RpcError::Http {
            status,
            code: String::new(),
            message: format!("non-JSON error body: {}", snippet(body)),
            request_id: UNKNOWN_REQUEST_ID.into(),
            retry_after,
        },
    }
}

fn describe_undecodable(body: &[u8], err: &serde_json::Error, quotable: bool) -> String {
    let quoted = |text: String| if quotable { format!("{text} ({})", snippet(body)) } else { text };
    if body.is_empty() {
        "empty body".into()
    } else if err.is_eof() {
        format!("body ends early after {} bytes", body.len())
    } else if body.trim_ascii_start().starts_with(b"<") {
        quoted("expected JSON, got XML or HTML".into())
    } else {
        quoted(err.to_string())
    }
}

/// The start of a body, printable and short, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(80)]);
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(status: u16, body: &str) -> Result<Answer<serde_json::Value>, RpcError> {
        decode_answer(status, body.as_bytes(), None, Payload::named("Data"))
    }

    #[test]
    fn the_payload_comes_out_under_its_name_with_the_request_id() {
        let answer = decode(200, r#"{"RequestId":"R-1","Success":true,"Data":{"A":1}}"#).unwrap();
        assert_eq!(answer.request_id, "R-1");
        assert_eq!(answer.payload, serde_json::json!({"A": 1}));
    }

    #[test]
    fn without_success_a_code_and_no_payload_is_an_error() {
        // STS and other products that send no `Success`: an error body on HTTP 200.
        let err = decode(200, r#"{"RequestId":"R-2","Code":"InvalidParameter","Message":"m"}"#).unwrap_err();
        assert!(
            matches!(&err, RpcError::InBand { code, request_id, .. } if code == "InvalidParameter" && request_id == "R-2"),
            "{err:?}"
        );
        let err = decode(200, r#"{"RequestId":"R-3"}"#).unwrap_err();
        assert!(err.to_string().contains("the answer has no Data object"), "{err}");
    }

    #[test]
    fn a_secret_payload_is_never_quoted_when_undecodable() {
        let body = br#"{"Credentials":{"AccessKeySecret":"canary" "#;
        let err = decode_answer::<serde_json::Value>(200, body, None, Payload::secret("Credentials"));
        let text = err.unwrap_err().to_string();
        assert!(!text.contains("canary"), "{text}");
        let body = br#"{"Credentials":{"AccessKeySecret":"canary"}} trailing"#;
        let err = decode_answer::<serde_json::Value>(200, body, None, Payload::secret("Credentials"));
        let text = err.unwrap_err().to_string();
        assert!(!text.contains("canary"), "{text}");
        let err = decode_answer::<serde_json::Value>(200, body, None, Payload::named("Credentials"));
        assert!(err.unwrap_err().to_string().contains("canary"), "quoted when not secret");
    }

    #[test]
    fn a_duplicate_payload_is_refused() {
        assert!(decode(200, r#"{"Data":{},"Data":{}}"#).is_err());
    }
}
