//! Signature V1 and the `Timestamp` format as the service side checks them. The simulator has
//! its own copy of the algorithm rather than the exporter's signer: a checker that shared the
//! client's code would agree with any mistake in it. Both are held to the official SDKs' vectors
//! (the exporter's `tests/data/signature-vectors.json`, and this module's tests).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

pub const METHOD: &str = "HMAC-SHA1";
pub const VERSION: &str = "1.0";

/// What stays unencoded: RFC 3986's unreserved characters (so a space is `%20` and `*` `%2A`).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// The string a request's signature covers: `METHOD&%2F&` and the encoded canonical query of
/// every parameter but `Signature`, keys in byte order (a `BTreeMap` iterates in that order).
pub fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let canonical = params
        .iter()
        .filter(|(key, _)| key.as_str() != "Signature")
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&{}&{}", encode("/"), encode(&canonical))
}

/// base64 of HMAC-SHA1 over `string_to_sign`, keyed by the secret and `&`.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Equal signatures, compared in time that does not depend on where they first differ.
pub fn same(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `2025-01-02T03:04:05Z`: UTC, to the second.
pub fn format_timestamp(at: SystemTime) -> String {
    OffsetDateTime::from(at).format(TIMESTAMP).expect("a UTC instant always formats")
}

/// The instant a `Timestamp` names; `None` for any other spelling.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let at = PrimitiveDateTime::parse(text, TIMESTAMP).ok()?.assume_utc();
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(at.unix_timestamp()).ok()?))
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Every signature V1 case of the official SDKs' vectors, which the exporter's signer is
    /// held to as well.
    #[test]
    fn the_sdk_vectors_verify() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../../tests/data/signature-vectors.json")).unwrap();
        let cases = vectors["rpc_hmac_sha1"]["cases"].as_array().unwrap();
        assert!(cases.len() >= 3, "the vectors hold {} cases", cases.len());
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let request: BTreeMap<String, String> = case["params"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let text = string_to_sign(case["method"].as_str().unwrap(), &request);
            assert_eq!(text, case["string_to_sign"].as_str().unwrap(), "{name}");
            let secret = case["access_key_secret"].as_str().unwrap();
            assert_eq!(signature(secret, &text), case["signature"].as_str().unwrap(), "{name}");
        }
    }

    #[test]
    fn signature_is_left_out_and_reserved_characters_are_encoded() {
        let text = string_to_sign("POST", &params(&[("Signature", "x"), ("a b", "*~/")]));
        assert_eq!(text, "POST&%2F&a%2520b%3D%252A~%252F");
    }

    #[test]
    fn only_equal_signatures_are_the_same() {
        assert!(same("abc=", "abc="));
        assert!(!same("abc=", "abd="));
        assert!(!same("abc=", "abc"));
    }

    #[test]
    fn timestamps_are_utc_seconds_with_a_z() {
        let at = UNIX_EPOCH + Duration::from_secs(1_663_321_957);
        assert_eq!(format_timestamp(at), "2022-09-16T09:52:37Z");
        assert_eq!(parse_timestamp("2022-09-16T09:52:37Z"), Some(at));
        assert_eq!(parse_timestamp("2022-09-16 09:52:37"), None);
    }
}
