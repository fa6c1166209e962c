use std::time::{Duration, SystemTime};

use super::ExporterMetrics;
use crate::discovery::{DiscoveryError, Engine};

const INSTANCES: &str = "aliyun_dbs_discovery_instances";
const LAST_SUCCESS: &str = "aliyun_dbs_discovery_last_success_timestamp_seconds";
const CALLS: &str = "aliyun_dbs_discovery_api_requests_total";
const ERRORS: &str = "aliyun_dbs_discovery_api_request_errors_total";
const DURATION: &str = "aliyun_dbs_discovery_duration_seconds";

/// 2026-01-01T00:00:00Z.
fn at(seconds_after: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + seconds_after)
}

fn paging() -> DiscoveryError {
    DiscoveryError::Paging { pages: 1000, detail: "the token repeats".into() }
}

fn exposition(metrics: &ExporterMetrics) -> String {
    let mut out = Vec::new();
    metrics.encode(&mut out);
    String::from_utf8(out).expect("the exposition is UTF-8")
}

/// The series of `family` in the exposition, in its order.
fn series(text: &str, family: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.strip_prefix(family).is_some_and(|rest| rest.starts_with(['{', ' '])))
        .map(str::to_string)
        .collect()
}

/// Every discovery family is described once: promtool refuses a name with two HELP or TYPE lines.
fn assert_described_once(text: &str) {
    for family in [INSTANCES, LAST_SUCCESS, CALLS, ERRORS, DURATION] {
        for kind in ["HELP", "TYPE"] {
            let prefix = format!("# {kind} {family} ");
            let count = text.lines().filter(|line| line.starts_with(&prefix)).count();
            assert!(count <= 1, "{count} {kind} lines for {family}:\n{text}");
        }
    }
}

#[test]
fn two_accounts_in_one_region_keep_their_own_discovery_series() {
    let metrics = ExporterMetrics::new(["cn-hangzhou"]);
    let sources = [("prod", "cn-hangzhou", Engine::RdsMysql), ("staging", "cn-hangzhou", Engine::RdsMysql)];
    let discovery = metrics.discovery_series(true, sources);

    discovery.observe_call("prod", "cn-hangzhou", Engine::RdsMysql, None);
    discovery.record_list("prod", "cn-hangzhou", Engine::RdsMysql, 3, at(0));
    discovery.observe_call("staging", "cn-hangzhou", Engine::RdsMysql, Some(&paging()));
    // staging lists later and finds less: prod's figures must not be overwritten.
    discovery.record_list("staging", "cn-hangzhou", Engine::RdsMysql, 1, at(60));

    let text = exposition(&metrics);
    assert_eq!(
        series(&text, INSTANCES),
        [
            r#"aliyun_dbs_discovery_instances{account="prod",engine="rds_mysql",region_id="cn-hangzhou"} 3"#,
            r#"aliyun_dbs_discovery_instances{account="staging",engine="rds_mysql",region_id="cn-hangzhou"} 1"#,
        ]
    );
    assert_eq!(
        series(&text, LAST_SUCCESS),
        [
            r#"aliyun_dbs_discovery_last_success_timestamp_seconds{account="prod",engine="rds_mysql",region_id="cn-hangzhou"} 1767225600"#,
            r#"aliyun_dbs_discovery_last_success_timestamp_seconds{account="staging",engine="rds_mysql",region_id="cn-hangzhou"} 1767225660"#,
        ]
    );
    assert_eq!(
        series(&text, CALLS),
        [
            r#"aliyun_dbs_discovery_api_requests_total{account="prod",engine="rds_mysql",region_id="cn-hangzhou"} 1"#,
            r#"aliyun_dbs_discovery_api_requests_total{account="staging",engine="rds_mysql",region_id="cn-hangzhou"} 1"#,
        ]
    );
    let errors = series(&text, ERRORS);
    assert_eq!(errors.len(), 2 * super::ERROR_CODES.len(), "every code of both accounts at zero or more");
    assert!(errors.contains(
        &r#"aliyun_dbs_discovery_api_request_errors_total{account="staging",code="page_cap",engine="rds_mysql",region_id="cn-hangzhou"} 1"#.to_string()
    ));
    assert!(errors.contains(
        &r#"aliyun_dbs_discovery_api_request_errors_total{account="prod",code="page_cap",engine="rds_mysql",region_id="cn-hangzhou"} 0"#.to_string()
    ));
    assert_described_once(&text);
}

