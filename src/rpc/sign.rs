//! Alibaba Cloud RPC signature V1 (HMAC-SHA1), as the official SDKs compute it.
//!
//! The same functions serve the client (to sign) and the simulator (to verify), and both are
//! pinned to the official SDKs' output by the vectors in `tests/data/signature-vectors.json`.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;

pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
pub const SIGNATURE_VERSION: &str = "1.0";

/// RFC 3986 unreserved characters stay; everything else becomes `%XX` (uppercase hex).
/// This differs from form encoding: a space is `%20`, never `+`, and `*` is `%2A`.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a key or value the way the signature expects.
pub fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, RFC3986).to_string()
}

/// `k=v` pairs, keys sorted by byte order, both sides encoded, joined with `&`.
/// A `BTreeMap<String, _>` already orders its keys bytewise, which is what the service does.
pub fn canonical_query(params: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(params.len() * 32);
    push_canonical_query(&mut out, params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    out
}

/// Appends the canonical query of `pairs` to `out`: `pairs` must come sorted by the bytes of
/// their keys (the client sorts a few borrowed pairs instead of building a map per request).
/// `Signature` is left out.
pub fn push_canonical_query<'a>(out: &mut String, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    let mut first = true;
    for (key, value) in pairs.into_iter().filter(|(k, _)| *k != "Signature") {
        if !first {
            out.push('&');
        }
        first = false;
        out.extend(utf8_percent_encode(key, RFC3986));
        out.push('=');
        out.extend(utf8_percent_encode(value, RFC3986));
    }
}

/// `METHOD&%2F&<encoded canonical query>`: the path is always `/` for RPC-style APIs.
pub fn string_to_sign(method: &str, canonical_query: &str) -> String {
    format!("{}&%2F&{}", method, percent_encode(canonical_query))
}

/// base64(HMAC-SHA1(secret + "&", string_to_sign)).
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut mac = keyed(access_key_secret);
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The signature of `canonical_query` for `method`: the same bytes as [`signature`] over
/// [`string_to_sign`], fed to the HMAC piece by piece rather than built as a string first.
pub fn sign_canonical(method: &str, canonical_query: &str, access_key_secret: &str) -> String {
    let mut mac = keyed(access_key_secret);
    mac.update(method.as_bytes());
    mac.update(b"&%2F&");
    for piece in utf8_percent_encode(canonical_query, RFC3986) {
        mac.update(piece.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Signs a full parameter set for `method` and returns the signature value.
pub fn sign_params(method: &str, params: &BTreeMap<String, String>, access_key_secret: &str) -> String {
    sign_canonical(method, &canonical_query(params), access_key_secret)
}

fn keyed(access_key_secret: &str) -> Hmac<Sha1> {
    let mut key = String::with_capacity(access_key_secret.len() + 1);
    key.push_str(access_key_secret);
    key.push('&');
    Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length")
}

/// Compares two signatures in time independent of where they first differ, so the simulator
/// does not teach a timing oracle by example.
pub fn signatures_match(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
