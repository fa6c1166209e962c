//! RDS's list APIs over loopback: `DescribeDBInstances` in both paging modes, its filters and
//! `Tags`, and `ListTagResources`.

use serde_json::Value;

use super::discovery::{ask, ids, listed, refused, HANGZHOU, RDS, RDS_TAGS};
use super::*;
use crate::{SimDbInstance, SimHandle};

fn instances(body: &Value) -> Vec<String> {
    ids(body, ["Items", "DBInstance"], "DBInstanceId")
}

fn tag_entries(body: &Value) -> Vec<(String, String, String)> {
    let entries = body["TagResources"]["TagResource"].as_array().expect("TagResources.TagResource");
    entries
        .iter()
        .map(|e| {
            assert_eq!(e["ResourceType"], "ALIYUN::RDS::INSTANCE");
            let field = |name: &str| e[name].as_str().unwrap().to_string();
            (field("ResourceId"), field("TagKey"), field("TagValue"))
        })
        .collect()
}

fn numbered(count: usize) -> Vec<SimDbInstance> {
    (0..count).map(|i| SimDbInstance::rds_mysql(HANGZHOU, format!("rm-{i:04}"))).collect()
}

#[tokio::test]
async fn rds_items_carry_every_field_the_sdk_names_and_no_tags() {
    let estate = [
        SimDbInstance::rds_mysql(HANGZHOU, "rm-primary").with_description("shop").with_tag("env", "prod"),
        SimDbInstance::rds(HANGZHOU, "rr-replica", "MySQL", "Readonly", "cloud_essd"),
        SimDbInstance::rds(HANGZHOU, "rm-local", "MySQL", "Primary", "local_ssd").with_status("Creating"),
    ];
    let sim = start(simulator().with_db_instances(estate)).await;
    let body = listed(&sim, RDS, HANGZHOU, &[]).await;
    assert!(body["RequestId"].is_string());
    assert_eq!(instances(&body), ["rm-local", "rm-primary", "rr-replica"]);
    for field in ["TotalRecordCount", "PageNumber", "PageRecordCount"] {
        assert!(body[field].is_u64(), "{field} is a number: {body}");
    }
    assert_eq!((body["TotalRecordCount"].as_u64(), body["PageRecordCount"].as_u64()), (Some(3), Some(3)));
    assert!(body.get("NextToken").is_none(), "numbered paging has no token");
    let primary = &body["Items"]["DBInstance"][1];
    for (field, value) in [
        ("DBInstanceId", "rm-primary"),
        ("Engine", "MySQL"),
        ("EngineVersion", "8.0"),
        ("DBInstanceStatus", "Running"),
        ("DBInstanceType", "Primary"),
        ("DBInstanceStorageType", "cloud_essd"),
        ("DBInstanceDescription", "shop"),
        ("RegionId", HANGZHOU),
        ("ZoneId", "cn-hangzhou-h"),
        ("MasterInstanceId", ""),
    ] {
        assert_eq!(primary[field], value, "{field}");
    }
    assert!(primary["ResourceGroupId"].as_str().is_some_and(|g| g.starts_with("rg-")));
    assert!(primary.get("Tags").is_none());
    let replica = &body["Items"]["DBInstance"][2];
    assert_eq!(
        (replica["DBInstanceType"].as_str(), replica["MasterInstanceId"].as_str()),
        (Some("Readonly"), Some("rm-primary"))
    );
    let local = &body["Items"]["DBInstance"][0];
    assert_eq!(
        (local["DBInstanceStorageType"].as_str(), local["DBInstanceStatus"].as_str()),
        (Some("local_ssd"), Some("Creating"))
    );
}

