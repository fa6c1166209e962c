//! The text exposition format (0.0.4), as the exporter writes it: a [`Family`] is declared once
//! with its name, help and type; writing it puts out its `# HELP`/`# TYPE` header and gives the
//! [`Samples`] writer through which its samples go, so a metric name is spelt in one place.

use std::fmt::{self, Write as _};

use super::rope::{Rope, Sink};
use crate::api::TaskType;
use crate::store::model::InstanceKey;

/// The metric types the exporter's task series use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// A metric family: its name, its help text and its type.
#[derive(Clone, Copy, Debug)]
pub(super) struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
}

impl Family {
    pub(super) const fn gauge(name: &'static str, help: &'static str) -> Self {
        Family { name, help, kind: Kind::Gauge }
    }

    pub(super) const fn counter(name: &'static str, help: &'static str) -> Self {
        Family { name, help, kind: Kind::Counter }
    }

    /// Writes the family's header to `out`; its samples follow through what this returns.
    /// (The help texts have no `\` or line break, the only characters HELP escapes.)
    /// `accounts`: whether instance samples carry the `account` label.
    pub(super) fn write_to<'a, S: Sink>(
        &self,
        out: &'a mut Rope<S>,
        accounts: AccountLabel,
    ) -> Samples<'a, S> {
        let Family { name, help, kind } = self;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {}", kind.as_str());
        Samples { out, name, accounts }
    }
}

/// Whether instance series print their account: only with several accounts configured, so a
/// single-account exporter's series keep the label set they always had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountLabel {
    Shown,
    Hidden,
}

impl AccountLabel {
    pub fn when(shown: bool) -> Self {
        if shown {
            AccountLabel::Shown
        } else {
            AccountLabel::Hidden
        }
    }
}

/// The samples of the family whose header was just written.
pub(super) struct Samples<'a, S: Sink> {
    out: &'a mut Rope<S>,
    name: &'static str,
    accounts: AccountLabel,
}

impl<S: Sink> Samples<'_, S> {
    /// The family's one sample without labels.
    pub(super) fn unlabelled(&mut self, value: impl Into<Value>) {
        self.out.push_str(self.name);
        self.end(value.into());
    }

    /// A sample of one instance: its labels only.
    pub(super) fn instance(&mut self, instance: &InstanceKey, value: impl Into<Value>) {
        self.out.push_str(self.name);
        push_instance_labels(self.out, instance, self.accounts);
        self.out.push('}');
        self.end(value.into());
    }

    /// A sample of one target: the instance's labels, `task_type`, then one more label.
    /// An instance's series with more labels after its own.
    pub(super) fn instance_with(
        &mut self,
        instance: &InstanceKey,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) {
        let out = &mut *self.out;
        out.push_str(self.name);
        push_instance_labels(out, instance, self.accounts);
        for (label, label_value) in labels {
            out.push(',');
            out.push_str(label);
            out.push_str("=\"");
            push_label_value(out, label_value);
            out.push('"');
        }
        out.push('}');
        self.end(value.into());
    }

    pub(super) fn target(
        &mut self,
        instance: &InstanceKey,
        task_type: TaskType,
        (label, label_value): (&str, &str),
        value: impl Into<Value>,
    ) {
        let out = &mut *self.out;
        out.push_str(self.name);
        push_instance_labels(out, instance, self.accounts);
        out.push_str(",task_type=\"");
        out.push_str(task_type.as_str());
        out.push_str("\",");
        out.push_str(label);
        out.push_str("=\"");
        push_label_value(out, label_value);
        out.push_str("\"}");
        self.end(value.into());
    }

    /// ` value\n`.
    fn end(&mut self, value: Value) {
        let _ = writeln!(self.out, " {value}");
    }
}

