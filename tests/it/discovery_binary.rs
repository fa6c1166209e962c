//! Discovery in the release binary: a configuration with only `discovery:` and regions polls
//! exactly the applicable instances, picks up new ones and drops gone ones while it runs;
//! `discover` prints what each region and engine lists; `check-config` says where it lists.

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use crate::support::*;
use dbs_sim::TaskType;
use dbs_sim::{SimDbInstance, SimHandle, SimTask};

const REGION: &str = "cn-shenzhen";

fn estate() -> TestEstate {
    let now = now_ms();
    let estate = vec![
        SimDbInstance::rds_mysql(REGION, "rm-primary"),
        SimDbInstance::rds(REGION, "rm-replica", "MySQL", "Readonly", "cloud_essd"),
        SimDbInstance::rds(REGION, "rm-local", "MySQL", "Primary", "local_ssd"),
        SimDbInstance::polardb_mysql(REGION, "pc-cluster"),
        SimDbInstance::mongo_sharding(REGION, "dds-sharded"),
        SimDbInstance::mongo_replicate(REGION, "dds-creating").with_status("Creating"),
    ];
    let mut sharded = SimTask::new("t-1", REGION, "dds-sharded", TaskType::Full, "running", now - 60_000);
    sharded.cluster = Some("dds-sharded".into());
    TestEstate::new()
        .instances(estate)
        .tasks([sharded, SimTask::new("t-2", REGION, "rm-primary", TaskType::Full, "failed", now - 60_000)])
}

async fn simulator() -> SimHandle {
    estate().start().await
}

fn config_text(sim: &SimHandle, discovery: &str) -> String {
    let url = sim.url();
    format!(
        "poll_interval: 2s\nrequest_timeout: 1s\ntask_types: [full]\ndiscovery: {discovery}\nregions:\n  - region_id: {REGION}\n    endpoint: {url}\n    discovery_endpoints: {{rds: {url}, polardb: {url}, mongodb: {url}}}\n"
    )
}

fn polled(text: &str) -> BTreeSet<String> {
    samples(text)
        .into_keys()
        .filter(|key| key.starts_with("aliyun_dbs_up{"))
        .map(|key| key.split("instance_id=\"").nth(1).unwrap().split('"').next().unwrap().to_string())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[tokio::test]
async fn a_config_of_regions_alone_polls_exactly_the_applicable_instances_and_follows_the_estate() {
    let (sim, mut exporter) =
        estate().spawn(Exporter::binary(), |sim| config_text(sim, "{refresh_interval: 1s}")).await;
    let applicable = set(&["dds-sharded", "pc-cluster", "rm-primary"]);
    let text = exporter.metrics_until("every applicable instance up", |t| polled(t) == applicable).await;
    let values = samples(&text);
    let info = |id: &str, engine: &str| {
        series("aliyun_dbs_instance_info", &[("region_id", REGION), ("instance_id", id), ("engine", engine)])
    };
    assert_eq!(values.get(&info("rm-primary", "rds_mysql")), Some(&1.0), "{text}");
    assert_eq!(values.get(&info("pc-cluster", "polardb_mysql")), Some(&1.0));
    assert_eq!(values.get(&info("dds-sharded", "mongodb")), Some(&1.0));
    let running = series(
        "aliyun_dbs_download_tasks",
        &[("region_id", REGION), ("instance_id", "dds-sharded"), ("task_type", "full"), ("state", "running")],
    );
    assert_eq!(values.get(&running), Some(&1.0), "the sharded cluster is listed with its ClusterName");

    sim.add_db_instance(SimDbInstance::rds_postgresql(REGION, "pgm-new"));
    exporter.metrics_until("the new instance polled", |t| polled(t).contains("pgm-new")).await;
    sim.remove_db_instance(REGION, "pc-cluster");
    let text =
        exporter.metrics_until("the gone instance dropped", |t| !polled(t).contains("pc-cluster")).await;
    assert!(!text.contains("pc-cluster"), "no series of a dropped instance:\n{text}");
    exporter.stop().await;
    let log = exporter.log();
    assert!(log.contains("no longer polled"), "{log}");
    assert!(!log.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_prints_each_region_and_engine_and_fails_with_the_missing_ram_action() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &config_text(&sim, "{engines: [rds_mysql, mongodb]}"));
    let Output { status, stdout, stderr } = subcommand("discover", &path).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains(&format!("{REGION} rds_mysql ({}): 1 instances\n  rm-primary\n", sim.url())),
        "{out}"
    );
    assert!(out.contains("dds-sharded (sharded cluster: ClusterName=dds-sharded)"), "{out}");
    assert!(
        !out.contains("rm-replica") && !out.contains("dds-creating") && !out.contains("pc-cluster"),
        "{out}"
    );
    assert!(out.contains("polled: 2 instances"), "{out}");
    assert_eq!(sim.calls_for(REGION, "rm-primary"), 0, "DBS is not called");

    sim.deny_action("DescribeDBInstances", "2015-12-01", true);
    let Output { status, stdout, .. } = subcommand("discover", &path).output().unwrap();
    let out = String::from_utf8_lossy(&stdout);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("mongodb") && out.contains("FAILED (forbidden)"), "{out}");
    assert!(out.contains("grant the RAM action dds:DescribeDBInstances"), "{out}");
}

