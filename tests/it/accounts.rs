//! Several accounts in one exporter: each listed with its own credentials, and an `account`
//! label on the instance series only when more than one account is configured.

use crate::support::{
    metrics_of, now_ms, pipeline_with_env, TestEstate, KEY_ID, OTHER_KEY_ID, OTHER_SECRET, SECRET,
};
use dbs_sim::SimTask;
use dbs_sim::TaskType;

#[tokio::test]
async fn each_account_signs_with_its_own_keys_and_its_series_carry_the_account() {
    let tasks = [
        SimTask::new("dt-p", "cn-hangzhou", "rm-prod", TaskType::Full, "finished", now_ms() - 1000),
        SimTask::new("dt-a", "cn-shanghai", "rm-analytics", TaskType::Full, "failed", now_ms() - 1000),
    ];
    // prod signs with the shared key, analytics with the other one.
    let sim = TestEstate::new()
        .with(|sim| sim.with_access_key(OTHER_KEY_ID, OTHER_SECRET))
        .tasks(tasks)
        .start()
        .await;
    let text = format!(
        "task_types: [full]\naccounts:\n\
         \x20 - name: prod\n    credentials: {{source: environment, access_key_id_env: PROD_ID, access_key_secret_env: PROD_SECRET}}\n\
         \x20   regions:\n      - region_id: cn-hangzhou\n        endpoint: {url}\n        instances: [{{instance_id: rm-prod}}]\n\
         \x20 - name: analytics\n    credentials: {{source: environment, access_key_id_env: ANALYTICS_ID, access_key_secret_env: ANALYTICS_SECRET}}\n\
         \x20   regions:\n      - region_id: cn-shanghai\n        endpoint: {url}\n        instances: [{{instance_id: rm-analytics}}]\n",
        url = sim.url()
    );
    let variables = [
        ("PROD_ID", KEY_ID),
        ("PROD_SECRET", SECRET),
        ("ANALYTICS_ID", OTHER_KEY_ID),
        ("ANALYTICS_SECRET", OTHER_SECRET),
    ];
    let pipeline = pipeline_with_env(&text, &variables);
    let report = pipeline.poll_once().await;
    assert_eq!((report.succeeded, report.failed), (2, 0));

    let keys: Vec<String> =
        sim.requests().iter().map(|r| format!("{}@{}", r["InstanceName"], r["AccessKeyId"])).collect();
    assert!(keys.contains(&format!("rm-prod@{KEY_ID}")), "{keys:?}");
    assert!(keys.contains(&format!("rm-analytics@{OTHER_KEY_ID}")), "{keys:?}");

    let body = metrics_of(&pipeline);
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
    let sim = TestEstate::new().start().await;
    let text = format!(
        "task_types: [full]\naccounts:\n  - name: only\n    credentials: {{source: environment}}\n    regions:\n\
         \x20     - region_id: cn-hangzhou\n        endpoint: {}\n        instances: [{{instance_id: rm-one}}]\n",
        sim.url()
    );
    let variables = [("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID), ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)];
    let pipeline = pipeline_with_env(&text, &variables);
    assert_eq!(pipeline.poll_once().await.failed, 0);
    let body = metrics_of(&pipeline);
    assert!(body.contains("aliyun_dbs_up{region_id=\"cn-hangzhou\",instance_id=\"rm-one\"} 1\n"), "{body}");
    assert!(!body.contains("account="));
}