/// A sample value, written as Prometheus reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Value {
    Integer(u64),
    Float(f64),
    /// A Unix time in milliseconds, written in seconds with three decimals.
    UnixMillis(u64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Integer(value) => write!(f, "{value}"),
            Value::Float(value) => write!(f, "{value}"),
            Value::UnixMillis(ms) => write!(f, "{}.{:03}", ms / 1000, ms % 1000),
        }
    }
}

impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Value::Integer(value)
    }
}

impl From<usize> for Value {
    fn from(value: usize) -> Self {
        Value::Integer(value as u64)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Float(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Integer(u64::from(value))
    }
}

/// `{account="…",region_id="…",instance_id="…"`, the account only when shown; the brace
/// stays open for the caller's further labels.
fn push_instance_labels<S: Sink>(out: &mut Rope<S>, instance: &InstanceKey, accounts: AccountLabel) {
    out.push('{');
    if accounts == AccountLabel::Shown {
        out.push_str("account=\"");
        push_label_value(out, &instance.account);
        out.push_str("\",");
    }
    out.push_str("region_id=\"");
    push_label_value(out, &instance.region_id);
    out.push_str("\",instance_id=\"");
    push_label_value(out, &instance.instance_id);
    out.push('"');
}

/// Label values escape `\`, `"` and newlines, as the text format requires.
fn push_label_value<S: Sink>(out: &mut Rope<S>, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(write: impl FnOnce(&mut Rope)) -> String {
        let mut out = Rope::default();
        write(&mut out);
        String::from_utf8(out.into_chunks().concat()).unwrap()
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(written(|out| push_label_value(out, "a\"b\\c\nd")), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_family_is_its_header_then_its_samples_each_under_its_one_name() {
        const UP: Family = Family::gauge("up_here", "Whether it is up.");
        const SEEN: Family = Family::counter("seen_total", "Seen so far.");
        let instance = InstanceKey::new("cn-hangzhou", "rm-\"1\"").in_account("prod");
        let text = written(|out| {
            let mut up = UP.write_to(out, AccountLabel::Shown);
            up.instance(&instance, true);
            up.instance(&InstanceKey::new("cn-beijing", "rm-2"), false);
            let mut up = UP.write_to(out, AccountLabel::Hidden);
            up.instance(&instance, true);
            let mut seen = SEEN.write_to(out, AccountLabel::Shown);
            seen.target(&instance, TaskType::Pitr, ("state", "run\\ning"), 3_u64);
            seen.unlabelled(0.25);
        });
        assert_eq!(
            text,
            "# HELP up_here Whether it is up.\n\
             # TYPE up_here gauge\n\
             up_here{account=\"prod\",region_id=\"cn-hangzhou\",instance_id=\"rm-\\\"1\\\"\"} 1\n\
             up_here{account=\"default\",region_id=\"cn-beijing\",instance_id=\"rm-2\"} 0\n\
             # HELP up_here Whether it is up.\n\
             # TYPE up_here gauge\n\
             up_here{region_id=\"cn-hangzhou\",instance_id=\"rm-\\\"1\\\"\"} 1\n\
             # HELP seen_total Seen so far.\n\
             # TYPE seen_total counter\n\
             seen_total{account=\"prod\",region_id=\"cn-hangzhou\",instance_id=\"rm-\\\"1\\\"\",task_type=\"pitr\",state=\"run\\\\ning\"} 3\n\
             seen_total 0.25\n"
        );
    }

    #[test]
    fn values_are_written_as_prometheus_reads_them() {
        let cases = [
            (Value::Integer(u64::MAX), "18446744073709551615"),
            (Value::Float(0.5), "0.5"),
            (Value::Float(3.0), "3"),
            (Value::UnixMillis(1_700_000_000_123), "1700000000.123"),
            (Value::UnixMillis(5), "0.005"),
            (Value::from(true), "1"),
            (Value::from(7_usize), "7"),
        ];
        for (value, text) in cases {
            assert_eq!(value.to_string(), text, "{value:?}");
        }
    }
}
