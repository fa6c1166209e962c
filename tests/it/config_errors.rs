//! Every way a configuration can be wrong is reported as `<file>:<line>:<column>: <field>:
//! <what is wrong>`, pointing at the offending value.

use dbs_exporter::config::{load, parse, ConfigError, Location};

fn yaml(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// A valid region, for cases about something else.
const REGION: [&str; 3] = ["regions:", "  - region_id: cn-hangzhou", "    instances: [{instance_id: rm-1}]"];

fn with_region(settings: &[&str]) -> String {
    yaml(&[settings, &REGION[..]].concat())
}

#[track_caller]
fn refused(text: &str) -> ConfigError {
    match parse(text, "config.yaml") {
        Ok(config) => panic!("accepted {text:?} as {config:?}"),
        Err(err) => err,
    }
}

/// Asserts the message starts with exactly `place` and `field`, and says `why`.
#[track_caller]
fn assert_refused(text: &str, place_and_field: &str, why: &str) {
    let message = refused(text).to_string();
    assert!(message.starts_with(place_and_field), "expected {place_and_field:?} at the start of:\n{message}");
    assert!(message.contains(why), "expected {why:?} in:\n{message}");
}

#[test]
fn empty_instance_list_names_the_line_and_field() {
    let text = yaml(&["regions:", "  - region_id: cn-hangzhou", "    instances: []"]);
    let err = refused(&text);
    assert_eq!(err.to_string(), "config.yaml:3:16: regions[0].instances: must list at least one instance");
    assert_eq!(err.location(), Some(Location { line: 3, column: 16 }));
    assert_eq!(err.field(), Some("regions[0].instances"));
}

#[test]
fn instances_left_blank_are_an_empty_list() {
    let text = yaml(&["regions:", "  - region_id: cn-hangzhou", "    instances:"]);
    assert_refused(&text, "config.yaml:3:15: regions[0].instances: ", "must list at least one instance");
}

#[test]
fn an_empty_region_list_is_refused() {
    assert_refused("regions: []\n", "config.yaml:1:10: regions: ", "must list at least one region");
}

#[test]
fn missing_regions_and_accounts_is_refused_at_the_top_of_the_document_naming_both() {
    assert_refused("page_size: 10\n", "config.yaml:1:1: ", "either `regions` or `accounts` is needed");
}

#[test]
fn a_tab_is_named_as_a_tab_where_it_is_written() {
    assert_refused(
        "regions:\n\t- region_id: cn-hangzhou\n",
        "config.yaml:2:1: ",
        "invalid YAML: a tab character: YAML indents with spaces only",
    );
    assert_refused(
        "regions:\n  - region_id: cn-hangzhou\n    instances: [rm-1]\n\tpoll_interval: 60s\n",
        "config.yaml:4:1: ",
        "a tab character",
    );
}

#[test]
fn unknown_top_level_key_is_named_where_it_is_written() {
    let text = with_region(&["poll_interval: 60s", "pol_interval: 30s"]);
    assert_refused(&text, "config.yaml:2:1: pol_interval: ", "unknown field `pol_interval`, expected one of");
}

#[test]
fn unknown_nested_key_is_named_with_its_full_path() {
    let text = yaml(&[
        "regions:",
        "  - region_id: cn-hangzhou",
        "    instances:",
        "      - instance_id: rm-1",
        "        colour: red",
    ]);
    assert_refused(&text, "config.yaml:5:9: regions[0].instances[0].colour: ", "unknown field `colour`");
}

#[test]
fn unknown_region_key_is_named_with_its_full_path() {
    let text = yaml(&[
        "regions:",
        "  - region_id: cn-hangzhou",
        "    endpont: http://x",
        "    instances: [{instance_id: a}]",
    ]);
    assert_refused(&text, "config.yaml:3:5: regions[0].endpont: ", "unknown field `endpont`");
}

#[test]
fn wrong_type_names_the_value_and_what_was_expected() {
    assert_refused(
        &with_region(&["page_size: lots"]),
        "config.yaml:1:12: page_size: ",
        "invalid type: string \"lots\", expected an integer from 1 to 100",
    );
    let text = yaml(&["regions:", "  - region_id: cn-hangzhou", "    instances: rm-1"]);
    assert_refused(
        &text,
        "config.yaml:3:16: regions[0].instances: ",
        "expected a list of at least one instance",
    );
    let text = yaml(&["regions:", "  - region_id: cn-hangzhou", "    instances: [rm-1]"]);
    assert_refused(&text, "config.yaml:3:17: regions[0].instances[0]: ", "expected an instance: a mapping");
}

#[test]
fn a_document_that_is_not_a_mapping_is_refused() {
    assert_refused("- cn-hangzhou\n", "config.yaml:1:1: ", "expected a mapping of settings");
}

#[test]
fn out_of_range_page_size_names_the_range() {
    assert_refused(
        &with_region(&["page_size: 1000"]),
        "config.yaml:1:12: page_size: ",
        "must be from 1 to 100, got 1000",
    );
    assert_refused(
        &with_region(&["page_size: 0"]),
        "config.yaml:1:12: page_size: ",
        "must be from 1 to 100, got 0",
    );
    assert_refused(
        &with_region(&["page_size: -5"]),
        "config.yaml:1:12: page_size: ",
        "integer from 1 to 100",
    );
}

#[test]
fn out_of_range_concurrency_and_max_pages_name_the_range() {
    assert_refused(
        &with_region(&["concurrency: 0"]),
        "config.yaml:1:14: concurrency: ",
        "must be from 1 to 256, got 0",
    );
    assert_refused(
        &with_region(&["page_size: 50", "concurrency: 257"]),
        "config.yaml:2:14: concurrency: ",
        "got 257",
    );
    assert_refused(
        &with_region(&["max_pages: 10001"]),
        "config.yaml:1:12: max_pages: ",
        "must be from 1 to 10000",
    );
}

#[test]
fn bad_duration_names_the_value_and_the_accepted_forms() {
    assert_refused(
        &with_region(&["poll_interval: soon"]),
        "config.yaml:1:16: poll_interval: ",
        "invalid duration \"soon\"",
    );
    assert_refused(&with_region(&["lookback: 7"]), "config.yaml:1:11: lookback: ", "7 needs a unit");
    assert_refused(&with_region(&["lookback: 1w"]), "config.yaml:1:11: lookback: ", "unknown unit \"w\"");
    assert_refused(&with_region(&["lookback: 0s"]), "config.yaml:1:11: lookback: ", "must be longer than 0");
}

#[test]
fn duplicate_instance_is_reported_at_the_second_one() {
    let text = yaml(&[
        "regions:",
        "  - region_id: cn-hangzhou",
        "    instances:",
        "      - instance_id: rm-1",
        "      - instance_id: rm-2",
        "      - instance_id: rm-1",
    ]);
    assert_refused(
        &text,
        "config.yaml:6:9: regions[0].instances[2]: ",
        "instance \"rm-1\" is listed twice (first at index 0)",
    );
}

#[test]
fn duplicate_region_is_reported_at_the_second_one() {
    let text = yaml(&[
        "regions:",
        "  - region_id: cn-hangzhou",
        "    instances: [{instance_id: rm-1}]",
        "  - region_id: cn-hangzhou",
        "    instances: [{instance_id: rm-2}]",
    ]);
    assert_refused(&text, "config.yaml:4:5: regions[1]: ", "region \"cn-hangzhou\" is listed twice");
}

#[test]
fn a_key_written_twice_is_reported_at_the_second_one() {
    let text = with_region(&["page_size: 10", "page_size: 20"]);
    assert_refused(&text, "config.yaml:2:1: page_size: ", "key `page_size` is written twice");
    let text = yaml(&["regions:", "  - region_id: a", "    instances: [{instance_id: x, instance_id: y}]"]);
    assert_refused(&text, "config.yaml:3:34: regions[0].instances[0].instance_id: ", "written twice");
}

#[test]
fn bad_region_id_and_instance_id_are_refused() {
    let text = yaml(&["regions:", "  - region_id: CN_Hangzhou", "    instances: [{instance_id: a}]"]);
    assert_refused(&text, "config.yaml:2:16: regions[0].region_id: ", "\"CN_Hangzhou\" is not a region id");
    let text = yaml(&["regions:", "  - region_id: a", "    instances: [{instance_id: \"\"}]"]);
    assert_refused(&text, "config.yaml:3:31: regions[0].instances[0].instance_id: ", "must not be empty");
    let text = yaml(&["regions:", "  - region_id: a", "    instances: [{cluster_name: c}]"]);
    assert_refused(&text, "config.yaml:3:17: regions[0].instances[0]: ", "missing field `instance_id`");
}

#[test]
fn bad_endpoint_url_is_refused_where_it_is_written() {
    let region = |endpoint: &str| {
        yaml(&[
            "regions:",
            "  - region_id: cn-hangzhou",
            &format!("    endpoint: {endpoint}"),
            "    instances: [{instance_id: a}]",
        ])
    };
    assert_refused(
        &region("dbs.example.com:8080"),
        "config.yaml:3:15: regions[0].endpoint: ",
        "not a usable endpoint",
    );
    assert_refused(
        &region("ftp://dbs.example.com"),
        "config.yaml:3:15: regions[0].endpoint: ",
        "http or https",
    );
    assert_refused(
        &region("http://dbs.example.com/?a=b"),
        "config.yaml:3:15: regions[0].endpoint: ",
        "query",
    );
    assert_refused(
        &region("https://user:pw@dbs.example.com"),
        "config.yaml:3:15: regions[0].endpoint: ",
        "user info",
    );
}

#[test]
fn bad_task_type_is_refused_at_the_item() {
    assert_refused(
        &with_region(&["task_types: [full, diff]"]),
        "config.yaml:1:20: task_types[1]: ",
        "\"diff\" is not a task type: expected full or pitr",
    );
    assert_refused(
        &with_region(&["task_types: []"]),
        "config.yaml:1:13: task_types: ",
        "at least one task type",
    );
    let text = with_region(&["task_types:", "  - pitr", "  - full", "  - pitr"]);
    assert_refused(&text, "config.yaml:4:5: task_types[2]: ", "task type \"pitr\" is listed twice");
}

#[test]
fn timeout_not_shorter_than_interval_names_both_fields_at_the_timeout() {
    let err = refused(&with_region(&["poll_interval: 30s", "request_timeout: 30s"]));
    assert_eq!(
        err.to_string(),
        "config.yaml:2:18: request_timeout: must be shorter than poll_interval (30s), got 30s"
    );
}

#[test]
fn interval_below_the_default_timeout_is_reported_at_the_interval() {
    let err = refused(&with_region(&["page_size: 10", "poll_interval: 5s"]));
    assert_eq!(
        err.to_string(),
        "config.yaml:2:16: poll_interval: must be longer than request_timeout (10s by default), got 5s"
    );
}

#[test]
fn empty_file_names_the_file() {
    for text in ["", "\n\n", "# only a comment\n", "~\n"] {
        let err = refused(text);
        assert!(matches!(err, ConfigError::Empty { .. }), "{text:?}: {err:?}");
        assert_eq!(
            err.to_string(),
            "config.yaml: the configuration is empty: it must at least list `regions`"
        );
    }
}

#[test]
fn yaml_syntax_error_names_the_file_line_and_column() {
    let err = refused(&yaml(&["regions:", "  - region_id: a", "   instances: x"]));
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("config.yaml:3:4: invalid YAML: did not find expected '-' indicator"),
        "{err}"
    );
    let err = refused("regions: [\n");
    assert!(err.to_string().starts_with("config.yaml:2:1: invalid YAML: "), "{err}");
}

#[test]
fn a_second_document_is_refused() {
    let err = refused(&format!("{}---\nregions: []\n", with_region(&[])));
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(err.to_string().starts_with("config.yaml: invalid YAML: "), "{err}");
}

#[test]
fn missing_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.yaml");
    let err = load(&path).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!("{}: cannot read the configuration file: ", path.display())),
        "{err}"
    );
}

#[test]
fn a_loaded_file_is_named_by_its_path_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dbs.yaml");
    std::fs::write(&path, with_region(&["page_size: 101"])).unwrap();
    let message = load(&path).unwrap_err().to_string();
    assert!(message.starts_with(&format!("{}:1:12: page_size: ", path.display())), "{message}");
    std::fs::write(&path, with_region(&["page_size: 50"])).unwrap();
    assert_eq!(load(&path).unwrap().page_size, 50);
}
