//! Instance discovery against the simulator's RDS, PolarDB and MongoDB list APIs over loopback:
//! which instances become targets, tags, paging, refreshes that add and drop instances, failing
//! list calls, accounts and shards.

use std::collections::BTreeSet;

use crate::support::{
    credentials, metrics_of, now_ms, pipeline, pipeline_with_env, samples, series, TestEstate, KEY_ID,
    OTHER_KEY_ID, OTHER_SECRET, SECRET,
};
use dbs_exporter::app::{AccountCredentials, Pipeline};
use dbs_exporter::config;
use dbs_exporter::poller::Shard;
use dbs_exporter::util::WallClock;
use dbs_sim::TaskType;
use dbs_sim::{SimDbInstance, SimHandle, SimTask};

const REGION: &str = "cn-hangzhou";

async fn simulator(instances: Vec<SimDbInstance>, tasks: Vec<SimTask>) -> SimHandle {
    TestEstate::new().instances(instances).tasks(tasks).start().await
}

/// A config whose regions are discovered at the simulator, with `discovery` as the block's body.
fn config_text(sim: &SimHandle, discovery: &str, regions: &[&str]) -> String {
    let url = sim.url();
    let regions: String = regions
        .iter()
        .map(|region| {
            format!("  - region_id: {region}\n    endpoint: {url}\n    discovery_endpoints: {{rds: {url}, polardb: {url}, mongodb: {url}}}\n")
        })
        .collect();
    format!("task_types: [full]\nretry: {{max_attempts: 1}}\ndiscovery: {discovery}\nregions:\n{regions}")
}

