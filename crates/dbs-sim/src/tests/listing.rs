//! Successful listings: shape, paging, filters, request accounting, XML, dynamic data.

use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::{SimTask, TaskType};

fn tasks(count: u64) -> Vec<SimTask> {
    (0..count)
        .map(|i| {
            let task_type = if i % 2 == 0 { TaskType::Full } else { TaskType::Pitr };
            let state = ["queuing", "running", "finished", "Initializing", "failed"][i as usize % 5];
            SimTask::new(format!("dt-{i:04}"), "cn-hangzhou", "rm-1", task_type, state, 1_000 + i * 10)
        })
        .collect()
}

fn ids(body: &Value) -> Vec<String> {
    let list = body["Data"]["Content"]["List"].as_array().expect("Data.Content.List");
    list.iter().map(|t| t["TaskId"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_valid_request_pages_with_string_typed_task_fields() {
    let sim = start(simulator().with_tasks(tasks(25))).await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let reply = call(&sim, &[("PageSize", "10"), ("CurrentPage", &page.to_string())]).await;
        assert_eq!(reply.status, 200);
        assert!(reply.header("content-type").unwrap().starts_with("application/json"));
        let body = reply.json();
        for field in ["RequestId", "Code", "Message", "ErrCode", "ErrMessage"] {
            assert!(body[field].is_string(), "{field}");
        }
        assert_eq!(body["Success"], "true");
        let request_id = body["RequestId"].as_str().unwrap();
        assert_eq!(request_id.len(), 36);
        assert_eq!(request_id, request_id.to_ascii_uppercase());
        let data = &body["Data"];
        assert_eq!(data["PageNumber"], page);
        assert_eq!(data["PageSize"], 10);
        assert_eq!(data["TotalElements"], 25);
        assert_eq!(data["TotalPages"], 3);
        assert!(data["Extra"].is_string());
        for task in data["Content"]["List"].as_array().unwrap() {
            let task = task.as_object().unwrap();
            assert_eq!(task.len(), 13);
            assert!(task.values().all(Value::is_string), "{task:?}");
        }
        seen.extend(ids(&body));
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("dt-{i:04}")).collect();
    assert_eq!(seen, expected, "newest first, every task exactly once");

    let past_the_end = call(&sim, &[("PageSize", "10"), ("CurrentPage", "4")]).await.json();
    assert!(ids(&past_the_end).is_empty());
    assert_eq!(past_the_end["Data"]["TotalElements"], 25);
}

#[tokio::test]
async fn task_fields_are_rendered_as_stored() {
    let mut task = SimTask::new("dt-one", "cn-hangzhou", "rm-1", TaskType::Pitr, "queuing", 1663321957000);
    task.export_bytes = 1234;
    task.import_bytes = 5678;
    task.progress = "3/10".into();
    task.format = "Parquet".into();
    let sim = start(simulator().with_tasks([task.clone()])).await;
    let body = call(&sim, &[]).await.json();
    let listed = &body["Data"]["Content"]["List"][0];
    assert_eq!(listed["DownloadStatus"], "queuing");
    assert_eq!(listed["ExportDataSize"], "1234");
    assert_eq!(listed["ImportDataSize"], "5678");
    assert_eq!(listed["GmtCreate"], "1663321957000");
    assert_eq!(listed["BackupSetTime"], task.backup_set_time_ms.to_string());
    assert_eq!(listed["BakSetId"], task.backup_set_id);
    assert_eq!(listed["Progress"], "3/10");
    assert_eq!(listed["Format"], "Parquet");
    assert_eq!(listed["RegionCode"], "cn-hangzhou");
}

#[tokio::test]
async fn page_size_is_clamped_to_the_maximum() {
    let sim = start(simulator().with_tasks(tasks(12)).with_max_page_size(5)).await;
    let body = call(&sim, &[("PageSize", "50")]).await.json();
    assert_eq!(body["Data"]["PageSize"], 5);
    assert_eq!(body["Data"]["TotalPages"], 3);
    assert_eq!(ids(&body).len(), 5);
}

#[tokio::test]
async fn filters_select_by_state_type_time_and_target() {
    let mut all = tasks(10);
    all.push(SimTask::new("dt-other", "cn-hangzhou", "rm-2", TaskType::Full, "running", 1_050));
    let sim = start(simulator().with_tasks(all)).await;
    let list = |extra: Vec<(&'static str, &'static str)>| {
        let sim = sim.clone();
        async move { ids(&call(&sim, &extra).await.json()) }
    };
    assert_eq!(list(vec![("State", "queueing")]).await, ["dt-0005", "dt-0000"]);
    assert_eq!(list(vec![("State", "INITIALIZING")]).await, ["dt-0008", "dt-0003"]);
    assert_eq!(list(vec![("TaskType", "pitr"), ("State", "running")]).await, ["dt-0001"]);
    assert_eq!(
        list(vec![("StartTime", "1020"), ("EndTime", "1040"), ("OrderDirect", "asc")]).await,
        ["dt-0002", "dt-0003", "dt-0004"]
    );
    assert_eq!(list(vec![("InstanceName", "rm-2")]).await, ["dt-other"]);
    assert!(list(vec![("RegionCode", "cn-shanghai")]).await.is_empty());
}

#[tokio::test]
async fn bad_request_values_are_answered_in_band() {
    let sim = start(simulator()).await;
    let body = call(&sim, &[("InstanceName", "")]).await;
    assert_eq!(body.status, 200);
    let body = body.json();
    assert_eq!(body["Success"], "false");
    assert_eq!(body["ErrCode"], "InvalidParameter");
    assert_eq!(body["Code"], "InvalidParameter");
    assert_eq!(body["ErrMessage"], "instanceName can not be empty");
    assert_eq!(body["Message"], "instanceName can not be empty");

    let body = call(&sim, &[("PageSize", "many")]).await.json();
    assert_eq!(
        (body["Success"].as_str(), body["ErrCode"].as_str()),
        (Some("false"), Some("InvalidParameter"))
    );
    let body = call(&sim, &[("TaskType", "incremental")]).await.json();
    assert_eq!(body["ErrCode"], "InvalidParameter");
}

#[tokio::test]
async fn get_and_form_encoded_post_are_both_accepted() {
    let sim = start(simulator().with_tasks(tasks(3))).await;
    let get = send(&sim, "GET", &signed("GET", params(AK, &[]), SECRET)).await;
    assert_eq!(get.json()["Data"]["TotalElements"], 3);

    let form = encode(&signed("POST", params(AK, &[("State", "running")]), SECRET));
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    let reply = parse(&exchange(sim.addr(), request.as_bytes()).await.unwrap()).unwrap();
    assert_eq!(ids(&reply.json()), ["dt-0001"]);
}

#[tokio::test]
async fn without_format_json_the_answer_is_xml() {
    let sim = start(simulator().with_tasks(tasks(2))).await;
    let reply = call(&sim, &[("Format", "")]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").unwrap().starts_with("text/xml"));
    let text = reply.text();
    assert!(text.starts_with("<?xml"), "{text}");
    assert!(text.contains("<TotalElements>2</TotalElements>"), "{text}");
    assert_eq!(text.matches("<List>").count(), 2, "{text}");

    let upper = call(&sim, &[("Format", "JSON")]).await;
    assert_eq!(upper.json()["Success"], "true");

    let error = send(&sim, "POST", &signed("POST", params(AK, &[("Format", "")]), "wrong")).await;
    assert_eq!(error.status, 400);
    assert!(error.text().contains("<Code>SignatureDoesNotMatch</Code>"), "{}", error.text());
}

#[tokio::test]
async fn calls_are_counted_and_logged_without_signature() {
    let sim = start(simulator()).await;
    call(&sim, &[]).await;
    call(&sim, &[("InstanceName", "rm-2")]).await;
    send(&sim, "POST", &params(AK, &[])).await; // unsigned: still a call
    let raw = b"GET /elsewhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(parse(&exchange(sim.addr(), raw).await.unwrap()).unwrap().status, 404);

    assert_eq!(sim.calls(), 4);
    assert_eq!(sim.calls_for("cn-hangzhou", "rm-1"), 2);
    assert_eq!(sim.calls_for("cn-hangzhou", "rm-2"), 1);
    let requests = sim.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests.iter().all(|r| !r.contains_key("Signature")));
    assert_eq!(requests[1]["InstanceName"], "rm-2");
    assert_eq!(requests[0]["AccessKeyId"], AK);
}

#[tokio::test]
async fn static_tasks_can_change_and_a_source_adds_tasks_for_now() {
    let source: crate::TaskSource = Arc::new(|now_ms, _, _| {
        vec![SimTask::new("dt-live", "cn-hangzhou", "rm-1", TaskType::Full, "running", now_ms)]
    });
    let sim = start(simulator().with_task_source(source)).await;
    assert_eq!(ids(&call(&sim, &[]).await.json()), ["dt-live"]);
    sim.set_tasks(tasks(2));
    sim.push_task(SimTask::new("dt-pushed", "cn-hangzhou", "rm-1", TaskType::Full, "running", 5));
    assert_eq!(
        ids(&call(&sim, &[("OrderDirect", "asc")]).await.json()),
        ["dt-pushed", "dt-0000", "dt-0001", "dt-live"]
    );
}

#[tokio::test]
async fn the_demo_world_is_served_with_the_demo_key() {
    use crate::{demo_regions, demo_simulator, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET};
    let now_ms = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let sim = start(demo_simulator(now_ms)).await;
    let mut total = 0;
    for (region, instances) in demo_regions() {
        for (instance, cluster) in instances {
            let mut extra = vec![("RegionCode", region.as_str()), ("InstanceName", instance.as_str())];
            if let Some(cluster) = &cluster {
                extra.push(("ClusterName", cluster));
            }
            let request = signed("POST", params(DEMO_ACCESS_KEY_ID, &extra), DEMO_ACCESS_KEY_SECRET);
            let body = send(&sim, "POST", &request).await.json();
            assert_eq!(body["Success"], "true", "{body}");
            total += body["Data"]["TotalElements"].as_u64().unwrap();
        }
    }
    assert!(total > 50, "{total}");
}
