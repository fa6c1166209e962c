//! The status page (`GET /`) and its JSON form (`GET /api/v1/targets`): plain server-rendered
//! HTML that reads well without JavaScript; a small script only filters rows as one types.
//! Each instance id links to the instance's page ([`super::instance_page`]).
//! Every value is escaped; nothing from the request reaches the page but the filter text,
//! escaped too.

use super::html::{self, error_cell, escape, health_label, last_success_text, tasks_text, STYLE};
use crate::http::status::{Health, Snapshot, TargetStatus};
use std::fmt::Write as _;

/// The query parameters the two pages understand.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StatusQuery {
    /// Keep targets whose account, region or instance contains this text (any case).
    pub filter: String,
    /// `state=down`: keep failing targets only.
    pub only_down: bool,
}

impl StatusQuery {
    pub fn parse(query: Option<&str>) -> Self {
        let mut parsed = StatusQuery::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "filter" => parsed.filter = value.trim().to_string(),
                "state" => parsed.only_down = value.eq_ignore_ascii_case("down"),
                _ => {}
            }
        }
        parsed
    }

    fn keeps(&self, target: &TargetStatus) -> bool {
        if self.only_down && target.health != Health::Down {
            return false;
        }
        if self.filter.is_empty() {
            return true;
        }
        let needle = self.filter.to_lowercase();
        [target.account.as_deref().unwrap_or(""), &target.region_id, &target.instance_id]
            .iter()
            .any(|field| field.to_lowercase().contains(&needle))
    }
}

/// `{"targets": [...]}` plus the summary, as JSON.
pub fn json(mut snapshot: Snapshot, query: &StatusQuery) -> Vec<u8> {
    snapshot.targets.retain(|target| query.keeps(target));
    serde_json::to_vec(&snapshot).expect("the snapshot serialises")
}

pub fn html(snapshot: &Snapshot, query: &StatusQuery, telemetry_path: &str) -> String {
    let summary = &snapshot.summary;
    let targets: Vec<&TargetStatus> = snapshot.targets.iter().filter(|t| query.keeps(t)).collect();
    let down = snapshot.targets.iter().filter(|t| t.health == Health::Down).count();
    let pending = snapshot.targets.iter().filter(|t| t.health == Health::Pending).count();
    let mut page = String::with_capacity(4096 + targets.len() * 600);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>DBS Exporter</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<style>{STYLE}</style></head>\n<body>\n\
         <h1>DBS Exporter</h1>\n<nav><a href=\"{metrics}\">Metrics</a> · <a href=\"/api/v1/targets\">Targets as JSON</a> · \
         <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a></nav>\n<dl class=\"summary\">",
        metrics = escape(telemetry_path),
    );
    let accounts =
        if summary.accounts.is_empty() { "default".to_string() } else { summary.accounts.join(", ") };
    let round = match &snapshot.last_round {
        Some(round) => format!(
            "{:.1} s, {} API calls, started up to {:.1} s late",
            round.duration_seconds, round.api_calls, round.lag_seconds
        ),
        None => "none complete yet".to_string(),
    };
    for (term, value) in [
        ("Version", summary.version.to_string()),
        ("Accounts", accounts),
        ("Regions", summary.regions.to_string()),
        ("Instances", summary.instances.to_string()),
        ("Task types", summary.task_types.join(", ")),
        ("Shard", summary.shard.clone()),
        ("Poll interval", summary.poll_interval.clone()),
        ("Lookback", summary.lookback.clone()),
        (
            "Discovery",
            match &summary.discovery {
                Some(every) => format!("on, refreshed every {every}"),
                None => "off (listed instances only)".to_string(),
            },
        ),
        ("Last round over every target", round),
        (
            "Targets",
            format!(
                "{} ({down} down, {pending} not listed yet{})",
                snapshot.targets.len(),
                if snapshot.ready { "" } else { "; not ready" }
            ),
        ),
    ] {
        let _ = write!(page, "<dt>{}</dt><dd>{}</dd>", escape(term), escape(&value));
    }
    let _ = write!(
        page,
        "</dl>\n<form method=\"get\" action=\"/\" role=\"search\"><label for=\"filter\">Filter by account, region or instance</label> \
         <input type=\"search\" id=\"filter\" name=\"filter\" value=\"{}\" autocomplete=\"off\"> <button type=\"submit\">Filter</button></form>\n\
         <p id=\"shown\">{} of {} targets shown</p>\n<table id=\"targets\">\n<thead><tr><th>Account</th><th>Region</th><th>Instance</th>\
         <th>Engine</th><th>Task type</th><th>State</th><th>Last success</th><th>Error</th><th>Tasks by state</th></tr></thead>\n<tbody>\n",
        escape(&query.filter),
        targets.len(),
        snapshot.targets.len()
    );
    for target in targets {
        write_row(&mut page, target);
    }
    page.push_str("</tbody></table>\n<script>");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body></html>\n");
    page
}