/// The instance ids the pipeline polls.
fn polled(pipeline: &Pipeline) -> BTreeSet<String> {
    pipeline.targets().iter().map(|t| t.key.instance.instance_id.to_string()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

/// `instance_id -> the labels of its aliyun_dbs_instance_info`, from a scrape.
fn instance_info(pipeline: &Pipeline) -> std::collections::BTreeMap<String, String> {
    let text = metrics_of(pipeline);
    samples(&text)
        .into_iter()
        .filter(|(key, value)| key.starts_with("aliyun_dbs_instance_info{") && *value == 1.0)
        .map(|(key, _)| {
            let id = key.split("instance_id=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
            (id, key)
        })
        .collect()
}

fn mixed_estate(region: &str) -> Vec<SimDbInstance> {
    vec![
        SimDbInstance::rds_mysql(region, "rm-primary"),
        SimDbInstance::rds(region, "rm-readonly", "MySQL", "Readonly", "cloud_essd"),
        SimDbInstance::rds(region, "rm-localdisk", "MySQL", "Primary", "local_ssd"),
        SimDbInstance::rds_mysql(region, "rm-creating").with_status("Creating"),
        SimDbInstance::rds_postgresql(region, "pgm-primary"),
        SimDbInstance::rds(region, "pgm-readonly", "PostgreSQL", "Readonly", "cloud_essd"),
        SimDbInstance::rds(region, "rm-sqlserver", "SQLServer", "Primary", "cloud_essd"),
        SimDbInstance::polardb_mysql(region, "pc-mysql"),
        SimDbInstance::new(
            region,
            "pc-postgres",
            dbs_sim::SimDbKind::PolarDb { db_type: "PostgreSQL".into() },
        ),
        SimDbInstance::polardb_mysql(region, "pc-deleting").with_status("Deleting"),
        SimDbInstance::mongo_replicate(region, "dds-replica"),
        SimDbInstance::mongo_sharding(region, "dds-sharded"),
        SimDbInstance::mongo_replicate(region, "dds-released").with_status("Released"),
    ]
}

const APPLICABLE: [&str; 5] = ["dds-replica", "dds-sharded", "pc-mysql", "pgm-primary", "rm-primary"];

#[tokio::test]
async fn only_applicable_instances_become_targets_each_with_its_engine() {
    let mut sharded_task =
        SimTask::new("t-sharded", REGION, "dds-sharded", TaskType::Full, "finished", now_ms());
    sharded_task.cluster = Some("dds-sharded".into());
    let sim = simulator(mixed_estate(REGION), vec![sharded_task]).await;
    let mut pipeline = pipeline(&config_text(&sim, "{}", &[REGION]));
    assert!(polled(&pipeline).is_empty(), "nothing is polled before the first refresh");
    assert!(pipeline.discover().await, "the first refresh changes the targets");
    assert_eq!(polled(&pipeline), set(&APPLICABLE));

    assert_eq!(pipeline.poll_once().await.failed, 0);
    let info = instance_info(&pipeline);
    assert_eq!(info.keys().cloned().collect::<BTreeSet<_>>(), set(&APPLICABLE));
    for (id, engine) in [
        ("rm-primary", "rds_mysql"),
        ("pgm-primary", "rds_postgresql"),
        ("pc-mysql", "polardb_mysql"),
        ("dds-sharded", "mongodb"),
    ] {
        assert!(info[id].contains(&format!("engine=\"{engine}\"")), "{}", info[id]);
    }
    // The sharded cluster is listed by its own id as ClusterName, and its task is counted.
    let asked: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.get("InstanceName").map(String::as_str) == Some("dds-sharded"))
        .collect();
    assert!(
        !asked.is_empty()
            && asked.iter().all(|r| r.get("ClusterName").map(String::as_str) == Some("dds-sharded"))
    );
    let text = metrics_of(&pipeline);
    let finished = samples(&text)
        .into_iter()
        .find(|(k, _)| {
            k.starts_with("aliyun_dbs_download_tasks{")
                && k.contains("dds-sharded")
                && k.contains("state=\"finished\"")
        })
        .map(|(_, v)| v);
    assert_eq!(finished, Some(1.0), "{text}");
    // Per region and engine: what the lists found.
    let values = samples(&text);
    let found = |engine: &str| {
        values[&format!("aliyun_dbs_discovery_instances{{engine=\"{engine}\",region_id=\"{REGION}\"}}")]
    };
    assert_eq!(
        (found("rds_mysql"), found("rds_postgresql"), found("polardb_mysql"), found("mongodb")),
        (1.0, 1.0, 1.0, 2.0)
    );
}

#[tokio::test]
async fn tags_filter_by_every_pair_and_label_the_instance_info() {
    let estate = vec![
        SimDbInstance::rds_mysql(REGION, "rm-both").with_tag("env", "prod").with_tag("team", "db"),
        SimDbInstance::rds_mysql(REGION, "rm-env-only").with_tag("env", "prod"),
        SimDbInstance::rds_mysql(REGION, "rm-team-only").with_tag("team", "db"),
        SimDbInstance::rds_mysql(REGION, "rm-untagged"),
        SimDbInstance::polardb_mysql(REGION, "pc-both").with_tag("team", "db").with_tag("env", "prod"),
        SimDbInstance::polardb_mysql(REGION, "pc-staging").with_tag("env", "staging").with_tag("team", "db"),
        SimDbInstance::mongo_sharding(REGION, "dds-both")
            .with_tag("env", "prod")
            .with_tag("team", "db")
            .with_tag("cost-center", "42"),
        SimDbInstance::mongo_replicate(REGION, "dds-env-only").with_tag("env", "prod"),
    ];
    let sim = simulator(estate, Vec::new()).await;
    let discovery = "{tags: {env: prod, team: db}, tag_labels: [team, cost-center]}";
    let mut pipeline = pipeline(&config_text(&sim, discovery, &[REGION]));
    pipeline.discover().await;
    assert_eq!(polled(&pipeline), set(&["dds-both", "pc-both", "rm-both"]));
    let info = instance_info(&pipeline);
    assert!(
        info["rm-both"].contains("tag_team=\"db\"") && info["rm-both"].contains("tag_cost_center=\"\""),
        "{}",
        info["rm-both"]
    );
    assert!(info["dds-both"].contains("tag_cost_center=\"42\""), "{}", info["dds-both"]);
}

#[tokio::test]
async fn every_page_is_walked_rds_by_token_and_the_others_by_number() {
    let mut estate: Vec<SimDbInstance> =
        (0..230).map(|i| SimDbInstance::rds_mysql(REGION, format!("rm-{i:03}"))).collect();
    estate.extend((0..130).map(|i| SimDbInstance::polardb_mysql(REGION, format!("pc-{i:03}"))));
    estate.extend((0..101).map(|i| SimDbInstance::mongo_replicate(REGION, format!("dds-{i:03}"))));
    let sim = simulator(estate, Vec::new()).await;
    let mut pipeline = pipeline(&config_text(&sim, "{}", &[REGION]));
    pipeline.discover().await;
    assert_eq!(polled(&pipeline).len(), 230 + 130 + 101);
    assert_eq!(
        sim.discovery_calls("DescribeDBInstances", "2014-08-15"),
        3 + 1,
        "RDS MySQL: 100 + 100 + 30; RDS PostgreSQL: one empty page"
    );
    assert_eq!(sim.discovery_calls("DescribeDBClusters", "2017-08-01"), 2, "PolarDB: 100 + 30");
    // MongoDB: two pages of replica sets and one (empty) of sharded clusters.
    assert_eq!(sim.discovery_calls("DescribeDBInstances", "2015-12-01"), 3);
    let rds: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.get("Version").map(String::as_str) == Some("2014-08-15"))
        .collect();
    assert!(rds.iter().all(|r| r.get("MaxResults").map(String::as_str) == Some("100")));
    assert_eq!(rds.iter().filter(|r| r.contains_key("NextToken")).count(), 2, "pages 2 and 3 of MySQL");
}

#[tokio::test]
async fn an_instance_appears_at_the_next_refresh_and_goes_after_two_refreshes_miss_it() {
    let sim = simulator(vec![SimDbInstance::rds_mysql(REGION, "rm-old")], Vec::new()).await;
    let mut pipeline = pipeline(&config_text(&sim, "{engines: [rds_mysql]}", &[REGION]));
    pipeline.discover().await;
    assert_eq!(polled(&pipeline), set(&["rm-old"]));

    sim.add_db_instance(SimDbInstance::rds_mysql(REGION, "rm-new"));
    assert!(pipeline.discover().await);
    assert_eq!(polled(&pipeline), set(&["rm-new", "rm-old"]));
    assert_eq!(pipeline.poll_once().await.failed, 0);

    assert!(sim.remove_db_instance(REGION, "rm-old"));
    assert!(!pipeline.discover().await, "one miss keeps it");
    assert_eq!(polled(&pipeline), set(&["rm-new", "rm-old"]));
    assert!(pipeline.discover().await, "the second miss in a row drops it");
    assert_eq!(polled(&pipeline), set(&["rm-new"]));
    let text = metrics_of(&pipeline);
    assert!(!text.contains("rm-old"), "a dropped instance leaves no series:\n{text}");
}

#[tokio::test]
async fn a_failing_list_call_keeps_the_last_good_list_and_is_counted() {
    let estate = vec![SimDbInstance::polardb_mysql(REGION, "pc-a"), SimDbInstance::rds_mysql(REGION, "rm-a")];
    let sim = simulator(estate, Vec::new()).await;
    let mut pipeline = pipeline(&config_text(&sim, "{engines: [rds_mysql, polardb_mysql]}", &[REGION]));
    pipeline.discover().await;
    assert_eq!(polled(&pipeline), set(&["pc-a", "rm-a"]));

    sim.deny_action("DescribeDBClusters", "2017-08-01", true);
    sim.add_db_instance(SimDbInstance::rds_mysql(REGION, "rm-b"));
    for _ in 0..3 {
        pipeline.discover().await;
    }
    assert_eq!(polled(&pipeline), set(&["pc-a", "rm-a", "rm-b"]), "PolarDB's last good list stays");
    let text = metrics_of(&pipeline);
    let values = samples(&text);
    let errors = format!("aliyun_dbs_discovery_api_request_errors_total{{code=\"forbidden\",engine=\"polardb_mysql\",region_id=\"{REGION}\"}}");
    assert_eq!(values[&errors], 3.0, "{text}");
    let calls =
        format!("aliyun_dbs_discovery_api_requests_total{{engine=\"rds_mysql\",region_id=\"{REGION}\"}}");
    assert_eq!(values[&calls], 4.0);

    sim.deny_action("DescribeDBClusters", "2017-08-01", false);
    sim.remove_db_instance(REGION, "pc-a");
    pipeline.discover().await;
    pipeline.discover().await;
    assert_eq!(polled(&pipeline), set(&["rm-a", "rm-b"]), "once it lists again, its misses count");
}

#[tokio::test]
async fn each_account_discovers_its_own_regions_with_its_own_key() {
    let estate = vec![
        SimDbInstance::rds_mysql("cn-hangzhou", "rm-hz"),
        SimDbInstance::mongo_replicate("cn-beijing", "dds-bj"),
    ];
    let sim = TestEstate::new()
        .with(|sim| sim.with_access_key(OTHER_KEY_ID, OTHER_SECRET))
        .instances(estate)
        .start()
        .await;
    let url = sim.url();
    let region = |id: &str| {
        format!("      - region_id: {id}\n        endpoint: {url}\n        discovery_endpoints: {{rds: {url}, polardb: {url}, mongodb: {url}}}\n")
    };
    let text = format!(
        "task_types: [full]\ndiscovery: {{}}\naccounts:\n  - name: a\n    credentials: {{source: environment, access_key_id_env: A_ID, access_key_secret_env: A_SECRET}}\n    regions:\n{}  - name: b\n    credentials: {{source: environment, access_key_id_env: B_ID, access_key_secret_env: B_SECRET}}\n    regions:\n{}",
        region("cn-hangzhou"),
        region("cn-beijing")
    );
    let variables =
        [("A_ID", KEY_ID), ("A_SECRET", SECRET), ("B_ID", OTHER_KEY_ID), ("B_SECRET", OTHER_SECRET)];
    let mut pipeline = pipeline_with_env(&text, &variables);
    pipeline.discover().await;
    let accounts: BTreeSet<(String, String)> = pipeline
        .targets()
        .iter()
        .map(|t| (t.key.instance.account.to_string(), t.key.instance.instance_id.to_string()))
        .collect();
    assert_eq!(
        accounts,
        [("a".to_string(), "rm-hz".to_string()), ("b".to_string(), "dds-bj".to_string())].into()
    );
    for request in
        sim.requests().iter().filter(|r| r.get("Action").is_some_and(|a| a.starts_with("DescribeDB")))
    {
        let key = if request["RegionId"] == "cn-hangzhou" { KEY_ID } else { OTHER_KEY_ID };
        assert_eq!(request["AccessKeyId"], key, "{request:?}");
    }
}

#[tokio::test]
async fn shards_split_the_discovered_instances_without_overlap() {
    let estate: Vec<SimDbInstance> =
        (0..40).map(|i| SimDbInstance::rds_mysql(REGION, format!("rm-{i:02}"))).collect();
    let sim = simulator(estate, Vec::new()).await;
    let text = config_text(&sim, "{engines: [rds_mysql]}", &[REGION]);
    let config = config::parse(&text, "shards.yaml").unwrap();
    let mut seen = BTreeSet::new();
    for index in 0..3 {
        let mut pipeline = Pipeline::build_with(
            &config,
            AccountCredentials::Shared(credentials()),
            Shard::new(index, 3).unwrap(),
            WallClock::System,
        )
        .unwrap();
        pipeline.discover().await;
        let mine = polled(&pipeline);
        assert!(!mine.is_empty() && mine.len() < 40, "shard {index} polls {}", mine.len());
        assert!(mine.iter().all(|id| seen.insert(id.clone())), "an instance in two shards");
    }
    assert_eq!(seen.len(), 40, "every instance in one shard");
}

#[tokio::test]
async fn an_rds_service_without_token_paging_is_walked_by_page_number() {
    let estate: Vec<SimDbInstance> =
        (0..75).map(|i| SimDbInstance::rds_mysql(REGION, format!("rm-{i:02}"))).collect();
    let sim = simulator(estate, Vec::new()).await;
    sim.set_rds_token_paging(false);
    let mut pipeline = pipeline(&config_text(&sim, "{engines: [rds_mysql]}", &[REGION]));
    pipeline.discover().await;
    assert_eq!(polled(&pipeline).len(), 75, "no instance skipped");
    let pages: Vec<(Option<String>, Option<String>)> = sim
        .requests()
        .into_iter()
        .filter(|r| r.get("Version").map(String::as_str) == Some("2014-08-15"))
        .map(|r| (r.get("PageSize").cloned(), r.get("PageNumber").cloned()))
        .collect();
    // The first answer came by number with the service's default of 30: the walk goes on so.
    let expected =
        [(None, None), (Some("30".into()), Some("2".into())), (Some("30".into()), Some("3".into()))];
    assert_eq!(pages, expected);
}

#[tokio::test]
async fn two_accounts_in_one_region_keep_their_own_discovery_series() {
    let sim = simulator(vec![SimDbInstance::rds_mysql("cn-hangzhou", "rm-shared")], Vec::new()).await;
    let (_held, refused) = crate::support::refusing_port();
    let (url, dead) = (sim.url(), format!("http://{refused}"));
    let region = |endpoint: &str| {
        format!("      - region_id: cn-hangzhou\n        endpoint: {url}\n        discovery_endpoints: {{rds: {endpoint}}}\n")
    };
    // Account b's list endpoint refuses connections: its discovery fails while a's succeeds.
    let text = format!(
        "task_types: [full]\nretry: {{max_attempts: 1}}\ndiscovery: {{engines: [rds_mysql]}}\naccounts:\n  - name: a\n    regions:\n{}  - name: b\n    regions:\n{}",
        region(&url),
        region(&dead)
    );
    let mut pipeline = pipeline(&text);
    pipeline.discover().await;
    let body = metrics_of(&pipeline);
    let values = samples(&body);
    let labels = |account| [("account", account), ("region_id", "cn-hangzhou"), ("engine", "rds_mysql")];
    let found = |account| values.get(&series("aliyun_dbs_discovery_instances", &labels(account))).copied();
    let last_success = |account| {
        values.get(&series("aliyun_dbs_discovery_last_success_timestamp_seconds", &labels(account))).copied()
    };
    assert_eq!(found("a"), Some(1.0), "{body}");
    assert!(last_success("a").is_some(), "{body}");
    assert_eq!(found("b"), None, "b's failing list is not hidden behind a's success:\n{body}");
    assert_eq!(last_success("b"), None, "{body}");
    let b_errors = series(
        "aliyun_dbs_discovery_api_request_errors_total",
        &[("account", "b"), ("region_id", "cn-hangzhou"), ("engine", "rds_mysql"), ("code", "transport")],
    );
    assert_eq!(values.get(&b_errors), Some(&1.0), "{body}");
    let polled: BTreeSet<(String, String)> = pipeline
        .targets()
        .iter()
        .map(|t| (t.key.instance.account.to_string(), t.key.instance.instance_id.to_string()))
        .collect();
    assert_eq!(polled, [("a".to_string(), "rm-shared".to_string())].into());
}
