use super::*;
use crate::api::DownloadState;
use crate::discovery::Engine;

#[test]
fn the_shipped_example_parses_with_every_key_read() {
    let config = parse(include_str!("../../config/example.yaml"), "config/example.yaml").unwrap();
    let instance = |id: &str| InstanceConfig {
        instance_id: id.to_string(),
        cluster_name: None,
        datasource_id: None,
        backup_set_id: None,
    };
    let expected = Config {
        poll_interval: Duration::from_secs(60),
        lookback: Duration::from_secs(7 * 86_400),
        page_size: 100,
        max_pages: 100,
        concurrency: 8,
        request_timeout: Duration::from_secs(10),
        task_types: vec![TaskType::Full, TaskType::Pitr],
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        },
        rate_limit_per_region: 10.0,
        max_staleness: Duration::from_secs(180),
        discovery: None,
        metrics: crate::config::MetricsOptions::default(),
        events_keep: 1_000,
        tls: TlsConfig::default(),
        accounts: Vec::new(),
        regions: vec![
            RegionConfig {
                region_id: "cn-hangzhou".into(),
                endpoint: None,
                discovery_endpoints: Default::default(),
                instances: vec![
                    instance("rm-bp1x7k2m9q4w8e5r3"),
                    InstanceConfig {
                        datasource_id: Some("1hc3fk2w8m9ab".into()),
                        backup_set_id: Some("1689345172".into()),
                        ..instance("pc-bp1s7d2f9g4h6j8k0")
                    },
                ]
                .into(),
            },
            RegionConfig {
                region_id: "ap-southeast-1".into(),
                endpoint: Some("https://dbs-api.ap-southeast-1.aliyuncs.com".into()),
                discovery_endpoints: Default::default(),
                instances: vec![
                    instance("pgm-t4n6v8b2c5x7z9m1q"),
                    InstanceConfig {
                        cluster_name: Some("dds-t4n3r5y7u9i2o4p6a".into()),
                        ..instance("dds-t4n3r5y7u9i2o4p6a")
                    },
                ]
                .into(),
            },
        ],
    };
    let expected = Config { accounts: vec![AccountConfig::implicit(expected.regions.clone())], ..expected };
    assert_eq!(config, expected);
    assert!(!config.labels_accounts());
    assert_eq!(config.instance_count(), 4);
    assert_eq!(config.target_count(), 8);
}

#[test]
fn everything_but_regions_has_a_default() {
    let config =
        parse("regions:\n  - region_id: cn-beijing\n    instances: [{instance_id: rm-1}]\n", "c.yaml")
            .unwrap();
    assert_eq!(config.poll_interval, DEFAULT_POLL_INTERVAL);
    assert_eq!(config.poll_interval, Duration::from_secs(60));
    assert_eq!(config.lookback, Duration::from_secs(7 * 86_400));
    assert_eq!((config.page_size, config.max_pages, config.concurrency), (100, 100, 8));
    assert_eq!(config.request_timeout, Duration::from_secs(10));
    assert_eq!(config.task_types, TaskType::ALL.to_vec());
    assert_eq!(config.target_count(), 2);
}

#[test]
fn a_region_without_an_endpoint_uses_its_public_one() {
    let config = parse(
        "regions:\n  - region_id: eu-central-1\n    instances: [{instance_id: a}]\n  - region_id: cn-beijing\n    endpoint: http://127.0.0.1:18080\n    instances: [{instance_id: a}]\n",
        "c.yaml",
    )
    .unwrap();
    assert_eq!(config.regions[0].endpoint_or_default(), "https://dbs-api.eu-central-1.aliyuncs.com");
    assert_eq!(config.regions[1].endpoint_or_default(), "http://127.0.0.1:18080");
}

#[test]
fn the_same_instance_may_appear_in_two_regions() {
    let text = "regions:\n  - region_id: a\n    instances: [{instance_id: x}]\n  - region_id: b\n    instances: [{instance_id: x}]\n";
    assert_eq!(parse(text, "c.yaml").unwrap().instance_count(), 2);
}

