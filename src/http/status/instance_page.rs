//! The instance page (`GET /instance?region_id=R&instance_id=I[&account=A]`): which download of
//! one instance is running, how far it is and when it may end, and what its tasks did lately.
//! Plain server-rendered HTML, no script, with the status page's style; every value escaped.

use std::fmt::Write as _;

use super::html::{error_cell, escape, health_label, href, last_success_text, tasks_text, STYLE};
use crate::http::status::{human_seconds, EventRow, InstanceStatus, TaskRow, STALLED_AFTER_POLLS};

/// Events the page shows, newest first.
pub const EVENT_LIMIT: usize = 50;

/// The page's query parameters; an empty value counts as absent, so that a link made from an
/// alert whose `account` label is empty (one account) still works.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InstanceQuery {
    pub account: Option<String>,
    pub region_id: Option<String>,
    pub instance_id: Option<String>,
}

impl InstanceQuery {
    pub fn parse(query: Option<&str>) -> Self {
        let mut parsed = InstanceQuery::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = Some(value.trim().to_string()).filter(|v| !v.is_empty());
            match name.as_ref() {
                "account" => parsed.account = value,
                "region_id" => parsed.region_id = value,
                "instance_id" => parsed.instance_id = value,
                _ => {}
            }
        }
        parsed
    }
}

/// The page of a known instance.
pub fn html(instance: &InstanceStatus) -> String {
    let name = instance.instance_id.as_str();
    let mut page = head(&format!("{name} · DBS Exporter"), 8192 + instance.events.len() * 400);
    let _ = write!(
        page,
        "<h1>Instance <span id=\"instance-id\">{}</span></h1>\n<dl class=\"summary\">",
        escape(name)
    );
    let account = instance.account.as_deref();
    let mut terms = Vec::new();
    if let Some(account) = account {
        terms.push(("Account", escape(account)));
    }
    terms.push(("Region", escape(&instance.region_id)));
    terms.push(("Instance", escape(name)));
    terms.push(("Engine", escape(instance.engine.as_deref().unwrap_or("not known (listed by hand)"))));
    let json = |path: &str| escape(&href(path, account, &instance.region_id, name));
    terms.push((
        "As JSON",
        format!(
            "<a href=\"{}\">tasks in progress</a> · <a href=\"{}\">events</a>",
            json("/api/v1/tasks"),
            json("/api/v1/events")
        ),
    ));
    for (term, value) in terms {
        let _ = write!(page, "<dt>{term}</dt><dd>{value}</dd>");
    }
    page.push_str("</dl>\n");

    page.push_str(
        "<h2>Listings</h2>\n<table id=\"targets\">\n<thead><tr><th>Task type</th><th>State</th>\
         <th>Last success</th><th>Error</th><th>Tasks by state</th></tr></thead>\n<tbody>\n",
    );
    for target in &instance.targets {
        let (class, label) = health_label(target.health);
        let error = error_cell(target.error.as_ref());
        let _ = writeln!(
            page,
            "<tr class=\"{class}\"><td>{}</td><td class=\"state\">{label}</td><td>{}</td><td class=\"error\">{error}</td><td>{}</td></tr>",
            escape(target.task_type),
            last_success_text(target),
            tasks_text(target),
        );
    }
    page.push_str("</tbody></table>\n");

    let _ = write!(
        page,
        "<h2>Downloads in progress</h2>\n<p id=\"active-count\">{}</p>\n<table id=\"active-tasks\">\n<thead><tr><th>Task</th>\
         <th>Task type</th><th>State</th><th>Format</th><th>Databases</th><th>Progress</th><th>Rate</th>\
         <th>Time left</th><th>Created</th><th>Last seen</th></tr></thead>\n<tbody>\n",
        match instance.tasks.len() {
            0 => "None: the last listings showed no task initializing, queueing or running.".to_string(),
            1 => "1 task initializing, queueing or running, as of the last listing.".to_string(),
            n => format!("{n} tasks initializing, queueing or running, as of the last listing."),
        }
    );
    for task in &instance.tasks {
        write_task(&mut page, task);
    }
    let _ = write!(
        page,
        "</tbody></table>\n<p class=\"note\">Rate: tables exported per minute since the exporter first saw the task \
         running. Time left: the tables left at that rate; — while it has no rate yet or did not move at the last \
         listing; <em>stalled</em> when its exported tables have not moved for {STALLED_AFTER_POLLS} listings in a \
         row. Reload the page for newer figures.</p>\n",
    );

    let _ = write!(
        page,
        "<h2>Recent events</h2>\n<p id=\"event-count\">{}</p>\n<table id=\"events\">\n<thead><tr><th>Time</th><th>Task</th>\
         <th>Task type</th><th>From → to</th><th>Duration</th><th>Progress</th><th>Format</th><th>Databases</th></tr></thead>\n<tbody>\n",
        match instance.events.len() {
            0 => "No task has changed state since the exporter started.".to_string(),
            n if n >= EVENT_LIMIT => format!("The {n} most recent state changes, newest first."),
            1 => "1 state change since the exporter started.".to_string(),
            n => format!("{n} state changes since the exporter started (or as many as it keeps), newest first."),
        }
    );
    for event in &instance.events {
        write_event(&mut page, event);
    }
    page.push_str("</tbody></table>\n</body></html>\n");
    page
}