#[tokio::test]
async fn numbered_paging_walks_every_instance_once() {
    let sim = start(simulator().with_db_instances(numbered(250))).await;
    let mut seen = Vec::new();
    for page in 1..=3u64 {
        let body =
            listed(&sim, RDS, HANGZHOU, &[("PageSize", "100"), ("PageNumber", &page.to_string())]).await;
        assert_eq!((body["TotalRecordCount"].as_u64(), body["PageNumber"].as_u64()), (Some(250), Some(page)));
        assert_eq!(body["PageRecordCount"].as_u64(), Some(if page < 3 { 100 } else { 50 }));
        seen.extend(instances(&body));
    }
    assert_eq!(seen, numbered(250).into_iter().map(|i| i.id).collect::<Vec<_>>());
    let past = listed(&sim, RDS, HANGZHOU, &[("PageSize", "100"), ("PageNumber", "4")]).await;
    assert!(instances(&past).is_empty());
    assert_eq!(past["TotalRecordCount"].as_u64(), Some(250));
    let default = listed(&sim, RDS, HANGZHOU, &[]).await;
    assert_eq!(instances(&default).len(), 30, "PageSize defaults to 30");
    assert_eq!(
        instances(&listed(&sim, RDS, HANGZHOU, &[("PageSize", "1"), ("PageNumber", "250")]).await),
        ["rm-0249"]
    );
}

/// Walks token paging to the end; the ids of each page.
async fn walk_tokens(sim: &SimHandle, max: &str, extra: &[(&str, &str)]) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let mut params = vec![("MaxResults", max), ("NextToken", token.as_str())];
        params.extend_from_slice(extra);
        let body = listed(sim, RDS, HANGZHOU, &params).await;
        let ids = instances(&body);
        assert_eq!(body["PageNumber"].as_u64(), Some(1), "token mode always says page 1");
        assert_eq!(body["TotalRecordCount"].as_u64(), Some(ids.len() as u64), "and counts the page only");
        assert_eq!(body["PageRecordCount"].as_u64(), Some(ids.len() as u64));
        pages.push(ids);
        token = body["NextToken"].as_str().expect("NextToken in token mode").to_string();
        if token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 100, "the token never ran out");
    }
}

#[tokio::test]
async fn token_paging_walks_every_instance_once() {
    let sim = start(simulator().with_db_instances(numbered(250))).await;
    let pages = walk_tokens(&sim, "100", &[]).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
    assert_eq!(pages.concat(), numbered(250).into_iter().map(|i| i.id).collect::<Vec<_>>());

    // A last page that is exactly full still ends with an empty token, not an empty page.
    let exact = walk_tokens(&sim, "50", &[]).await;
    assert_eq!(exact.len(), 5);
    // Without MaxResults, a NextToken alone pages by 30.
    let first = listed(&sim, RDS, HANGZHOU, &[("MaxResults", "30")]).await;
    let token = first["NextToken"].as_str().unwrap();
    let second = listed(&sim, RDS, HANGZHOU, &[("NextToken", token)]).await;
    assert_eq!(instances(&second).first().map(String::as_str), Some("rm-0030"));
    assert_eq!(instances(&second).len(), 30);
}

#[tokio::test]
async fn a_token_continues_after_its_page_while_instances_come_and_go() {
    let sim = start(simulator().with_db_instances(numbered(10))).await;
    let first = listed(&sim, RDS, HANGZHOU, &[("MaxResults", "4")]).await;
    assert_eq!(instances(&first), ["rm-0000", "rm-0001", "rm-0002", "rm-0003"]);
    sim.remove_db_instance(HANGZHOU, "rm-0001");
    sim.remove_db_instance(HANGZHOU, "rm-0003");
    sim.add_db_instance(SimDbInstance::rds_mysql(HANGZHOU, "rm-0004a"));
    let token = first["NextToken"].as_str().unwrap();
    let second = listed(&sim, RDS, HANGZHOU, &[("MaxResults", "4"), ("NextToken", token)]).await;
    assert_eq!(instances(&second), ["rm-0004", "rm-0004a", "rm-0005", "rm-0006"]);
}