#[test]
fn numeric_ids_are_taken_as_written_and_task_types_ignore_case() {
    let text = "task_types: [PITR]\nregions:\n  - region_id: a\n    instances: [{instance_id: x, backup_set_id: 123}]\n";
    let config = parse(text, "c.yaml").unwrap();
    assert_eq!(config.task_types, vec![TaskType::Pitr]);
    assert_eq!(config.regions[0].instances[0].backup_set_id.as_deref(), Some("123"));
}

#[test]
fn retry_rate_limit_and_staleness_have_defaults_and_can_be_set() {
    let minimal = "regions:\n  - region_id: a\n    instances: [{instance_id: x}]\n";
    let config = parse(minimal, "c.yaml").unwrap();
    assert_eq!(config.retry, DEFAULT_RETRY);
    assert_eq!(config.rate_limit_per_region, DEFAULT_RATE_LIMIT_PER_REGION);
    assert_eq!(config.max_staleness, DEFAULT_POLL_INTERVAL * 3);

    let text = format!("poll_interval: 20s\nretry: {{max_attempts: 2, base_delay: 1s}}\nrate_limit_per_region: 0.5\n{minimal}");
    let config = parse(&text, "c.yaml").unwrap();
    assert_eq!(config.retry.max_attempts, 2);
    assert_eq!(config.retry.base_delay, Duration::from_secs(1));
    assert_eq!(config.retry.max_delay, DEFAULT_RETRY.max_delay);
    assert_eq!(config.rate_limit_per_region, 0.5);
    assert_eq!(config.max_staleness, Duration::from_secs(60), "three poll intervals by default");
}

#[test]
fn bad_retry_and_rate_settings_name_their_line_and_field() {
    let regions = "regions:\n  - region_id: a\n    instances: [{instance_id: x}]\n";
    for (head, expected) in [
        ("retry: {max_attempts: 0}\n", "c.yaml:1:"),
        ("retry:\n  jitter: full\n", "c.yaml:2:"),
        ("rate_limit_per_region: 0\n", "c.yaml:1:"),
        ("rate_limit_per_region: fast\n", "c.yaml:1:"),
    ] {
        let err = parse(&format!("{head}{regions}"), "c.yaml").unwrap_err().to_string();
        assert!(err.starts_with(expected), "{head:?}: {err}");
        let field = if head.starts_with("retry") { "retry" } else { "rate_limit_per_region" };
        assert!(err.contains(field), "{head:?}: {err}");
    }
}

#[test]
fn the_metrics_block_reads_families_and_states_and_names_a_bad_one_by_line_and_field() {
    let regions = "regions:\n  - region_id: a\n    instances: [{instance_id: x}]\n";
    let text =
        format!("metrics:\n  disable: [import_bytes, transitions]\n  states: [Failed, running]\n{regions}");
    let config = parse(&text, "c.yaml").unwrap();
    assert_eq!(config.metrics.disabled, [OptionalFamily::ImportBytes, OptionalFamily::Transitions]);
    assert_eq!(config.metrics.states, Some(vec![DownloadState::Failed, DownloadState::Running]));
    assert_eq!(parse(regions, "c.yaml").unwrap().metrics, MetricsOptions::default());
    for (head, expected) in [
        ("metrics:\n  disable: [bytes]\n", "c.yaml:2:13: metrics.disable[0]:"),
        ("metrics:\n  states: [failed, paused]\n", "c.yaml:2:20: metrics.states[1]:"),
        ("metrics:\n  states: [failed, failed]\n", "c.yaml:2:20: metrics.states[1]:"),
        ("metrics:\n  states: []\n", "c.yaml:2:11: metrics.states:"),
        ("metrics:\n  everything: false\n", "c.yaml:2:3: metrics.everything: unknown field"),
    ] {
        let err = parse(&format!("{head}{regions}"), "c.yaml").unwrap_err().to_string();
        assert!(err.starts_with(expected), "{head:?}: {err}");
    }
}