fn write_task(page: &mut String, task: &TaskRow) {
    let progress = match task.progress {
        Some(p) => format!(
            "<progress value=\"{}\" max=\"{}\"></progress> <span class=\"tables\">{}/{} tables</span>",
            p.exported.min(p.total),
            p.total.max(1),
            p.exported,
            p.total
        ),
        None => "—".to_string(),
    };
    let rate = match task.tables_per_second {
        Some(rate) => tables_per_minute(rate),
        None => "—".to_string(),
    };
    let eta = match (task.stalled, task.eta_seconds) {
        (true, _) => "<td class=\"eta stalled\">stalled</td>".to_string(),
        (false, Some(seconds)) => {
            format!(
                "<td class=\"eta\" data-seconds=\"{seconds:.0}\">{}</td>",
                escape(&human_seconds(seconds))
            )
        }
        (false, None) => "<td class=\"eta\">—</td>".to_string(),
    };
    let _ = writeln!(
        page,
        "<tr class=\"task\" data-task-id=\"{id}\"><td class=\"task-id\">{id}</td><td>{}</td><td class=\"task-state\">{}</td>\
         <td>{}</td><td class=\"databases\">{}</td><td class=\"progress\">{progress}</td><td class=\"rate\">{rate}</td>{eta}\
         <td>{}</td><td>{}</td></tr>",
        escape(task.task_type),
        escape(&task.state),
        escape(task.format.as_deref().unwrap_or("")),
        escape(task.db_list.as_deref().unwrap_or("")),
        escape(task.created.as_deref().unwrap_or("")),
        escape(&task.seen),
        id = escape(&task.task_id),
    );
}

fn write_event(page: &mut String, event: &EventRow) {
    let duration = event.duration_seconds.map(human_seconds).unwrap_or_default();
    let _ = writeln!(
        page,
        "<tr class=\"event\" data-to=\"{to}\"><td>{}</td><td class=\"task-id\">{}</td><td>{}</td>\
         <td class=\"change\">{} → <span class=\"to\">{to}</span></td><td>{}</td><td>{}</td><td>{}</td><td class=\"databases\">{}</td></tr>",
        escape(&event.time),
        escape(&event.task_id),
        escape(event.task_type),
        escape(event.from),
        escape(&duration),
        escape(event.progress.as_deref().map(|p| format!("{p} tables")).as_deref().unwrap_or("")),
        escape(event.format.as_deref().unwrap_or("")),
        escape(event.db_list.as_deref().unwrap_or("")),
        to = escape(&event.to),
    );
}

/// `30 tables/min`, `2.5 tables/min`, `0.04 tables/min`.
fn tables_per_minute(per_second: f64) -> String {
    let per_minute = per_second * 60.0;
    match per_minute {
        m if m >= 10.0 => format!("{m:.0} tables/min"),
        m if m >= 1.0 => format!("{m:.1} tables/min"),
        m => format!("{m:.2} tables/min"),
    }
}

/// A short page for an instance that is not among the targets (404) or a request that names
/// none (400), with a link back to the status page. Each paragraph is HTML: its caller escapes
/// every value in it.
pub fn problem(title: &str, paragraphs: &[String]) -> String {
    let mut page = head(&format!("{title} · DBS Exporter"), 1024);
    let _ = writeln!(page, "<h1>{}</h1>", escape(title));
    for paragraph in paragraphs {
        let _ = writeln!(page, "<p>{paragraph}</p>");
    }
    page.push_str("</body></html>\n");
    page
}

/// The page up to its heading: the doctype, the style and the link back to `/`.
fn head(title: &str, capacity: usize) -> String {
    let mut page = String::with_capacity(capacity);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<style>{STYLE}{EXTRA_STYLE}</style></head>\n<body>\n\
         <nav><a href=\"/\" id=\"back\">← All targets</a></nav>\n",
        escape(title)
    );
    page
}

const EXTRA_STYLE: &str = "h2{margin-top:1.5em}progress{width:8em;vertical-align:middle}td.eta{white-space:nowrap}\
td.eta.stalled{color:#fff;background:#c62828;font-weight:bold}tr.event[data-to=failed] .to{color:#c62828;font-weight:bold}\
tr.event[data-to=finished] .to{color:#2e7d32}.task-id{font-family:monospace}.note{color:#555;font-size:.85em}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_parameters_count_as_absent_and_links_are_encoded() {
        let query = InstanceQuery::parse(Some("region_id=cn-hangzhou&instance_id=rm-1&account="));
        assert_eq!(query.account, None);
        assert_eq!(query.region_id.as_deref(), Some("cn-hangzhou"));
        assert_eq!(query.instance_id.as_deref(), Some("rm-1"));
        assert_eq!(InstanceQuery::parse(None), InstanceQuery::default());
        assert_eq!(
            href("/instance", Some("a&b c"), "cn-hangzhou", "rm-<1>"),
            "/instance?region_id=cn-hangzhou&instance_id=rm-%3C1%3E&account=a%26b+c"
        );
        assert_eq!(href("/instance", None, "r", "i"), "/instance?region_id=r&instance_id=i");
    }

    #[test]
    fn rates_read_as_tables_per_minute() {
        assert_eq!(tables_per_minute(0.5), "30 tables/min");
        assert_eq!(tables_per_minute(0.05), "3.0 tables/min");
        assert_eq!(tables_per_minute(0.0005), "0.03 tables/min");
    }
}