#[tokio::test]
async fn page_sizes_out_of_range_and_unknown_tokens_are_refused() {
    let sim = start(simulator().with_db_instances(numbered(5))).await;
    for (name, value, code) in [
        ("PageSize", "0", "InvalidPageSize.Malformed"),
        ("PageSize", "101", "InvalidPageSize.Malformed"),
        ("PageSize", "ten", "InvalidPageSize.Malformed"),
        ("PageNumber", "0", "InvalidPageNumber.Malformed"),
        ("MaxResults", "0", "InvalidMaxResults.Malformed"),
        ("MaxResults", "101", "InvalidMaxResults.Malformed"),
        ("NextToken", "not-a-token", "InvalidNextToken"),
    ] {
        assert_eq!(
            refused(&sim, RDS, HANGZHOU, &[(name, value)]).await,
            (400, code.to_string()),
            "{name}={value}"
        );
    }
    for size in ["1", "100"] {
        listed(&sim, RDS, HANGZHOU, &[("PageSize", size)]).await;
        listed(&sim, RDS, HANGZHOU, &[("MaxResults", size)]).await;
    }
    // A token of ListTagResources does not continue DescribeDBInstances.
    let tagged =
        (0..60).map(|i| SimDbInstance::rds_mysql(HANGZHOU, format!("rm-t{i:02}")).with_tag("env", "prod"));
    sim.set_db_instances(tagged.collect());
    let tags = listed(&sim, RDS_TAGS, HANGZHOU, &[("ResourceType", "INSTANCE"), ("Tag.1.Key", "env")]).await;
    let foreign = tags["NextToken"].as_str().unwrap();
    assert!(!foreign.is_empty());
    assert_eq!(
        refused(&sim, RDS, HANGZHOU, &[("NextToken", foreign)]).await,
        (400, "InvalidNextToken".to_string())
    );
}

#[tokio::test]
async fn engine_type_and_status_filters_ignore_case() {
    let estate = [
        SimDbInstance::rds_mysql(HANGZHOU, "rm-my"),
        SimDbInstance::rds_postgresql(HANGZHOU, "pgm-pg"),
        SimDbInstance::rds(HANGZHOU, "rm-ms", "SQLServer", "Primary", "cloud_essd").with_status("Deleting"),
        SimDbInstance::rds(HANGZHOU, "rr-my", "MySQL", "Readonly", "cloud_essd"),
    ];
    let sim = start(simulator().with_db_instances(estate)).await;
    assert_eq!(instances(&listed(&sim, RDS, HANGZHOU, &[("Engine", "MySQL")]).await), ["rm-my", "rr-my"]);
    assert_eq!(instances(&listed(&sim, RDS, HANGZHOU, &[("Engine", "postgresql")]).await), ["pgm-pg"]);
    let primaries = listed(&sim, RDS, HANGZHOU, &[("Engine", "MySQL"), ("DBInstanceType", "Primary")]).await;
    assert_eq!(instances(&primaries), ["rm-my"]);
    assert_eq!(instances(&listed(&sim, RDS, HANGZHOU, &[("DBInstanceStatus", "deleting")]).await), ["rm-ms"]);
    assert!(instances(&listed(&sim, RDS, HANGZHOU, &[("Engine", "Oracle")]).await).is_empty());
}

