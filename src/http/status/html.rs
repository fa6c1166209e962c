//! What the status page and the instance pages share: escaping, the style, the cells both
//! show, and the link from one to the other.

use crate::http::status::{ErrorStatus, Health, TargetStatus};

/// The path and query of an instance's page (or, with `path` `/api/v1/tasks` or
/// `/api/v1/events`, of its JSON), URL-encoded; escape it before putting it in an attribute.
pub fn href(path: &str, account: Option<&str>, region_id: &str, instance_id: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("region_id", region_id).append_pair("instance_id", instance_id);
    if let Some(account) = account {
        query.append_pair("account", account);
    }
    format!("{path}?{}", query.finish())
}

/// The row class and the text of a health.
/// A failing target's error class, hint and message, escaped; empty when it does not fail.
pub fn error_cell(error: Option<&ErrorStatus>) -> String {
    match error {
        Some(error) => format!(
            "<span class=\"code\">{}</span><br><span class=\"hint\">{}</span><br><small>{}</small>",
            escape(error.code),
            escape(&error.hint),
            escape(&error.message)
        ),
        None => String::new(),
    }
}

pub fn health_label(health: Health) -> (&'static str, &'static str) {
    match health {
        Health::Up => ("up", "UP"),
        Health::Down => ("down", "DOWN"),
        Health::Pending => ("pending", "NOT LISTED YET"),
    }
}

/// `2026-01-01T00:00:00Z (90s ago)` or `never`, escaped.
pub fn last_success_text(target: &TargetStatus) -> String {
    match (&target.last_success, target.last_success_seconds_ago) {
        (Some(at), Some(ago)) => format!("{} ({} ago)", escape(at), escape(&ago_text(ago))),
        _ => "never".to_string(),
    }
}

/// `queueing=1 running=2` (the states with tasks) or `none`, escaped.
pub fn tasks_text(target: &TargetStatus) -> String {
    let tasks: Vec<String> = target
        .tasks
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(state, count)| format!("{}={count}", escape(state)))
        .collect();
    if tasks.is_empty() {
        "none".to_string()
    } else {
        tasks.join(" ")
    }
}

fn ago_text(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds}s"),
        120..=7199 => format!("{}m", seconds / 60),
        7200..=172_799 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

/// Text and attribute values: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}tr.down td.state{color:#fff;background:#c62828;font-weight:bold}tr.up td.state{color:#fff;background:#2e7d32}\
tr.pending td.state{background:#ffe082}.summary{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}\
.summary dt{font-weight:bold}.summary dd{margin:0}.code{font-family:monospace;font-weight:bold}.hint{color:#555}form{margin:1em 0}";
