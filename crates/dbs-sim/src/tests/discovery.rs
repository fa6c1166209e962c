//! The discovery list APIs over loopback: PolarDB and MongoDB listings, what all four actions
//! share (region, RAM denial, signatures, routing by version), and the handle's estate methods.
//! RDS has its own file (`discovery_rds.rs`).

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;
use crate::{SimDbInstance, SimDbKind};

/// (Action, Version) of each list API.
pub(super) type Api = (&'static str, &'static str);
pub(super) const RDS: Api = ("DescribeDBInstances", "2014-08-15");
pub(super) const RDS_TAGS: Api = ("ListTagResources", "2014-08-15");
pub(super) const POLARDB: Api = ("DescribeDBClusters", "2017-08-01");
pub(super) const MONGODB: Api = ("DescribeDBInstances", "2015-12-01");
const ALL: [Api; 4] = [RDS, RDS_TAGS, POLARDB, MONGODB];

pub(super) const HANGZHOU: &str = "cn-hangzhou";

/// The parameters of a call to `api` in `region` (an empty value in `extra` removes one).
pub(super) fn request(api: Api, region: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut all = vec![("Action", api.0), ("Version", api.1), ("RegionCode", ""), ("InstanceName", "")];
    all.push(("RegionId", region));
    all.extend_from_slice(extra);
    params(AK, &all)
}

/// A correctly signed call to `api` in `region`.
pub(super) async fn ask(sim: &SimHandle, api: Api, region: &str, extra: &[(&str, &str)]) -> HttpReply {
    send(sim, "POST", &signed("POST", request(api, region, extra), SECRET)).await
}