#[tokio::test]
async fn tags_select_instances_carrying_any_of_the_pairs() {
    let estate = [
        SimDbInstance::rds_mysql(HANGZHOU, "rm-both").with_tag("env", "prod").with_tag("team", "a"),
        SimDbInstance::rds_mysql(HANGZHOU, "rm-env").with_tag("env", "prod"),
        SimDbInstance::rds_mysql(HANGZHOU, "rm-team").with_tag("team", "a").with_tag("env", "dev"),
        SimDbInstance::rds_mysql(HANGZHOU, "rm-none"),
    ];
    let sim = start(simulator().with_db_instances(estate)).await;
    let any = listed(&sim, RDS, HANGZHOU, &[("Tags", r#"{"env":"prod","team":"a"}"#)]).await;
    assert_eq!(instances(&any), ["rm-both", "rm-env", "rm-team"], "any pair selects, as the SDK model says");
    let env = listed(&sim, RDS, HANGZHOU, &[("Tags", r#"{"env":"prod"}"#)]).await;
    assert_eq!(instances(&env), ["rm-both", "rm-env"]);
    assert_eq!(instances(&listed(&sim, RDS, HANGZHOU, &[("Tags", "{}")]).await).len(), 4);
    for malformed in [
        r#"env=prod"#,
        r#"{"env":1}"#,
        r#"[{"Key":"env","Value":"prod"}]"#,
        r#"{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6"}"#,
    ] {
        assert_eq!(
            refused(&sim, RDS, HANGZHOU, &[("Tags", malformed)]).await,
            (400, "InvalidTags.Format".to_string()),
            "{malformed}"
        );
    }
}

#[tokio::test]
async fn list_tag_resources_pages_fifty_entries_at_a_time() {
    let estate = (0..40).map(|i| {
        SimDbInstance::rds_mysql(HANGZHOU, format!("rm-{i:02}"))
            .with_tag("env", "prod")
            .with_tag("team", "a")
            .with_tag("cost", format!("{i}"))
    });
    let sim = start(
        simulator().with_db_instances(estate.chain([SimDbInstance::rds_mysql(HANGZHOU, "rm-untagged")])),
    )
    .await;
    let names: Vec<String> = (1..=40).map(|n| format!("ResourceId.{n}")).collect();
    let mut request: Vec<(&str, &str)> = vec![("ResourceType", "INSTANCE")];
    let ids: Vec<String> = (0..40).map(|i| format!("rm-{i:02}")).collect();
    request.extend(names.iter().map(String::as_str).zip(ids.iter().map(String::as_str)));
    let mut entries = Vec::new();
    let mut token = String::new();
    let mut sizes = Vec::new();
    loop {
        let mut params = request.clone();
        params.push(("NextToken", &token));
        let body = listed(&sim, RDS_TAGS, HANGZHOU, &params).await;
        let page = tag_entries(&body);
        sizes.push(page.len());
        entries.extend(page);
        token = body["NextToken"].as_str().expect("NextToken").to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(sizes, [50, 50, 20]);
    assert_eq!(entries.len(), 120);
    let distinct: std::collections::BTreeSet<_> = entries.iter().collect();
    assert_eq!(distinct.len(), 120, "no entry twice");
    assert!(entries.contains(&("rm-07".into(), "cost".into(), "7".into())));
    let one = listed(
        &sim,
        RDS_TAGS,
        HANGZHOU,
        &[("ResourceType", "INSTANCE"), ("ResourceId.1", "rm-untagged"), ("ResourceId.2", "rm-03")],
    )
    .await;
    assert_eq!(tag_entries(&one).len(), 3);
    assert_eq!(one["NextToken"], "");
}

#[tokio::test]
async fn list_tag_resources_selects_by_tags_and_refuses_bad_requests() {
    let estate = [
        SimDbInstance::rds_mysql(HANGZHOU, "rm-a").with_tag("env", "prod").with_tag("team", "a"),
        SimDbInstance::rds_mysql(HANGZHOU, "rm-b").with_tag("env", "prod"),
    ];
    let sim = start(simulator().with_db_instances(estate)).await;
    let both = [
        ("ResourceType", "INSTANCE"),
        ("Tag.1.Key", "env"),
        ("Tag.1.Value", "prod"),
        ("Tag.2.Key", "team"),
        ("Tag.2.Value", "a"),
    ];
    let body = listed(&sim, RDS_TAGS, HANGZHOU, &both).await;
    let expected = [("rm-a", "env", "prod"), ("rm-a", "team", "a")]
        .map(|(i, k, v)| (i.to_string(), k.to_string(), v.to_string()));
    assert_eq!(tag_entries(&body), expected);

    let names: Vec<String> = (1..=51).map(|n| format!("ResourceId.{n}")).collect();
    let mut too_many: Vec<(&str, &str)> = vec![("ResourceType", "INSTANCE")];
    too_many.extend(names.iter().map(|name| (name.as_str(), "rm-a")));
    assert_eq!(
        refused(&sim, RDS_TAGS, HANGZHOU, &too_many).await,
        (400, "InvalidResourceId.NumberExceed".to_string())
    );
    too_many.pop();
    listed(&sim, RDS_TAGS, HANGZHOU, &too_many).await;
    for (extra, code) in [
        (vec![("ResourceId.1", "rm-a")], "MissingResourceType"),
        (vec![("ResourceType", "DATABASE"), ("ResourceId.1", "rm-a")], "InvalidResourceType"),
        (vec![("ResourceType", "INSTANCE")], "MissingParameter"),
        (
            vec![("ResourceType", "INSTANCE"), ("ResourceId.1", "rm-a"), ("NextToken", "0123")],
            "InvalidNextToken",
        ),
    ] {
        assert_eq!(refused(&sim, RDS_TAGS, HANGZHOU, &extra).await, (400, code.to_string()), "{extra:?}");
    }
    let reply =
        ask(&sim, RDS_TAGS, HANGZHOU, &[("ResourceType", "INSTANCE"), ("ResourceId.1", "rm-b")]).await;
    assert_eq!(tag_entries(&reply.json()).len(), 1);
}
