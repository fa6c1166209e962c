//! The DBS client against the in-crate simulator, over real loopback HTTP with real signatures.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::support::{
    credentials, percent_encoded, simulator, TestEstate, KEY_ID, SECRET, STS_KEY_ID, STS_SECRET, STS_TOKEN,
};
use dbs_exporter::api::{
    ApiError, CallObserver, ClientOptions, DbsClient, DownloadState, DownloadTaskQuery, ListOptions, Page,
    TaskType, TransportKind,
};
use dbs_exporter::credentials::{Credentials, StaticCredentials};
use dbs_exporter::rpc::{CallFailure, Retryable, RpcError};
use dbs_sim::{Fault, SimHandle, SimTask, TaskType as SimTaskType};

const REGION: &str = "cn-hangzhou";
const INSTANCE: &str = "rm-bp1test0000001";
const BASE_MS: u64 = 1_700_000_000_000;

fn tasks(count: u64, instance: &str, task_type: TaskType) -> Vec<SimTask> {
    let states = ["finished", "failed", "queuing", "running", "Initializing", "expired"];
    (0..count)
        .map(|i| {
            let id = format!("dt-{instance}-{}-{i:04}", task_type.as_str());
            let mut task = SimTask::new(
                &id,
                REGION,
                instance,
                crate::support::sim_type(task_type),
                states[i as usize % states.len()],
                BASE_MS + i * 1000,
            );
            task.export_bytes = 1000 + i;
            task.import_bytes = 10 * i;
            task
        })
        .collect()
}

fn client_with(credentials: Credentials) -> DbsClient {
    let options = ClientOptions { timeout: Duration::from_secs(5), ..ClientOptions::default() };
    DbsClient::new(options, Arc::new(StaticCredentials::new(credentials))).unwrap()
}

fn client() -> DbsClient {
    client_with(Credentials::new(KEY_ID, SECRET))
}

fn query(task_type: TaskType) -> DownloadTaskQuery {
    DownloadTaskQuery { task_type: Some(task_type), ..DownloadTaskQuery::new(REGION, INSTANCE) }
}

fn assert_secret_free(err: &ApiError) {
    let text = format!("{err} {err:?}");
    for secret in [SECRET, STS_SECRET, STS_TOKEN, &percent_encoded(STS_TOKEN)] {
        assert!(!text.contains(secret), "secret leaked into error: {text}");
    }
}

async fn list_err(sim: &SimHandle, client: &DbsClient) -> ApiError {
    let err = client
        .list_download_tasks(&sim.url(), &query(TaskType::Full), ListOptions::default(), &())
        .await
        .expect_err("listing should fail");
    assert_secret_free(&err);
    err
}

#[tokio::test]
async fn a_multi_page_listing_returns_every_task_exactly_once() {
    let mut all = tasks(237, INSTANCE, TaskType::Full);
    all.extend(tasks(5, INSTANCE, TaskType::Pitr));
    all.extend(tasks(9, "rm-other", TaskType::Full));
    let sim = simulator(all).await;
    let options = ListOptions { page_size: 10, max_pages: 100, ..ListOptions::default() };
    let listing =
        client().list_download_tasks(&sim.url(), &query(TaskType::Full), options, &()).await.unwrap();

    assert_eq!(listing.tasks.len(), 237);
    assert_eq!(listing.pages, 24);
    assert_eq!(listing.duplicates, 0);
    let mut ids: Vec<_> = listing.tasks.iter().map(|t| t.task_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 237);
    assert!(listing.tasks.iter().all(|t| t.task_type == Some(TaskType::Full)));
    let queueing = listing.tasks.iter().filter(|t| t.state == DownloadState::Queueing).count();
    assert_eq!(queueing, 40, "'queuing' must be read as queueing");
    let exported: u64 = listing.tasks.iter().map(|t| t.export_bytes).sum();
    assert_eq!(exported, (0..237).map(|i| 1000 + i).sum::<u64>());
    assert_eq!(sim.calls(), 24);
}

