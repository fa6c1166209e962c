use super::*;
use crate::config::parse;

fn config(text: &str) -> Config {
    parse(text, "test.yaml").unwrap()
}

fn key(engine: Engine) -> SourceKey {
    SourceKey { account: "default".into(), region_id: "cn-hangzhou".into(), engine }
}

fn found(id: &str, engine: Engine) -> DiscoveredInstance {
    DiscoveredInstance { instance_id: id.into(), engine, cluster_name: None, tags: Vec::new() }
}

fn ids(polled: &[PolledInstance]) -> Vec<&str> {
    polled.iter().map(|p| p.instance.instance_id.as_str()).collect()
}

const DISCOVERY: &str =
    "discovery: {exclude_instances: [rm-excluded]}\nregions:\n  - region_id: cn-hangzhou\n";

#[test]
fn an_instance_is_dropped_only_after_two_good_lists_in_a_row_miss_it() {
    let config = config(DISCOVERY);
    let mut inventory = Inventory::new(&config);
    let both = vec![found("rm-a", Engine::RdsMysql), found("rm-b", Engine::RdsMysql)];
    assert_eq!(inventory.apply(&key(Engine::RdsMysql), Ok(&both)).added, 2);
    inventory.apply(&key(Engine::RdsMysql), Ok(&[found("rm-a", Engine::RdsMysql)]));
    assert_eq!(ids(&inventory.instances(&config)), ["rm-a", "rm-b"]);
    // Seen again: the count of misses starts over.
    inventory.apply(&key(Engine::RdsMysql), Ok(&both));
    inventory.apply(&key(Engine::RdsMysql), Ok(&[found("rm-a", Engine::RdsMysql)]));
    assert_eq!(ids(&inventory.instances(&config)), ["rm-a", "rm-b"]);
    let applied = inventory.apply(&key(Engine::RdsMysql), Ok(&[found("rm-a", Engine::RdsMysql)]));
    assert_eq!(applied.dropped, 1);
    assert_eq!(ids(&inventory.instances(&config)), ["rm-a"]);
}

#[test]
fn a_failed_list_keeps_the_last_good_one() {
    let config = config(DISCOVERY);
    let mut inventory = Inventory::new(&config);
    inventory.apply(&key(Engine::Mongodb), Ok(&[found("dds-a", Engine::Mongodb)]));
    let err = DiscoveryError::Paging { pages: 1, detail: "x".into() };
    for _ in 0..3 {
        inventory.apply(&key(Engine::Mongodb), Err(&err));
    }
    assert_eq!(ids(&inventory.instances(&config)), ["dds-a"]);
}

#[test]
fn listed_instances_win_and_excluded_ones_stay_out() {
    let text = "discovery: {exclude_instances: [rm-excluded]}\nregions:\n  - region_id: cn-hangzhou\n    instances:\n      - {instance_id: dds-s, datasource_id: ds-1}\n      - {instance_id: rm-byhand}\n";
    let config = config(text);
    let mut inventory = Inventory::new(&config);
    inventory.apply(
        &key(Engine::RdsMysql),
        Ok(&[found("rm-excluded", Engine::RdsMysql), found("rm-z", Engine::RdsMysql)]),
    );
    let sharded =
        DiscoveredInstance { cluster_name: Some("dds-s".into()), ..found("dds-s", Engine::Mongodb) };
    inventory.apply(&key(Engine::Mongodb), Ok(&[sharded]));
    let polled = inventory.instances(&config);
    assert_eq!(ids(&polled), ["dds-s", "rm-byhand", "rm-z"]);
    // The listed fields stay, discovery adds the engine and the cluster name.
    assert_eq!(polled[0].instance.datasource_id.as_deref(), Some("ds-1"));
    assert_eq!(polled[0].instance.cluster_name.as_deref(), Some("dds-s"));
    assert_eq!(polled[0].engine, Some(Engine::Mongodb));
    assert_eq!(polled[1].engine, None);
}