/// A call that must succeed; its body.
pub(super) async fn listed(sim: &SimHandle, api: Api, region: &str, extra: &[(&str, &str)]) -> Value {
    let reply = ask(sim, api, region, extra).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// A call that must be refused: its status and code.
pub(super) async fn refused(
    sim: &SimHandle,
    api: Api,
    region: &str,
    extra: &[(&str, &str)],
) -> (u16, String) {
    let reply = ask(sim, api, region, extra).await;
    (reply.status, reply.code())
}

/// The ids of a listing's items, found at `path` (`Items.DBCluster`, ...).
pub(super) fn ids(body: &Value, path: [&str; 2], id_field: &str) -> Vec<String> {
    let items = body[path[0]][path[1]].as_array().unwrap_or_else(|| panic!("{path:?} missing from {body}"));
    items.iter().map(|item| item[id_field].as_str().unwrap().to_string()).collect()
}

fn clusters(body: &Value) -> Vec<String> {
    ids(body, ["Items", "DBCluster"], "DBClusterId")
}

fn mongos(body: &Value) -> Vec<String> {
    ids(body, ["DBInstances", "DBInstance"], "DBInstanceId")
}

#[tokio::test]
async fn polardb_lists_clusters_with_their_tags_and_numeric_page_fields() {
    let estate = [
        SimDbInstance::polardb_mysql(HANGZHOU, "pc-b").with_description("orders").with_tag("env", "prod"),
        SimDbInstance::polardb_mysql(HANGZHOU, "pc-a"),
        SimDbInstance::new(HANGZHOU, "pc-pg", SimDbKind::PolarDb { db_type: "PostgreSQL".into() }),
    ];
    let sim = start(simulator().with_db_instances(estate)).await;
    let body = listed(&sim, POLARDB, HANGZHOU, &[]).await;
    assert!(body["RequestId"].is_string());
    assert_eq!(clusters(&body), ["pc-a", "pc-b", "pc-pg"], "sorted by id");
    assert_eq!((body["TotalRecordCount"].as_u64(), body["PageNumber"].as_u64()), (Some(3), Some(1)));
    assert_eq!(body["PageRecordCount"].as_u64(), Some(3));
    let b = &body["Items"]["DBCluster"][1];
    for (field, value) in [
        ("DBClusterId", "pc-b"),
        ("DBType", "MySQL"),
        ("DBVersion", "8.0"),
        ("DBClusterStatus", "Running"),
        ("DBClusterDescription", "orders"),
        ("RegionId", HANGZHOU),
        ("ZoneId", "cn-hangzhou-h"),
    ] {
        assert_eq!(b[field], value, "{field}");
    }
    assert_eq!(b["Tags"]["Tag"], serde_json::json!([{"Key": "env", "Value": "prod"}]));
    assert_eq!(body["Items"]["DBCluster"][0]["Tags"]["Tag"], serde_json::json!([]));

    let mysql = listed(&sim, POLARDB, HANGZHOU, &[("DBType", "mysql")]).await;
    assert_eq!(clusters(&mysql), ["pc-a", "pc-b"]);
}

#[tokio::test]
async fn polardb_and_mongodb_take_page_sizes_30_50_or_100_only() {
    let sim = start(simulator()).await;
    for api in [POLARDB, MONGODB] {
        for size in ["1", "10", "29", "99", "101", "1000", "many"] {
            let (status, code) = refused(&sim, api, HANGZHOU, &[("PageSize", size)]).await;
            assert_eq!((status, code.as_str()), (400, "InvalidPageSize.Malformed"), "{api:?} {size}");
        }
        for size in ["30", "50", "100"] {
            listed(&sim, api, HANGZHOU, &[("PageSize", size)]).await;
        }
        let (status, code) = refused(&sim, api, HANGZHOU, &[("PageNumber", "0")]).await;
        assert_eq!((status, code.as_str()), (400, "InvalidPageNumber.Malformed"));
    }
}

#[tokio::test]
async fn polardb_and_mongodb_pages_cover_every_instance_once_and_past_the_end_is_empty() {
    let estate = (0..120).flat_map(|i| {
        [
            SimDbInstance::polardb_mysql(HANGZHOU, format!("pc-{i:03}")),
            SimDbInstance::mongo_replicate(HANGZHOU, format!("dds-{i:03}")),
        ]
    });
    let sim = start(simulator().with_db_instances(estate)).await;
    let (mut polardb, mut mongodb) = (Vec::new(), Vec::new());
    for page in ["1", "2", "3"] {
        let body = listed(&sim, POLARDB, HANGZHOU, &[("PageSize", "50"), ("PageNumber", page)]).await;
        assert_eq!(body["TotalRecordCount"], 120);
        polardb.extend(clusters(&body));
        let body = listed(&sim, MONGODB, HANGZHOU, &[("PageSize", "50"), ("PageNumber", page)]).await;
        assert_eq!((body["TotalCount"].as_u64(), body["PageSize"].as_u64()), (Some(120), Some(50)));
        assert_eq!(body["PageNumber"].as_u64(), page.parse().ok());
        mongodb.extend(mongos(&body));
    }
    assert_eq!(polardb, (0..120).map(|i| format!("pc-{i:03}")).collect::<Vec<_>>());
    assert_eq!(mongodb, (0..120).map(|i| format!("dds-{i:03}")).collect::<Vec<_>>());
    let past = listed(&sim, POLARDB, HANGZHOU, &[("PageSize", "50"), ("PageNumber", "4")]).await;
    assert!(clusters(&past).is_empty());
    assert_eq!((past["TotalRecordCount"].as_u64(), past["PageRecordCount"].as_u64()), (Some(120), Some(0)));
    let past = listed(&sim, MONGODB, HANGZHOU, &[("PageSize", "100"), ("PageNumber", "2")]).await;
    assert_eq!(mongos(&past).len(), 20);
    assert!(mongos(&listed(&sim, MONGODB, HANGZHOU, &[("PageNumber", "5")]).await).is_empty());
    let default = listed(&sim, MONGODB, HANGZHOU, &[]).await;
    assert_eq!((mongos(&default).len(), default["PageSize"].as_u64()), (30, Some(30)));
}

#[tokio::test]
async fn polardb_and_mongodb_list_only_instances_carrying_every_given_tag() {
    let tagged = |id: &str, tags: &[(&str, &str)]| {
        let mut pair = [
            SimDbInstance::polardb_mysql(HANGZHOU, format!("pc-{id}")),
            SimDbInstance::mongo_replicate(HANGZHOU, format!("dds-{id}")),
        ];
        for instance in &mut pair {
            for (key, value) in tags {
                *instance = instance.clone().with_tag(*key, *value);
            }
        }
        pair
    };
    let estate = [
        tagged("both", &[("env", "prod"), ("team", "a")]),
        tagged("env", &[("env", "prod")]),
        tagged("team", &[("team", "a"), ("env", "dev")]),
        tagged("none", &[]),
    ];
    let sim = start(simulator().with_db_instances(estate.into_iter().flatten())).await;
    let both = [("Tag.1.Key", "env"), ("Tag.1.Value", "prod"), ("Tag.2.Key", "team"), ("Tag.2.Value", "a")];
    assert_eq!(clusters(&listed(&sim, POLARDB, HANGZHOU, &both).await), ["pc-both"]);
    assert_eq!(mongos(&listed(&sim, MONGODB, HANGZHOU, &both).await), ["dds-both"]);
    let env = [("Tag.1.Key", "env"), ("Tag.1.Value", "prod")];
    assert_eq!(clusters(&listed(&sim, POLARDB, HANGZHOU, &env).await), ["pc-both", "pc-env"]);
    let any_env = [("Tag.1.Key", "env")];
    assert_eq!(mongos(&listed(&sim, MONGODB, HANGZHOU, &any_env).await), ["dds-both", "dds-env", "dds-team"]);
    for api in [POLARDB, MONGODB] {
        let (status, code) = refused(&sim, api, HANGZHOU, &[("Tag.21.Key", "env")]).await;
        assert_eq!((status, code.as_str()), (400, "InvalidTag.Malformed"));
        let (status, code) = refused(&sim, api, HANGZHOU, &[("Tag.1.Value", "prod")]).await;
        assert_eq!((status, code.as_str()), (400, "InvalidTag.Malformed"));
    }
}

#[tokio::test]
async fn mongodb_lists_replica_sets_by_default_and_sharded_clusters_when_asked() {
    let estate = [
        SimDbInstance::mongo_replicate(HANGZHOU, "dds-rs").with_tag("env", "prod"),
        SimDbInstance::mongo_sharding(HANGZHOU, "dds-sh").with_status("Creating"),
    ];
    let sim = start(simulator().with_db_instances(estate)).await;
    let replicate = listed(&sim, MONGODB, HANGZHOU, &[]).await;
    assert_eq!(mongos(&replicate), ["dds-rs"]);
    let item = &replicate["DBInstances"]["DBInstance"][0];
    for (field, value) in [
        ("DBInstanceType", "replicate"),
        ("EngineVersion", "5.0"),
        ("DBInstanceStatus", "Running"),
        ("DBInstanceDescription", ""),
        ("RegionId", HANGZHOU),
    ] {
        assert_eq!(item[field], value, "{field}");
    }
    assert_eq!(item["Tags"]["Tag"], serde_json::json!([{"Key": "env", "Value": "prod"}]));
    assert_eq!(
        mongos(&listed(&sim, MONGODB, HANGZHOU, &[("DBInstanceType", "replicate")]).await),
        ["dds-rs"]
    );
    let sharding = listed(&sim, MONGODB, HANGZHOU, &[("DBInstanceType", "sharding")]).await;
    assert_eq!(mongos(&sharding), ["dds-sh"]);
    assert_eq!(sharding["DBInstances"]["DBInstance"][0]["DBInstanceType"], "sharding");
    assert_eq!(sharding["DBInstances"]["DBInstance"][0]["DBInstanceStatus"], "Creating");
    assert!(mongos(&listed(&sim, MONGODB, HANGZHOU, &[("Engine", "Redis")]).await).is_empty());
    let (status, code) = refused(&sim, MONGODB, HANGZHOU, &[("DBInstanceType", "serverless")]).await;
    assert_eq!((status, code.as_str()), (400, "InvalidDBInstanceType.Malformed"));
}

#[tokio::test]
async fn each_answer_lists_only_its_own_region_and_product() {
    let estate = ["cn-hangzhou", "cn-shanghai"].into_iter().flat_map(|region| {
        let short = &region[3..5];
        [
            SimDbInstance::rds_mysql(region, format!("rm-{short}")).with_tag("env", "prod"),
            SimDbInstance::polardb_mysql(region, format!("pc-{short}")).with_tag("env", "prod"),
            SimDbInstance::mongo_replicate(region, format!("dds-{short}")),
            SimDbInstance::mongo_sharding(region, format!("dds-{short}-sh")),
        ]
    });
    let sim = start(simulator().with_db_instances(estate)).await;
    let shanghai = "cn-shanghai";
    assert_eq!(
        ids(&listed(&sim, RDS, shanghai, &[]).await, ["Items", "DBInstance"], "DBInstanceId"),
        ["rm-sh"]
    );
    assert_eq!(clusters(&listed(&sim, POLARDB, shanghai, &[]).await), ["pc-sh"]);
    assert_eq!(mongos(&listed(&sim, MONGODB, shanghai, &[]).await), ["dds-sh"]);
    assert_eq!(
        mongos(&listed(&sim, MONGODB, shanghai, &[("DBInstanceType", "sharding")]).await),
        ["dds-sh-sh"]
    );
    let tags = listed(
        &sim,
        RDS_TAGS,
        shanghai,
        &[
            ("ResourceType", "INSTANCE"),
            ("ResourceId.1", "rm-ha"),
            ("ResourceId.2", "rm-sh"),
            ("ResourceId.3", "pc-sh"),
        ],
    )
    .await;
    assert_eq!(ids(&tags, ["TagResources", "TagResource"], "ResourceId"), ["rm-sh"]);
    for api in ALL {
        let body =
            listed(&sim, api, "us-east-1", &[("ResourceType", "INSTANCE"), ("ResourceId.1", "rm-ha")]).await;
        let items = body
            .as_object()
            .unwrap()
            .values()
            .find_map(|v| v.as_object()?.values().next()?.as_array().cloned());
        assert_eq!(items, Some(Vec::new()), "{api:?}: {body}");
    }
}

#[tokio::test]
async fn an_empty_account_answers_empty_lists() {
    let sim = start(simulator()).await;
    let rds = listed(&sim, RDS, HANGZHOU, &[]).await;
    assert_eq!(
        (rds["Items"]["DBInstance"].as_array().map(Vec::len), rds["TotalRecordCount"].as_u64()),
        (Some(0), Some(0))
    );
    let polardb = listed(&sim, POLARDB, HANGZHOU, &[]).await;
    assert_eq!(polardb["Items"]["DBCluster"], serde_json::json!([]));
    let mongodb = listed(&sim, MONGODB, HANGZHOU, &[("DBInstanceType", "sharding")]).await;
    assert_eq!(
        (mongodb["DBInstances"]["DBInstance"].as_array().map(Vec::len), mongodb["TotalCount"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn every_list_api_requires_a_region() {
    let sim = start(simulator()).await;
    for api in ALL {
        let (status, code) =
            refused(&sim, api, "", &[("ResourceType", "INSTANCE"), ("ResourceId.1", "rm-1")]).await;
        assert_eq!((status, code.as_str()), (400, "MissingRegionId"), "{api:?}");
    }
}

#[tokio::test]
async fn a_denied_action_is_forbidden_by_ram_until_allowed_again() {
    let sim = start(simulator().with_db_instances([SimDbInstance::mongo_replicate(HANGZHOU, "dds-1")])).await;
    sim.deny_action(MONGODB.0, MONGODB.1, true);
    let reply = ask(&sim, MONGODB, HANGZHOU, &[]).await;
    assert_eq!((reply.status, reply.code().as_str()), (403, "Forbidden.RAM"));
    assert_eq!(
        reply.json()["Message"],
        "User not authorized to operate on the specified resource, or this API doesn't support RAM."
    );
    // RDS's action of the same name, in another version, is not denied.
    listed(&sim, RDS, HANGZHOU, &[]).await;
    listed(&sim, POLARDB, HANGZHOU, &[]).await;
    sim.deny_action(MONGODB.0, MONGODB.1, false);
    assert_eq!(mongos(&listed(&sim, MONGODB, HANGZHOU, &[]).await), ["dds-1"]);
    assert_eq!(sim.discovery_calls(MONGODB.0, MONGODB.1), 2, "the refused call counts too");
    assert_eq!(sim.discovery_calls(RDS.0, RDS.1), 1);
    assert_eq!(sim.discovery_calls(POLARDB.0, POLARDB.1), 1);
    assert_eq!(sim.discovery_calls(RDS_TAGS.0, RDS_TAGS.1), 0);
}

#[tokio::test]
async fn the_gateway_checks_discovery_signatures_like_any_other() {
    let sim = start(simulator().with_db_instances([SimDbInstance::rds_mysql(HANGZHOU, "rm-1")])).await;
    for api in ALL {
        let unsigned = send(&sim, "POST", &request(api, HANGZHOU, &[])).await;
        assert_eq!((unsigned.status, unsigned.code().as_str()), (400, "MissingSignature"), "{api:?}");
        let wrong = send(&sim, "POST", &signed("POST", request(api, HANGZHOU, &[]), "not-the-secret")).await;
        assert_eq!((wrong.status, wrong.code().as_str()), (400, "SignatureDoesNotMatch"), "{api:?}");
        let replayed = signed(
            "POST",
            request(api, HANGZHOU, &[("ResourceType", "INSTANCE"), ("ResourceId.1", "rm-1")]),
            SECRET,
        );
        assert_eq!(send(&sim, "POST", &replayed).await.status, 200, "{api:?}");
        let again = send(&sim, "POST", &replayed).await;
        assert_eq!(again.code(), "SignatureNonceUsed");
        assert_eq!(sim.discovery_calls(api.0, api.1), 4, "{api:?}: refused calls count");
    }
    assert_eq!(sim.calls_for(HANGZHOU, ""), 0, "DBS saw none of them");
}

#[tokio::test]
async fn one_action_name_is_routed_by_its_version() {
    let estate =
        [SimDbInstance::rds_mysql(HANGZHOU, "rm-1"), SimDbInstance::mongo_replicate(HANGZHOU, "dds-1")];
    let sim = start(simulator().with_db_instances(estate)).await;
    let rds = listed(&sim, RDS, HANGZHOU, &[]).await;
    assert_eq!(ids(&rds, ["Items", "DBInstance"], "DBInstanceId"), ["rm-1"]);
    assert_eq!(mongos(&listed(&sim, MONGODB, HANGZHOU, &[]).await), ["dds-1"]);
    let (status, code) = refused(&sim, ("DescribeDBInstances", "2019-01-01"), HANGZHOU, &[]).await;
    assert_eq!((status, code.as_str()), (400, "InvalidVersion"));
    let (status, code) = refused(&sim, ("DescribeDBClusters", "2014-08-15"), HANGZHOU, &[]).await;
    assert_eq!((status, code.as_str()), (400, "InvalidVersion"));
    let products: Vec<_> = sim.gateway().log().into_iter().map(|logged| logged.product).collect();
    assert_eq!(products, [Some("Rds"), Some("Dds"), Some("Rds"), Some("polardb")]);
}

#[tokio::test]
async fn the_estate_changes_while_the_simulator_runs() {
    let sim = start(simulator()).await;
    sim.add_db_instance(SimDbInstance::mongo_replicate(HANGZHOU, "dds-new"));
    sim.add_db_instance(SimDbInstance::polardb_mysql(HANGZHOU, "pc-new"));
    assert_eq!(mongos(&listed(&sim, MONGODB, HANGZHOU, &[]).await), ["dds-new"]);
    assert!(sim.set_db_instance_status(HANGZHOU, "dds-new", "Deleting"));
    assert!(!sim.set_db_instance_status("cn-shanghai", "dds-new", "Deleting"));
    assert_eq!(
        listed(&sim, MONGODB, HANGZHOU, &[]).await["DBInstances"]["DBInstance"][0]["DBInstanceStatus"],
        "Deleting"
    );
    assert!(sim.remove_db_instance(HANGZHOU, "dds-new"));
    assert!(!sim.remove_db_instance(HANGZHOU, "dds-new"));
    assert!(mongos(&listed(&sim, MONGODB, HANGZHOU, &[]).await).is_empty());
    let kept: BTreeSet<String> = sim.db_instances().into_iter().map(|i| i.id).collect();
    assert_eq!(kept, BTreeSet::from(["pc-new".to_string()]));
    sim.set_db_instances(vec![SimDbInstance::rds_mysql(HANGZHOU, "rm-only")]);
    assert_eq!(sim.db_instances(), [SimDbInstance::rds_mysql(HANGZHOU, "rm-only")]);
    assert!(clusters(&listed(&sim, POLARDB, HANGZHOU, &[]).await).is_empty());
}

#[tokio::test]
async fn without_format_json_a_listing_is_xml_with_repeated_items() {
    let estate =
        [SimDbInstance::polardb_mysql(HANGZHOU, "pc-1"), SimDbInstance::polardb_mysql(HANGZHOU, "pc-2")];
    let sim = start(simulator().with_db_instances(estate)).await;
    let reply = ask(&sim, POLARDB, HANGZHOU, &[("Format", "")]).await;
    assert_eq!(reply.status, 200);
    let text = reply.text();
    assert!(text.contains("<DescribeDBClustersResponse>"), "{text}");
    assert!(text.contains("<Items><DBCluster><Category>"), "{text}");
    assert_eq!(text.matches("<DBCluster>").count(), 2);
}

#[tokio::test]
async fn the_demo_simulator_lists_the_demo_estate() {
    use crate::{demo_db_instances, demo_simulator, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET};
    let sim = start(demo_simulator(1_700_000_000_000)).await;
    assert_eq!(sim.db_instances().len(), demo_db_instances().len());
    let mut request = request(POLARDB, HANGZHOU, &[("AccessKeyId", DEMO_ACCESS_KEY_ID)]);
    request = signed("POST", request, DEMO_ACCESS_KEY_SECRET);
    let body = send(&sim, "POST", &request).await.json();
    assert!(clusters(&body).contains(&"pc-bp1demo3n8f5t2w".to_string()), "{body}");
}