#[tokio::test]
async fn every_filter_reaches_the_wire_signed() {
    let sim = simulator(tasks(3, INSTANCE, TaskType::Pitr)).await;
    let query = DownloadTaskQuery {
        cluster_name: Some("dds-example".into()),
        datasource_id: Some("ds-rm_cn-hangzhou".into()),
        backup_set_id: Some("2161234".into()),
        state: Some(DownloadState::Finished),
        start_time_ms: Some(BASE_MS - 1),
        end_time_ms: Some(BASE_MS + 10_000),
        order_column: Some("gmt_create".into()),
        order_direction: Some(dbs_exporter::api::OrderDirection::Asc),
        ..query(TaskType::Pitr)
    };
    let page = client().describe_download_task(&sim.url(), &query, 7, 1).await.unwrap();
    assert!(page.tasks.is_empty(), "the cluster filter matches no task");
    let sent = sim.requests().pop().expect("one request recorded");
    for (key, value) in [
        ("RegionCode", REGION),
        ("InstanceName", INSTANCE),
        ("ClusterName", "dds-example"),
        ("DatasourceId", "ds-rm_cn-hangzhou"),
        ("BackupSetId", "2161234"),
        ("State", "finished"),
        ("TaskType", "pitr"),
        ("StartTime", "1699999999999"),
        ("EndTime", "1700000010000"),
        ("PageSize", "7"),
        ("CurrentPage", "1"),
        ("OrderColumn", "gmt_create"),
        ("OrderDirect", "asc"),
        ("Action", "DescribeDownloadTask"),
        ("Version", "2021-01-01"),
        ("Format", "json"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", KEY_ID),
    ] {
        assert_eq!(sent.get(key).map(String::as_str), Some(value), "{key}");
    }
}

#[tokio::test]
async fn the_state_and_time_filters_select_on_the_server() {
    let sim = simulator(tasks(60, INSTANCE, TaskType::Full)).await;
    let finished = DownloadTaskQuery { state: Some(DownloadState::Finished), ..query(TaskType::Full) };
    let listing =
        client().list_download_tasks(&sim.url(), &finished, ListOptions::default(), &()).await.unwrap();
    assert_eq!(listing.tasks.len(), 10);
    assert!(listing.tasks.iter().all(|t| t.state == DownloadState::Finished));

    let window = DownloadTaskQuery {
        start_time_ms: Some(BASE_MS + 10_000),
        end_time_ms: Some(BASE_MS + 19_000),
        ..query(TaskType::Full)
    };
    let listing =
        client().list_download_tasks(&sim.url(), &window, ListOptions::default(), &()).await.unwrap();
    assert_eq!(listing.tasks.len(), 10, "creation-time window is inclusive at both ends");
}

/// Creates a new newest task after the first page, shifting every later page by one under
/// the default descending sort, as happens when a task is created mid-listing.
struct CreateTaskAfterFirstPage {
    sim: SimHandle,
    done: Mutex<bool>,
}

impl CallObserver<Page, ApiError> for CreateTaskAfterFirstPage {
    fn on_call(&self, _: Duration, _: Result<&Page, &ApiError>) {
        let mut done = self.done.lock().unwrap();
        if !*done {
            *done = true;
            self.sim.push_task(SimTask::new(
                "dt-created-mid-listing",
                REGION,
                INSTANCE,
                SimTaskType::Full,
                "initializing",
                BASE_MS + 999_999,
            ));
        }
    }
}

#[tokio::test]
async fn a_task_created_mid_listing_does_not_count_twice() {
    let sim = simulator(tasks(30, INSTANCE, TaskType::Full)).await;
    let observer = CreateTaskAfterFirstPage { sim: sim.clone(), done: Mutex::new(false) };
    let options = ListOptions { page_size: 10, max_pages: 10, ..ListOptions::default() };
    let listing =
        client().list_download_tasks(&sim.url(), &query(TaskType::Full), options, &observer).await.unwrap();
    assert_eq!(listing.duplicates, 1);
    assert_eq!(
        listing.tasks.len(),
        30,
        "the 30 original tasks, each once (the new one lands on page 1, already read)"
    );
}

#[tokio::test]
async fn the_page_cap_is_a_clear_error() {
    let sim = simulator(tasks(50, INSTANCE, TaskType::Full)).await;
    let options = ListOptions { page_size: 10, max_pages: 2, ..ListOptions::default() };
    let err =
        client().list_download_tasks(&sim.url(), &query(TaskType::Full), options, &()).await.unwrap_err();
    assert!(matches!(err, ApiError::PageCap { cap: 2, total_pages: 5 }), "{err:?}");
    assert_eq!(err.metric_label(), "page_cap");
    assert!(err.to_string().contains("max_pages"));
}

#[tokio::test]
async fn a_wrong_secret_is_signature_does_not_match() {
    let sim = TestEstate::new().start().await;
    let err = list_err(&sim, &client_with(Credentials::new(KEY_ID, "wrong-secret"))).await;
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    assert!(matches!(err, ApiError::Rpc(RpcError::Http { status: 400, .. })));
    assert_eq!(err.metric_label(), "auth");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_unknown_key_is_not_found() {
    let sim = TestEstate::new().start().await;
    let err = list_err(&sim, &client_with(Credentials::new("LTAIunknown", SECRET))).await;
    assert_eq!(err.code(), Some("InvalidAccessKeyId.NotFound"));
    assert!(matches!(err, ApiError::Rpc(RpcError::Http { status: 404, .. })));
    assert_eq!(err.metric_label(), "auth");
}

#[tokio::test]
async fn sts_credentials_work_until_their_token_expires() {
    let sim = TestEstate::new().sts().tasks(tasks(3, INSTANCE, TaskType::Full)).start().await;
    let sts = client_with(Credentials::new(STS_KEY_ID, STS_SECRET).with_security_token(STS_TOKEN));
    let listing =
        sts.list_download_tasks(&sim.url(), &query(TaskType::Full), ListOptions::default(), &()).await;
    assert_eq!(listing.unwrap().tasks.len(), 3);
    assert_eq!(sim.requests()[0].get("SecurityToken").map(String::as_str), Some(STS_TOKEN));

    // The service quotes its string-to-sign, token included, when a signature does not match.
    let wrong_secret = client_with(Credentials::new(STS_KEY_ID, "wrong").with_security_token(STS_TOKEN));
    let err = list_err(&sim, &wrong_secret).await;
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));

    let sim = TestEstate::new().sts_until(SystemTime::now() - Duration::from_secs(1)).start().await;
    let err = list_err(&sim, &sts).await;
    assert_eq!(err.code(), Some("InvalidSecurityToken.Expired"));
    assert_eq!(err.metric_label(), "auth");
}