#[test]
fn discovery_turns_on_with_defaults_even_when_empty_and_makes_instances_optional() {
    let regions = "regions:\n  - region_id: cn-hangzhou\n";
    for head in ["discovery:\n", "discovery: {}\n", "discovery: ~\n"] {
        let config = parse(&format!("{head}{regions}"), "c.yaml").unwrap_or_else(|e| panic!("{head:?}: {e}"));
        assert_eq!(config.discovery, Some(DiscoveryConfig::default()), "{head:?}");
        assert!(config.regions[0].instances.is_empty());
    }
    let defaults = DiscoveryConfig::default();
    assert_eq!(defaults.engines.len(), 4);
    assert_eq!(defaults.refresh_interval, Duration::from_secs(600));
    let text = "discovery:\n  engines: [MongoDB, rds-mysql]\n  refresh_interval: 2m\n  tags: {env: prod, tier: 1}\n  tag_labels: [team, cost.center]\n  exclude_instances: [rm-x]\nregions:\n  - region_id: a\n    discovery_endpoints: {mongodb: 'http://127.0.0.1:1'}\n";
    let config = parse(text, "c.yaml").unwrap();
    let discovery = config.discovery.unwrap();
    assert_eq!(discovery.engines, [Engine::Mongodb, Engine::RdsMysql]);
    assert_eq!(discovery.refresh_interval, Duration::from_secs(120));
    assert_eq!(
        discovery.tags,
        [("env".to_string(), "prod".to_string()), ("tier".to_string(), "1".to_string())]
    );
    assert_eq!(discovery.label_names(), ["tag_team", "tag_cost_center"]);
    assert_eq!(discovery.exclude_instances, ["rm-x"]);
    assert_eq!(config.regions[0].discovery_endpoints.mongodb.as_deref(), Some("http://127.0.0.1:1"));
    assert_eq!(
        parse(regions.replace("cn-hangzhou", "a").as_str(), "c.yaml").unwrap_err().to_string(),
        "c.yaml:2:3: regions[0].instances: missing: list the region's instances, or turn on `discovery`"
    );
}

#[test]
fn bad_discovery_settings_name_their_line_and_field() {
    let regions = "regions:\n  - region_id: a\n";
    for (head, expected) in [
        ("discovery:\n  engines: [rds_sqlserver]\n", "c.yaml:2:13: discovery.engines[0]:"),
        ("discovery:\n  engines: [mongodb, MongoDB]\n", "c.yaml:2:22: discovery.engines[1]:"),
        ("discovery:\n  refresh_interval: 0s\n", "c.yaml:2:21: discovery.refresh_interval:"),
        ("discovery:\n  tags: {aliyun:x: y}\n", "c.yaml:2:10: discovery.tags"),
        (
            "discovery:\n  tag_labels: [team-a, team_a]\n",
            "c.yaml:2:24: discovery.tag_labels[1]: tag label \"tag_team_a\" is listed twice",
        ),
        ("discovery:\n  every: true\n", "c.yaml:2:3: discovery.every: unknown field"),
        (
            "discovery: {}\nregions:\n  - region_id: a\n    discovery_endpoints: {dds: 'http://x'}\n",
            "c.yaml:4:27: regions[0].discovery_endpoints.dds: unknown field",
        ),
    ] {
        let text = if head.contains("regions:") { head.to_string() } else { format!("{head}{regions}") };
        let err = parse(&text, "c.yaml").unwrap_err().to_string();
        assert!(err.starts_with(expected), "{head:?}: {err}");
    }
}

#[test]
fn the_events_block_sets_how_many_events_are_kept_and_names_a_bad_value() {
    let regions = "regions:\n  - region_id: a\n    instances: [{instance_id: rm-1}]\n";
    assert_eq!(parse(regions, "c.yaml").unwrap().events_keep, 1_000);
    assert_eq!(parse(&format!("events: {{keep: 0}}\n{regions}"), "c.yaml").unwrap().events_keep, 0);
    assert_eq!(parse(&format!("events:\n  keep: 250\n{regions}"), "c.yaml").unwrap().events_keep, 250);
    for (head, expected) in [
        ("events:\n  keep: -1\n", "c.yaml:2:9: events.keep:"),
        ("events:\n  keep: 100001\n", "c.yaml:2:9: events.keep:"),
        ("events:\n  ring: 5\n", "c.yaml:2:3: events.ring: unknown field"),
    ] {
        let err = parse(&format!("{head}{regions}"), "c.yaml").unwrap_err().to_string();
        assert!(err.starts_with(expected), "{head:?}: {err}");
    }
}
