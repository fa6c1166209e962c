//! `NextToken`s: opaque to the client, a cursor to the simulator. A token carries the last item
//! of the page it ends (so the next page is whatever sorts after it, stable while instances come
//! and go) and a checksum, so a token the simulator did not issue is refused rather than read.

/// Which listing a token continues: one API's token is not valid for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cursor {
    Instances,
    TagResources,
}

impl Cursor {
    fn tag(self) -> u8 {
        match self {
            Cursor::Instances => b'i',
            Cursor::TagResources => b't',
        }
    }
}

/// FNV-1a, 64 bits: enough to tell an issued token from a made-up one.
fn checksum(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The token that continues `cursor` after `last`.
pub(super) fn issue(cursor: Cursor, last: &str) -> String {
    let mut payload = vec![cursor.tag()];
    payload.extend_from_slice(last.as_bytes());
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}{:016x}", checksum(&payload))
}

/// What `token` continues after, if the simulator issued it for `cursor`.
pub(super) fn read(cursor: Cursor, token: &str) -> Option<String> {
    if token.len() < 18 || !token.len().is_multiple_of(2) || !token.is_ascii() {
        return None;
    }
    let (hex, sum) = token.split_at(token.len() - 16);
    let payload: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    let expected = u64::from_str_radix(sum, 16).ok()?;
    let (&tag, last) = payload.split_first()?;
    if checksum(&payload) != expected || tag != cursor.tag() {
        return None;
    }
    String::from_utf8(last.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_reads_back() {
        let token = issue(Cursor::Instances, "rm-bp1abc");
        assert_eq!(read(Cursor::Instances, &token).as_deref(), Some("rm-bp1abc"));
        let token = issue(Cursor::TagResources, "rm-1\nenv");
        assert_eq!(read(Cursor::TagResources, &token).as_deref(), Some("rm-1\nenv"));
    }

    #[test]
    fn made_up_altered_or_foreign_tokens_are_not_read() {
        let token = issue(Cursor::Instances, "rm-bp1abc");
        assert_eq!(read(Cursor::TagResources, &token), None);
        let mut altered = token.clone().into_bytes();
        altered[4] = if altered[4] == b'0' { b'1' } else { b'0' };
        assert_eq!(read(Cursor::Instances, &String::from_utf8(altered).unwrap()), None);
        for junk in ["", "abc", "next-page-please", "zz00000000000000000000"] {
            assert_eq!(read(Cursor::Instances, junk), None, "{junk}");
        }
    }
}