#[test]
fn check_config_says_discovery_is_on_and_where_it_lists() {
    let dir = tempfile::tempdir().unwrap();
    let text = "discovery:\nregions:\n  - region_id: eu-central-1\n    discovery_endpoints: {polardb: 'http://127.0.0.1:9'}\n";
    let path = write_config(dir.path(), text);
    let Output { status, stdout, .. } = subcommand("check-config", &path).output().unwrap();
    let out = String::from_utf8_lossy(&stdout);
    assert!(status.success(), "{out}");
    assert!(
        out.contains(
            "discovery: on, engines: rds_mysql, rds_postgresql, polardb_mysql, mongodb, refresh every 10m"
        ),
        "{out}"
    );
    assert!(
        out.contains("eu-central-1: rds https://rds.eu-central-1.aliyuncs.com, polardb http://127.0.0.1:9, mongodb https://mongodb.eu-central-1.aliyuncs.com"),
        "{out}"
    );
    assert!(
        out.contains("rds:DescribeDBInstances, polardb:DescribeDBClusters, dds:DescribeDBInstances"),
        "{out}"
    );

    let path = write_config(dir.path(), "regions:\n  - region_id: eu-central-1\n");
    let Output { status, stderr, .. } = subcommand("check-config", &path).output().unwrap();
    let err = String::from_utf8_lossy(&stderr);
    assert!(!status.success());
    assert!(
        err.contains(":2:") && err.contains("regions[0].instances") && err.contains("discovery"),
        "{err}"
    );
}

#[tokio::test]
async fn a_reload_with_another_engine_list_discovers_at_once_and_keeps_what_stays() {
    let (sim, mut exporter) =
        estate().spawn(Exporter::binary(), |sim| config_text(sim, "{engines: [rds_mysql]}")).await;
    exporter.metrics_until("the RDS instance polled", |t| polled(t) == set(&["rm-primary"])).await;

    exporter.write_config(&config_text(&sim, "{engines: [rds_mysql, polardb_mysql], tags: {}}"));
    exporter.signal("HUP");
    let text = exporter
        .metrics_until("the PolarDB cluster polled after the reload", |t| {
            polled(t) == set(&["pc-cluster", "rm-primary"])
        })
        .await;
    assert!(text.contains("aliyun_dbs_exporter_config_last_reload_successful 1"));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_discovers_before_its_one_poll_and_fails_when_a_list_does() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &config_text(&sim, "{}"));
    let once = || subcommand("once", &path).output().unwrap();
    let Output { status, stdout, stderr } = once();
    let (out, err) = (String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    assert!(status.success(), "{err}");
    assert_eq!(polled(&out), set(&["dds-sharded", "pc-cluster", "rm-primary"]), "{out}");

    sim.deny_action("DescribeDBClusters", "2017-08-01", true);
    let Output { status, stdout, stderr } = once();
    let (out, err) = (String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(polled(&out), set(&["dds-sharded", "rm-primary"]), "{out}");
    assert!(err.contains("1 discovery list(s) failed"), "{err}");
    assert!(err.contains("polardb:DescribeDBClusters"), "the log names the RAM action:\n{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_tag_read_names_its_own_ram_action() {
    let sim = simulator().await;
    sim.deny_action("ListTagResources", "2014-08-15", true);
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &config_text(&sim, "{engines: [rds_mysql], tag_labels: [team]}"));
    let Output { status, stdout, .. } = subcommand("discover", &path).output().unwrap();
    let out = String::from_utf8_lossy(&stdout);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("FAILED (forbidden) rds:ListTagResources: "), "{out}");
    assert!(out.contains("hint: grant the RAM action rds:ListTagResources"), "{out}");
}

#[tokio::test]
async fn churn_at_every_refresh_during_a_slow_first_round_still_makes_the_exporter_ready() {
    let sim = simulator().await;
    for i in 0..30 {
        sim.add_db_instance(SimDbInstance::rds_mysql(REGION, format!("rm-churn{i:02}")));
    }
    // About 33 listings at 4 calls a second: a first round of some eight seconds, while
    // discovery refreshes every second and finds a new instance at almost every refresh.
    let text = config_text(&sim, "{refresh_interval: 1s}")
        .replace("poll_interval: 2s\n", "poll_interval: 1m\nrate_limit_per_region: 4\n");
    let mut exporter = Exporter::binary().start(&text).await;
    let churn = tokio::spawn({
        let sim = sim.clone();
        async move {
            for i in 0.. {
                tokio::time::sleep(Duration::from_millis(700)).await;
                sim.add_db_instance(SimDbInstance::rds_mysql(REGION, format!("rm-new{i:03}")));
            }
        }
    });
    let ready = wait_ok(&exporter.url("/-/ready"), PATIENCE * 4).await;
    let text = exporter.get("/metrics").await.map(|(_, text)| text).unwrap_or_default();
    churn.abort();
    assert!(ready, "ready although the estate changed at every refresh; last scrape:\n{text}");
    assert!(text.contains("aliyun_dbs_poll_duration_seconds "), "a round has ended:\n{text}");
    exporter.stop().await;
}
