//! A strict reader of the Prometheus text exposition format (version 0.0.4), for tests.
//!
//! Strict where Prometheus is lenient and the exporter has no reason to be: no blank lines, no
//! free comments, exactly one space before the value, no trailing comma in a label set, no
//! timestamps. Everything the format itself requires is checked: metric and label names, label
//! value escapes, float syntax, one `HELP` and one `TYPE` per family, a family's samples together
//! and after its `TYPE`, no series twice.

use std::collections::BTreeSet;

/// A metric family as read: its header and its samples, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: String,
    pub samples: Vec<Sample>,
}

/// One sample line. `value` is the text as written; it has been checked to be a valid float.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: String,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn float(&self) -> f64 {
        match self.value.as_str() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            text => text.parse().expect("checked when read"),
        }
    }
}

/// Reads a whole exposition; the error names the 1-based line and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<Family>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = text.strip_suffix('\n') else {
        return Err("the exposition does not end with a newline".into());
    };
    let mut families: Vec<Family> = Vec::new();
    let mut names = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut headers = BTreeSet::new();
    for (index, line) in body.split('\n').enumerate() {
        let at = |message: String| format!("line {}: {message}: {line:?}", index + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let help = unescape_help(help).map_err(at)?;
            let family = open_family(&mut families, &mut names, name).map_err(at)?;
            if !headers.insert((name.to_string(), "HELP")) || !family.samples.is_empty() {
                return Err(at(format!("a second HELP for {name}, or a HELP after its samples")));
            }
            family.help = help;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| at("TYPE without a type".into()))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at(format!("unknown type {kind:?}")));
            }
            let family = open_family(&mut families, &mut names, name).map_err(at)?;
            if !headers.insert((name.to_string(), "TYPE")) || !family.samples.is_empty() {
                return Err(at(format!("a second TYPE for {name}, or a TYPE after its samples")));
            }
            family.kind = kind.to_string();
        } else if line.starts_with('#') {
            return Err(at("a comment that is neither HELP nor TYPE".into()));
        } else if line.is_empty() {
            return Err(at("a blank line".into()));
        } else {
            let sample = parse_sample(line).map_err(at)?;
            let family = families.last_mut().ok_or_else(|| at("a sample before any family".into()))?;
            if family.kind.is_empty() {
                return Err(at(format!("a sample of {} before its TYPE", family.name)));
            }
            if !belongs_to(&sample.name, family) {
                return Err(at(format!(
                    "{} is not a sample of the current family {} (a family's samples must be together)",
                    sample.name, family.name
                )));
            }
            let mut identity = sample.labels.clone();
            identity.sort();
            if !series.insert((sample.name.clone(), identity)) {
                return Err(at("the same series twice".into()));
            }
            family.samples.push(sample);
        }
    }
    for family in &families {
        if !headers.contains(&(family.name.clone(), "HELP")) || family.kind.is_empty() {
            return Err(format!("family {} lacks a HELP or a TYPE", family.name));
        }
    }
    Ok(families)
}

/// The family named `name`: the current one, or a new one if the name was never seen.
fn open_family<'a>(
    families: &'a mut Vec<Family>,
    names: &mut BTreeSet<String>,
    name: &str,
) -> Result<&'a mut Family, String> {
    if !is_metric_name(name) {
        return Err(format!("{name:?} is not a metric name"));
    }
    let current = families.last().is_some_and(|family| family.name == name);
    if !current {
        if !names.insert(name.to_string()) {
            return Err(format!("family {name} appears twice, apart"));
        }
        families.push(Family {
            name: name.to_string(),
            help: String::new(),
            kind: String::new(),
            samples: Vec::new(),
        });
    }
    Ok(families.last_mut().expect("just ensured"))
}

fn belongs_to(sample: &str, family: &Family) -> bool {
    let suffixes: &[&str] = match family.kind.as_str() {
        "histogram" => &["_bucket", "_sum", "_count"],
        "summary" => &["", "_sum", "_count"],
        _ => &[""],
    };
    suffixes.iter().any(|suffix| sample.strip_suffix(suffix) == Some(family.name.as_str()))
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample without a value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("{name:?} is not a metric name"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = parse_labels(after_brace, &mut labels)?;
    }
    let value = rest.strip_prefix(' ').ok_or("expected one space before the value")?;
    if !is_float(value) {
        return Err(format!("{value:?} is not a float (a timestamp, or spaces, are not expected)"));
    }
    Ok(Sample { name: name.to_string(), labels, value: value.to_string() })
}

/// Reads `name="value",...}` and returns what follows the closing brace.
fn parse_labels<'a>(mut rest: &'a str, labels: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    if let Some(after) = rest.strip_prefix('}') {
        return Ok(after);
    }
    loop {
        let (name, after_name) = rest.split_once("=\"").ok_or("a label without =\"")?;
        if !is_label_name(name) {
            return Err(format!("{name:?} is not a label name"));
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(format!("label {name} twice in one sample"));
        }
        let mut value = String::new();
        let mut chars = after_name.char_indices();
        let end = loop {
            match chars.next().ok_or("a label value without its closing quote")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => {
                        return Err(format!("invalid escape \\{:?} in a label value", other.map(|c| c.1)))
                    }
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((name.to_string(), value));
        rest = &after_name[end + 1..];
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        rest = rest.strip_prefix(',').ok_or("labels must be separated by ','")?;
        if rest.starts_with('}') {
            return Err("a trailing comma in a label set".into());
        }
    }
}

fn unescape_help(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => return Err(format!("invalid escape \\{other:?} in HELP")),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Go's `strconv.ParseFloat` syntax as Prometheus writes floats: decimal with an optional
/// exponent, `NaN`, `+Inf`, `-Inf`. Rust's `inf` and `infinity` are not in it.
pub fn is_float(text: &str) -> bool {
    if matches!(text, "NaN" | "+Inf" | "-Inf") {
        return true;
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (digits(whole) || whole.is_empty())
                && (digits(fraction) || fraction.is_empty())
                && !(whole.is_empty() && fraction.is_empty())
        }
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_itself_refuses_what_the_format_refuses() {
        let ok = "# HELP a x\\ny\n# TYPE a gauge\na{l=\"q\\\"\\\\\\n\"} 1.5e3\n";
        let families = parse(ok).unwrap();
        assert_eq!(families[0].help, "x\ny");
        assert_eq!(families[0].samples[0].label("l"), Some("q\"\\\n"));
        for bad in [
            "# TYPE a gauge\na 1",
            "# HELP a x\n# TYPE a gauge\na{l=\"\\t\"} 1\n",
            "# HELP a x\n# TYPE a gauge\na{l=\"x\"\"} 1\n",
            "# HELP a x\n# TYPE a gauge\na inf\n",
            "# HELP a x\n# TYPE a gauge\na{l=\"x\",} 1\n",
            "# HELP a x\n# TYPE a gauge\na 1\na 2\n",
            "# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na 1\n",
            "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\n# HELP a x\n",
            "# TYPE a gauge\na 1\n",
            "# HELP a x\n# TYPE a gauge\n1a 1\n",
            "# HELP a x\n# TYPE a gauge\na{__l=\"x\"} 1\n",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
