//! The `Timestamp` of a signed request, `2025-01-02T03:04:05Z`: UTC, whole seconds. One format for
//! the client that writes it and the simulated gateway that reads it back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// `at` in UTC to the second, as the signature expects.
pub fn format_timestamp(at: SystemTime) -> String {
    OffsetDateTime::from(at).format(FORMAT).expect("a UTC instant always formats")
}

/// Reads [`format_timestamp`]'s format back; `None` for anything else.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let at = PrimitiveDateTime::parse(text, FORMAT).ok()?.assume_utc();
    let seconds = u64::try_from(at.unix_timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_utc_seconds_with_a_z() {
        let at = |t: OffsetDateTime| SystemTime::from(t);
        assert_eq!(format_timestamp(at(datetime!(2025-01-02 03:04:05.999 UTC))), "2025-01-02T03:04:05Z");
        assert_eq!(format_timestamp(at(datetime!(2025-01-02 11:04:05 +08:00))), "2025-01-02T03:04:05Z");
        assert_eq!(parse_timestamp("2025-01-02T03:04:05Z"), Some(at(datetime!(2025-01-02 03:04:05 UTC))));
    }

    #[test]
    fn timestamps_round_trip_in_the_sdk_format() {
        let at = UNIX_EPOCH + Duration::from_secs(1_663_321_957);
        assert_eq!(format_timestamp(at), "2022-09-16T09:52:37Z");
        assert_eq!(parse_timestamp("2022-09-16T09:52:37Z"), Some(at));
        assert_eq!(parse_timestamp("2022-09-16 09:52:37"), None);
    }
}
