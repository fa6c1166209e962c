//! Several accounts in one exporter: each listed with its own credentials, and an `account`
//! label on the instance series only when more than one account is configured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use dbs_exporter::app::{AccountCredentials, Pipeline};
use dbs_exporter::config;
use dbs_exporter::credentials::{CredentialEndpoints, CredentialEnv};
use dbs_exporter::poller::Shard;
use dbs_exporter::util::WallClock;
use dbs_sim::TaskType;
use dbs_sim::{SimTask, Simulator};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test]
async fn each_account_signs_with_its_own_keys_and_its_series_carry_the_account() {
    let tasks = [
        SimTask::new("dt-p", "cn-hangzhou", "rm-prod", TaskType::Full, "finished", now_ms() - 1000),
        SimTask::new("dt-a", "cn-shanghai", "rm-analytics", TaskType::Full, "failed", now_ms() - 1000),
    ];
    let sim = Simulator::new()
        .with_access_key("LTAIprod", "prod-secret")
        .with_access_key("LTAIanalytics", "analytics-secret")
        .with_tasks(tasks)
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let text = format!(
        "task_types: [full]\naccounts:\n\
         \x20 - name: prod\n    credentials: {{source: environment, access_key_id_env: PROD_ID, access_key_secret_env: PROD_SECRET}}\n\
         \x20   regions:\n      - region_id: cn-hangzhou\n        endpoint: {url}\n        instances: [{{instance_id: rm-prod}}]\n\
         \x20 - name: analytics\n    credentials: {{source: environment, access_key_id_env: ANALYTICS_ID, access_key_secret_env: ANALYTICS_SECRET}}\n\
         \x20   regions:\n      - region_id: cn-shanghai\n        endpoint: {url}\n        instances: [{{instance_id: rm-analytics}}]\n",
        url = sim.url()
    );
    let config = config::parse(&text, "accounts.yaml").unwrap();
    let variables = [
        ("PROD_ID", "LTAIprod"),
        ("PROD_SECRET", "prod-secret"),
        ("ANALYTICS_ID", "LTAIanalytics"),
        ("ANALYTICS_SECRET", "analytics-secret"),
    ];
    let lookup = move |name: &str| variables.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let env = CredentialEnv::new(lookup, None, CredentialEndpoints::default());
    let pipeline = Pipeline::build_with(
        &config,
        AccountCredentials::Resolved(Arc::new(env)),
        Shard::default(),
        WallClock::System,
    )
    .unwrap();
    let report = pipeline.poll_once().await;
    assert_eq!((report.succeeded, report.failed), (2, 0));

    let keys: Vec<String> =
        sim.requests().iter().map(|r| format!("{}@{}", r["InstanceName"], r["AccessKeyId"])).collect();
    assert!(keys.contains(&"rm-prod@LTAIprod".to_string()), "{keys:?}");
    assert!(keys.contains(&"rm-analytics@LTAIanalytics".to_string()), "{keys:?}");

    let body = String::from_utf8(pipeline.exposition.body()).unwrap();
    assert!(body.contains(
        "aliyun_dbs_download_tasks{account=\"prod\",region_id=\"cn-hangzhou\",instance_id=\"rm-prod\",task_type=\"full\",state=\"finished\"} 1\n"
    ), "{body}");
    assert!(body.contains(
        "aliyun_dbs_up{account=\"analytics\",region_id=\"cn-shanghai\",instance_id=\"rm-analytics\"} 1\n"
    ));
    assert!(body.contains("aliyun_dbs_credentials_refresh_errors_total 0\n"), "{body}");
}

#[tokio::test]
async fn a_single_account_keeps_the_labels_it_always_had() {
    let sim = Simulator::new()
        .with_access_key("LTAIone", "one-secret")
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let text = format!(
        "task_types: [full]\naccounts:\n  - name: only\n    credentials: {{source: environment}}\n    regions:\n\
         \x20     - region_id: cn-hangzhou\n        endpoint: {}\n        instances: [{{instance_id: rm-one}}]\n",
        sim.url()
    );
    let config = config::parse(&text, "one.yaml").unwrap();
    let variables =
        [("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIone"), ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "one-secret")];
    let lookup = move |name: &str| variables.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let env = CredentialEnv::new(lookup, None, CredentialEndpoints::default());
    let pipeline = Pipeline::build_with(
        &config,
        AccountCredentials::Resolved(Arc::new(env)),
        Shard::default(),
        WallClock::System,
    )
    .unwrap();
    assert_eq!(pipeline.poll_once().await.failed, 0);
    let body = String::from_utf8(pipeline.exposition.body()).unwrap();
    assert!(body.contains("aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-one\"} 1\n"), "{body}");
    assert!(!body.contains("account="));
}