#[test]
fn lists_are_carried_over_a_reload_and_new_tag_filters_decide_at_the_next_list() {
    let config_a = config(DISCOVERY);
    let mut inventory = Inventory::new(&config_a);
    let both = [found("rm-a", Engine::RdsMysql), found("rm-b", Engine::RdsMysql)];
    inventory.apply(&key(Engine::RdsMysql), Ok(&both));
    inventory.apply(&key(Engine::Mongodb), Ok(&[found("dds-a", Engine::Mongodb)]));
    let same = config("discovery: {refresh_interval: 1m}\nregions:\n  - region_id: cn-hangzhou\n  - region_id: cn-beijing\n");
    let inventory = inventory.carried_into(&same);
    assert_eq!(ids(&inventory.instances(&same)), ["rm-a", "rm-b", "dds-a"]);

    // Other tags: everything stays until the next list, which drops what it misses at once.
    let retagged = config("discovery: {tags: {env: prod}}\nregions:\n  - region_id: cn-hangzhou\n");
    let mut inventory = inventory.carried_into(&retagged);
    assert_eq!(ids(&inventory.instances(&retagged)), ["rm-a", "rm-b", "dds-a"]);
    inventory.apply(&key(Engine::RdsMysql), Ok(&[found("rm-b", Engine::RdsMysql)]));
    assert_eq!(ids(&inventory.instances(&retagged)), ["rm-b", "dds-a"]);

    // An engine left out goes at once.
    let no_mongo = config(
        "discovery: {tags: {env: prod}, engines: [rds_mysql]}\nregions:\n  - region_id: cn-hangzhou\n",
    );
    assert_eq!(ids(&inventory.carried_into(&no_mongo).instances(&no_mongo)), ["rm-b"]);
}

#[test]
fn tag_labels_take_each_instances_value_or_empty() {
    let config = config("discovery: {tag_labels: [env, team]}\nregions:\n  - region_id: cn-hangzhou\n");
    let mut inventory = Inventory::new(&config);
    let tagged = DiscoveredInstance {
        tags: vec![("team".into(), "db".into())],
        ..found("pc-a", Engine::PolardbMysql)
    };
    inventory.apply(&key(Engine::PolardbMysql), Ok(&[tagged]));
    let polled = &inventory.instances(&config)[0];
    assert_eq!(polled.tag_values(&config.discovery.as_ref().unwrap().tag_labels), ["", "db"]);
    assert_eq!(polled.engine, Some(Engine::PolardbMysql));
}

#[test]
fn only_the_tags_that_reach_metrics_or_filter_make_a_change_and_their_order_does_not() {
    let text = "discovery: {tags: {env: prod}, tag_labels: [team]}\nregions:\n  - region_id: cn-hangzhou\n";
    let config = config(text);
    let mut inventory = Inventory::new(&config);
    let tagged = |tags: &[(&str, &str)]| DiscoveredInstance {
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..found("pc-a", Engine::PolardbMysql)
    };
    let source = key(Engine::PolardbMysql);
    inventory.apply(&source, Ok(&[tagged(&[("env", "prod"), ("team", "shop"), ("owner", "ann")])]));
    let before = inventory.instances(&config);
    assert_eq!(
        before[0].tags,
        [("env".to_string(), "prod".to_string()), ("team".to_string(), "shop".to_string())]
    );

    // Another owner, and the API's order of the tags reversed: nothing that reaches /metrics.
    inventory.apply(&source, Ok(&[tagged(&[("owner", "bob"), ("team", "shop"), ("env", "prod")])]));
    assert_eq!(inventory.instances(&config), before, "no change of the polled instances");

    // Another value of a tag_labels key is a change.
    inventory.apply(&source, Ok(&[tagged(&[("env", "prod"), ("team", "data")])]));
    assert_ne!(inventory.instances(&config), before);
}

#[test]
fn a_list_as_it_was_changes_nothing_and_says_so() {
    let config = config(DISCOVERY);
    let mut inventory = Inventory::new(&config);
    let both = vec![found("rm-a", Engine::RdsMysql), found("rm-b", Engine::RdsMysql)];
    assert!(!inventory.apply(&key(Engine::RdsMysql), Ok(&both)).is_unchanged());
    assert!(inventory.apply(&key(Engine::RdsMysql), Ok(&both)).is_unchanged());
    // One miss keeps rm-b: still nothing changed for what is polled.
    assert!(inventory.apply(&key(Engine::RdsMysql), Ok(&both[..1])).is_unchanged());
    let clustered = DiscoveredInstance { cluster_name: Some("c".into()), ..found("rm-a", Engine::RdsMysql) };
    let applied = inventory.apply(&key(Engine::RdsMysql), Ok(&[clustered, both[1].clone()]));
    assert_eq!(applied, Applied { added: 0, dropped: 0, updated: 1 });
}
