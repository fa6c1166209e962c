//! Durations as people write them in the file: `500ms`, `30s`, `5m`, `1h`, `7d`, `1m30s`.

use std::time::Duration;

use super::values::{deserialize_by_parse, Scalar};

/// Units from largest to smallest, in milliseconds. `ms` comes before `m` so that the longest
/// spelling wins.
const UNITS: [(&str, u64); 5] = [("d", 86_400_000), ("h", 3_600_000), ("ms", 1), ("m", 60_000), ("s", 1_000)];

macro_rules! examples {
    () => {
        "a number and a unit (ms, s, m, h, d), e.g. 500ms, 30s, 5m or 1m30s"
    };
}
const EXAMPLES: &str = examples!();

/// Parses `500ms`, `30s`, `5m`, `1h`, `7d` and combinations such as `1h30m` (largest unit first,
/// each at most once, as Prometheus writes them). Zero is a valid duration here; whether a setting
/// may be zero is for the setting to say.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| format!("invalid duration {text:?}: {why}");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid(&format!("expected {EXAMPLES}")));
    }
    let mut total_ms: u64 = 0;
    let mut previous_unit_ms = u64::MAX;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid(&format!("expected {EXAMPLES}")));
        }
        let (number, after) = rest.split_at(digits);
        let Some((unit, unit_ms)) = UNITS.into_iter().find(|(unit, _)| after.starts_with(unit)) else {
            let unit: String = after.chars().take_while(|c| !c.is_ascii_digit()).collect();
            return Err(if unit.is_empty() {
                invalid(&format!("{number} needs a unit (ms, s, m, h, d), e.g. {number}s"))
            } else {
                invalid(&format!("unknown unit {unit:?}: expected ms, s, m, h or d"))
            });
        };
        if unit_ms >= previous_unit_ms {
            return Err(invalid("units go from largest to smallest, each at most once, e.g. 1h30m"));
        }
        previous_unit_ms = unit_ms;
        total_ms = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_ms))
            .and_then(|ms| ms.checked_add(total_ms))
            .ok_or_else(|| invalid("too large"))?;
        rest = &after[unit.len()..];
    }
    Ok(Duration::from_millis(total_ms))
}

/// Writes a duration the way [`parse_duration`] reads it, largest unit first: `1m30s`, `7d`.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    // Largest first, and `m` before `ms` here: the order of size, not of spelling.
    let units = [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut text = String::new();
    for (unit, unit_ms) in units {
        if ms >= unit_ms {
            text.push_str(&format!("{}{unit}", ms / unit_ms));
            ms %= unit_ms;
        }
    }
    text
}

/// A duration setting that must be longer than zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PositiveDuration(pub Duration);

impl Scalar for PositiveDuration {
    const EXPECTING: &'static str = concat!("a duration: ", examples!());

    fn parse(text: &str) -> Result<Self, String> {
        match parse_duration(text)? {
            duration if duration.is_zero() => Err("must be longer than 0".to_string()),
            duration => Ok(PositiveDuration(duration)),
        }
    }
}

deserialize_by_parse!(PositiveDuration);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_reads_as_its_length() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    }

    #[test]
    fn units_combine_from_largest_to_smallest() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1d2h3m4s5ms"), Ok(Duration::from_millis(93_784_005)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("30s1m").unwrap_err().contains("largest to smallest"));
        assert!(parse_duration("1m1m").unwrap_err().contains("largest to smallest"));
    }

    #[test]
    fn zero_parses_and_positivity_is_the_settings_business() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn malformed_durations_say_what_is_wrong() {
        assert!(parse_duration("").unwrap_err().contains("e.g. 500ms"));
        assert!(parse_duration("  ").unwrap_err().contains("e.g. 500ms"));
        assert!(parse_duration("60").unwrap_err().contains("60 needs a unit"));
        assert!(parse_duration("soon").unwrap_err().contains("\"soon\""));
        assert!(parse_duration("5 m").unwrap_err().contains("unknown unit \" m\""));
        assert!(parse_duration("3w").unwrap_err().contains("unknown unit \"w\""));
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("1m30").unwrap_err().contains("30 needs a unit"));
    }

    #[test]
    fn overflow_is_refused_not_wrapped() {
        assert!(parse_duration("99999999999999999999s").unwrap_err().contains("too large"));
        assert!(parse_duration("213503982334601d").unwrap_err().contains("too large"));
        assert!(parse_duration("18446744073709551615ms1ms").is_err());
    }

    #[test]
    fn a_positive_duration_refuses_zero() {
        assert_eq!(PositiveDuration::parse("1m30s"), Ok(PositiveDuration(Duration::from_secs(90))));
        assert_eq!(PositiveDuration::parse("0s"), Err("must be longer than 0".to_string()));
        assert!(PositiveDuration::parse("soon").unwrap_err().contains("invalid duration"));
    }

    #[test]
    fn formatting_reads_back_to_the_same_duration() {
        for text in ["500ms", "30s", "5m", "1h", "7d", "1m30s", "1d2h3m4s5ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
        assert_eq!(format_duration(Duration::from_secs(3600 * 48)), "2d");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