#[tokio::test]
async fn a_forbidden_instance_is_a_permission_error() {
    let sim = TestEstate::new().forbidden(REGION, INSTANCE).start().await;
    let err = list_err(&sim, &client()).await;
    assert_eq!(err.code(), Some("Forbidden.RAM"));
    assert_eq!(err.metric_label(), "forbidden");
}

#[tokio::test]
async fn each_fault_comes_back_as_the_right_error_kind() {
    let sim = simulator(tasks(3, INSTANCE, TaskType::Full)).await;
    let client = client();
    let cases: Vec<(Fault, &str, bool)> = vec![
        (Fault::Throttle, "throttled", true),
        (Fault::ServerError(503), "server", true),
        (Fault::ServerError(500), "server", true),
        (Fault::ServerError(502), "server", true),
        (Fault::InBandError, "server", true),
        (Fault::Malformed, "decode", true),
        (Fault::Truncated, "transport", true),
        (Fault::Reset, "transport", true),
    ];
    for (fault, label, retryable) in cases {
        sim.inject(fault.clone(), 1);
        let err = list_err(&sim, &client).await;
        assert_eq!(err.metric_label(), label, "{fault:?}: {err}");
        assert_eq!(err.is_retryable(), retryable, "{fault:?}");
        match fault {
            Fault::Throttle => {
                assert_eq!(err.code(), Some("Throttling.User"));
                assert_eq!(err.retry_after(), Some(Duration::from_millis(100)));
            }
            Fault::InBandError => assert!(matches!(err, ApiError::Rpc(RpcError::InBand { .. })), "{err:?}"),
            Fault::Truncated => {
                assert!(
                    matches!(err, ApiError::Rpc(RpcError::Transport { kind: TransportKind::Body, .. })),
                    "{err:?}"
                )
            }
            Fault::Reset => {
                assert!(
                    matches!(err, ApiError::Rpc(RpcError::Transport { kind: TransportKind::Reset, .. })),
                    "{err:?}"
                )
            }
            _ => {}
        }
    }
    // Once the faults are used up, the same client lists normally again.
    let listing =
        client.list_download_tasks(&sim.url(), &query(TaskType::Full), ListOptions::default(), &()).await;
    assert_eq!(listing.unwrap().tasks.len(), 3);
}

#[tokio::test]
async fn a_slow_answer_past_the_timeout_is_a_transport_timeout() {
    let sim = TestEstate::new().start().await;
    sim.inject(Fault::Latency(Duration::from_secs(3)), 1);
    let options = ClientOptions { timeout: Duration::from_millis(300), ..ClientOptions::default() };
    let client = DbsClient::new(options, credentials()).unwrap();
    let err = list_err(&sim, &client).await;
    assert!(
        matches!(err, ApiError::Rpc(RpcError::Transport { kind: TransportKind::Timeout, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let (_held, address) = crate::support::refusing_port();
    let url = format!("http://{address}");
    let err = client()
        .list_download_tasks(&url, &query(TaskType::Full), ListOptions::default(), &())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Rpc(RpcError::Transport { kind: TransportKind::Connect, .. })),
        "{err:?}"
    );
    assert_secret_free(&err);
}

/// Hands out a token the service no longer accepts until told to invalidate it.
#[derive(Debug)]
struct RevokedThenFresh {
    invalidated: std::sync::atomic::AtomicBool,
}

impl dbs_exporter::credentials::CredentialsProvider for RevokedThenFresh {
    fn credentials(&self) -> dbs_exporter::credentials::CredentialsFuture<'_> {
        let token = if self.invalidated.load(std::sync::atomic::Ordering::SeqCst) {
            STS_TOKEN
        } else {
            "revoked-token"
        };
        let credentials = Credentials::new(STS_KEY_ID, STS_SECRET).with_security_token(token);
        Box::pin(async move { Ok(Arc::new(credentials)) })
    }

    fn describe(&self) -> &str {
        "revoked-then-fresh"
    }

    fn invalidate(&self) {
        self.invalidated.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_refused_security_token_is_refreshed_and_the_call_tried_once_more() {
    let sim = TestEstate::new().sts().tasks(tasks(3, INSTANCE, TaskType::Full)).start().await;
    let provider = Arc::new(RevokedThenFresh { invalidated: std::sync::atomic::AtomicBool::new(false) });
    let client = DbsClient::new(ClientOptions::default(), provider).unwrap();
    let listing =
        client.list_download_tasks(&sim.url(), &query(TaskType::Full), ListOptions::default(), &()).await;
    assert_eq!(listing.unwrap().tasks.len(), 3, "no retry policy is needed for this one retry");
    assert_eq!(sim.calls(), 2);
}