fn write_row(page: &mut String, target: &TargetStatus) {
    let (class, label) = health_label(target.health);
    let search =
        format!("{} {} {}", target.account.as_deref().unwrap_or(""), target.region_id, target.instance_id)
            .to_lowercase();
    let error = error_cell(target.error.as_ref());
    let page_of_instance =
        html::href("/instance", target.account.as_deref(), &target.region_id, &target.instance_id);
    let _ = writeln!(
        page,
        "<tr class=\"{class}\" data-search=\"{}\"><td>{}</td><td>{}</td><td><a class=\"instance\" href=\"{}\">{}</a></td><td>{}</td><td>{}</td>\
         <td class=\"state\">{label}</td><td>{}</td><td class=\"error\">{error}</td><td>{}</td></tr>",
        escape(&search),
        escape(target.account.as_deref().unwrap_or("")),
        escape(&target.region_id),
        escape(&page_of_instance),
        escape(&target.instance_id),
        escape(target.engine.as_deref().unwrap_or("")),
        escape(target.task_type),
        last_success_text(target),
        tasks_text(target),
    );
}

/// Hides the rows that do not match the filter box as one types; without it the form filters
/// on the server.
const SCRIPT: &str = "(function(){var box=document.getElementById('filter');var rows=document.querySelectorAll('#targets tbody tr');\
var shown=document.getElementById('shown');function apply(){var q=box.value.trim().toLowerCase();var n=0;\
rows.forEach(function(r){var hit=q===''||r.getAttribute('data-search').indexOf(q)>=0;r.hidden=!hit;if(hit){n++;}});\
shown.textContent=n+' of '+rows.length+' targets shown';}box.addEventListener('input',apply);})();";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::status::ErrorStatus;
    use crate::store::Summary;

    fn target(instance: &str, health: Health) -> TargetStatus {
        TargetStatus {
            account: None,
            region_id: "cn-hangzhou".into(),
            instance_id: instance.into(),
            engine: None,
            task_type: "full",
            health,
            up: health == Health::Up,
            last_success: None,
            last_success_seconds_ago: None,
            error: (health == Health::Down).then(|| ErrorStatus {
                code: "auth",
                message: "<script>alert(1)</script>".into(),
                hint: "check the AccessKey".into(),
            }),
            tasks: Default::default(),
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            summary: Summary::default(),
            ready: true,
            last_round: None,
            targets: vec![target("rm-bad", Health::Down), target("rm-good", Health::Up)],
        }
    }

    #[test]
    fn every_value_is_escaped_and_the_filter_is_applied_on_the_server() {
        let query = StatusQuery::parse(Some("filter=%22%3E%3Cb%3Erm-good"));
        assert_eq!(query.filter, "\"><b>rm-good");
        let page = html(&snapshot(), &StatusQuery::parse(Some("filter=rm-")), "/metrics");
        assert!(!page.contains("<script>alert"), "error text is escaped");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(page.matches("<tr class=").count(), 2);
        let page = html(&snapshot(), &query, "/metrics");
        assert!(page.contains("value=\"&quot;&gt;&lt;b&gt;rm-good\""));
        assert_eq!(page.matches("<tr class=").count(), 0, "nothing matches the odd filter");
        let page = html(&snapshot(), &StatusQuery::parse(Some("filter=GOOD")), "/metrics");
        assert_eq!(page.matches("<tr class=").count(), 1);
    }

    #[test]
    fn every_instance_links_to_its_page_with_the_account_only_when_shown() {
        let page = html(&snapshot(), &StatusQuery::default(), "/metrics");
        assert!(page.contains(
            "<a class=\"instance\" href=\"/instance?region_id=cn-hangzhou&amp;instance_id=rm-good\">rm-good</a>"
        ));
        let mut with_account = snapshot();
        with_account.targets[0].account = Some("a&b \"c\"".into());
        let page = html(&with_account, &StatusQuery::default(), "/metrics");
        assert!(page.contains(
            "href=\"/instance?region_id=cn-hangzhou&amp;instance_id=rm-bad&amp;account=a%26b+%22c%22\""
        ));
    }

    #[test]
    fn the_json_keeps_failing_targets_only_when_asked() {
        let all: serde_json::Value =
            serde_json::from_slice(&json(snapshot(), &StatusQuery::default())).unwrap();
        assert_eq!(all["targets"].as_array().unwrap().len(), 2);
        let down: serde_json::Value =
            serde_json::from_slice(&json(snapshot(), &StatusQuery::parse(Some("state=down")))).unwrap();
        let down = down["targets"].as_array().unwrap();
        assert_eq!(down.len(), 1);
        assert_eq!(down[0]["error"]["code"], "auth");
        assert_eq!(down[0]["error"]["hint"], "check the AccessKey");
    }
}