#[test]
fn a_single_account_has_no_account_label() {
    let metrics = ExporterMetrics::new(["cn-hangzhou"]);
    let discovery = metrics.discovery_series(false, [("default", "cn-hangzhou", Engine::Mongodb)]);
    discovery.observe_call("default", "cn-hangzhou", Engine::Mongodb, Some(&paging()));
    discovery.record_list("default", "cn-hangzhou", Engine::Mongodb, 2, at(0));
    discovery.record_refresh(Duration::from_millis(1500));

    let text = exposition(&metrics);
    assert_eq!(
        series(&text, INSTANCES),
        [r#"aliyun_dbs_discovery_instances{engine="mongodb",region_id="cn-hangzhou"} 2"#]
    );
    assert_eq!(
        series(&text, LAST_SUCCESS),
        [
            r#"aliyun_dbs_discovery_last_success_timestamp_seconds{engine="mongodb",region_id="cn-hangzhou"} 1767225600"#
        ]
    );
    assert_eq!(
        series(&text, CALLS),
        [r#"aliyun_dbs_discovery_api_requests_total{engine="mongodb",region_id="cn-hangzhou"} 1"#]
    );
    let errors = series(&text, ERRORS);
    assert_eq!(errors.len(), super::ERROR_CODES.len());
    assert!(errors.contains(
        &r#"aliyun_dbs_discovery_api_request_errors_total{code="page_cap",engine="mongodb",region_id="cn-hangzhou"} 1"#.to_string()
    ));
    assert_eq!(series(&text, DURATION), ["aliyun_dbs_discovery_duration_seconds 1.5"]);
    assert!(!text.contains("account="), "no series of a single account carries `account`:\n{text}");
    assert_described_once(&text);
}

#[test]
fn a_change_of_label_set_drops_the_old_series_and_starts_the_new_at_zero() {
    let metrics = ExporterMetrics::new(["cn-hangzhou"]);
    let single = metrics.discovery_series(false, [("default", "cn-hangzhou", Engine::RdsMysql)]);
    single.observe_call("default", "cn-hangzhou", Engine::RdsMysql, None);
    single.record_list("default", "cn-hangzhou", Engine::RdsMysql, 4, at(0));
    single.record_refresh(Duration::from_secs(2));

    // A reload to two accounts.
    let sources = [("prod", "cn-hangzhou", Engine::RdsMysql), ("staging", "cn-hangzhou", Engine::RdsMysql)];
    let several = metrics.discovery_series(true, sources);
    // The previous configuration's refresh, still in flight, writes after the switch.
    single.observe_call("default", "cn-hangzhou", Engine::RdsMysql, Some(&paging()));
    single.record_list("default", "cn-hangzhou", Engine::RdsMysql, 5, at(30));

    let text = exposition(&metrics);
    assert_eq!(
        series(&text, CALLS),
        [
            r#"aliyun_dbs_discovery_api_requests_total{account="prod",engine="rds_mysql",region_id="cn-hangzhou"} 0"#,
            r#"aliyun_dbs_discovery_api_requests_total{account="staging",engine="rds_mysql",region_id="cn-hangzhou"} 0"#,
        ]
    );
    let errors = series(&text, ERRORS);
    assert_eq!(errors.len(), 2 * super::ERROR_CODES.len());
    assert!(errors.iter().all(|line| line.contains("account=") && line.ends_with(" 0")), "{errors:?}");
    assert_eq!(series(&text, INSTANCES), Vec::<String>::new(), "no list of the new accounts yet");
    assert_eq!(series(&text, LAST_SUCCESS), Vec::<String>::new());
    assert_eq!(series(&text, DURATION), ["aliyun_dbs_discovery_duration_seconds 2"], "one figure, kept");
    assert_described_once(&text);

    several.observe_call("prod", "cn-hangzhou", Engine::RdsMysql, None);
    // A reload that keeps several accounts keeps their counts.
    let again = metrics.discovery_series(true, sources);
    again.observe_call("prod", "cn-hangzhou", Engine::RdsMysql, None);
    assert_eq!(
        series(&exposition(&metrics), CALLS)[0],
        r#"aliyun_dbs_discovery_api_requests_total{account="prod",engine="rds_mysql",region_id="cn-hangzhou"} 2"#
    );

    // And back to one account: the labelled series go.
    let back = metrics.discovery_series(false, [("default", "cn-hangzhou", Engine::RdsMysql)]);
    back.record_list("default", "cn-hangzhou", Engine::RdsMysql, 6, at(90));
    several.record_list("prod", "cn-hangzhou", Engine::RdsMysql, 7, at(90));
    let text = exposition(&metrics);
    assert_eq!(
        series(&text, CALLS),
        [r#"aliyun_dbs_discovery_api_requests_total{engine="rds_mysql",region_id="cn-hangzhou"} 0"#]
    );
    assert_eq!(
        series(&text, INSTANCES),
        [r#"aliyun_dbs_discovery_instances{engine="rds_mysql",region_id="cn-hangzhou"} 6"#]
    );
    assert!(!text.contains("account="), "{text}");
    assert_described_once(&text);
}
