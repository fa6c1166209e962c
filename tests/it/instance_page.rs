//! The instance page (`/instance`) through the in-process server: a store written by listings
//! as the poller writes them, then the page's targets, tasks in progress (progress bar, rate,
//! time left, stalled), events, escaping, and the answers for unknown or missing instances.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::support::*;
use dbs_exporter::api::{DownloadState, DownloadTask, ExportFormat, Progress, TaskSummary, TaskType};
use dbs_exporter::http::status::StatusBoard;
use dbs_exporter::http::Routes;
use dbs_exporter::metrics::ExporterMetrics;
use dbs_exporter::render::Exposition;
use dbs_exporter::store::model::{InstanceKey, QueryId, TargetKey};
use dbs_exporter::store::{Attempt, Generation, ListingError, Store};

/// 2026-01-01T00:00:00Z, in Unix milliseconds.
const T0: u64 = 1_767_225_600_000;
const HOSTILE_DBS: &str = "[<script>alert(1)</script>,\"shop\"]";

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

fn target(account: &str, instance: &str, task_type: TaskType) -> TargetKey {
    TargetKey { instance: InstanceKey::new("cn-hangzhou", instance).in_account(account), task_type }
}

fn attempt(key: &TargetKey) -> Attempt<'_> {
    Attempt { key, generation: 1, asked: QueryId::default() }
}

/// A task of `state` created `age_s` seconds before T0, with `done` of `total` tables.
fn task(id: &str, state: &str, age_s: u64, tables: Option<(u64, u64)>) -> TaskSummary {
    DownloadTask {
        created_at_ms: Some(T0 - age_s * 1000),
        format: Some(ExportFormat::parse("csv")),
        db_list: Some(HOSTILE_DBS.to_string()),
        progress: tables.map(|(done, total)| Progress { done, total }),
        ..DownloadTask::new(id, Some(TaskType::Full), DownloadState::parse(state))
    }
    .summary()
}

fn server_routes(store: Arc<Store>) -> Routes {
    let exposition = Arc::new(Exposition::new(Arc::clone(&store), ExporterMetrics::new(["cn-hangzhou"])));
    Routes::new(exposition, "/metrics").with_status(Arc::new(StatusBoard::new(store)))
}

/// One account; rm-page's full downloads listed four times a minute apart, its pitr listing
/// failing, and rm-other with a task that fails (an event that is not rm-page's).
fn store() -> Arc<Store> {
    let page_full = target("default", "rm-page", TaskType::Full);
    let page_pitr = target("default", "rm-page", TaskType::Pitr);
    let other = target("default", "rm-other", TaskType::Full);
    let generation = Generation::of_targets(1, vec![page_full.clone(), page_pitr.clone(), other.clone()]);
    let store = Arc::new(Store::with_generation(generation));
    for poll in 0..4u64 {
        // dt-run: 30 tables a minute of 200; dt-stuck: 3 of 10 throughout; dt-queued: queueing,
        // then running without exporting; dt-done: finishes at the second listing.
        let mut tasks = vec![
            task("dt-run", "running", 600, Some((10 + 30 * poll, 200))),
            task("dt-stuck", "running", 900, Some((3, 10))),
        ];
        tasks.push(match poll {
            0 => task("dt-queued", "queueing", 120, Some((0, 50))),
            _ => task("dt-queued", "running", 120, Some((0, 50))),
        });
        tasks.push(match poll {
            0 => task("dt-done", "running", 300, Some((5, 20))),
            _ => task("dt-done", "finished", 300, Some((20, 20))),
        });
        store.record_listing(&attempt(&page_full), &tasks, at(T0 + poll * 60_000)).unwrap();
        let state = if poll == 0 { "queueing" } else { "failed" };
        store.record_listing(
            &attempt(&other),
            &[task("dt-elsewhere", state, 60, None)],
            at(T0 + poll * 60_000),
        );
    }
    let error = ListingError {
        code: "forbidden",
        message: Arc::from("<b>Forbidden.RAM</b>"),
        hint: "grant the RAM action dbs:DescribeDownloadTask on this instance".into(),
    };
    store.record_failure(&attempt(&page_pitr), error);
    store
}

/// The `<tr ...>...</tr>` of `page` that starts with `start`.
fn row<'a>(page: &'a str, start: &str) -> &'a str {
    let from = page.find(start).unwrap_or_else(|| panic!("no {start} in {page}"));
    let rest = &page[from..];
    &rest[..rest.find("</tr>").expect("a row ends") + 5]
}

async fn get(server: &TestServer, path: &str) -> (u16, String, String) {
    let response = reqwest::get(server.url("http", path)).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn the_page_shows_an_instances_downloads_with_progress_time_left_and_events() {
    let server = TestServer::plain(server_routes(store())).await;
    let (status, content_type, page) =
        get(&server, "/instance?region_id=cn-hangzhou&instance_id=rm-page").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(page.contains("<h1>Instance <span id=\"instance-id\">rm-page</span></h1>"), "{page}");
    assert!(page.contains("<a href=\"/\" id=\"back\">"), "a link back to the status page");
    assert!(!page.contains("<dt>Account</dt>"), "one account: none shown");
    assert!(!page.contains("<script"), "no script, and the hostile db_list is escaped");
    assert!(page.contains("[&lt;script&gt;alert(1)&lt;/script&gt;,&quot;shop&quot;]"), "{page}");
    assert!(page.contains("href=\"/api/v1/tasks?region_id=cn-hangzhou&amp;instance_id=rm-page\""));
    assert!(page.contains("href=\"/api/v1/events?region_id=cn-hangzhou&amp;instance_id=rm-page\""));

    // Its two targets: full up, pitr down with its error class and hint, the message escaped.
    let targets =
        &page[page.find("<table id=\"targets\">").unwrap()..page.find("id=\"active-tasks\"").unwrap()];
    assert_eq!(targets.matches("<tr class=").count(), 2, "{targets}");
    assert!(row(targets, "<tr class=\"up\"><td>full</td>").contains("running=3"), "{targets}");
    let pitr = row(targets, "<tr class=\"down\"><td>pitr</td>");
    assert!(pitr.contains("<td class=\"state\">DOWN</td>") && pitr.contains("forbidden"), "{pitr}");
    assert!(pitr.contains("grant the RAM action") && pitr.contains("&lt;b&gt;Forbidden.RAM"), "{pitr}");

    // Three tasks in progress; dt-done finished.
    assert_eq!(page.matches("<tr class=\"task\"").count(), 3, "{page}");
    assert!(page.contains("<p id=\"active-count\">3 tasks"), "{page}");
    let running = row(&page, "<tr class=\"task\" data-task-id=\"dt-run\">");
    assert!(running.contains("<progress value=\"100\" max=\"200\"></progress>"), "{running}");
    assert!(running.contains("100/200 tables"), "{running}");
    assert!(running.contains("<td class=\"rate\">30 tables/min</td>"), "{running}");
    // 100 tables left at half a table a second.
    assert!(running.contains("<td class=\"eta\" data-seconds=\"200\">3 min</td>"), "{running}");
    assert!(running.contains("<td class=\"task-state\">running</td><td>csv</td>"), "{running}");
    assert!(running.contains("&lt;script&gt;"), "{running}");
    let stuck = row(&page, "<tr class=\"task\" data-task-id=\"dt-stuck\">");
    assert!(stuck.contains("<td class=\"eta stalled\">stalled</td>"), "{stuck}");
    assert!(stuck.contains("<progress value=\"3\" max=\"10\"></progress> <span class=\"tables\">3/10 tables"));
    let queued = row(&page, "<tr class=\"task\" data-task-id=\"dt-queued\">");
    assert!(queued.contains("<td class=\"rate\">—</td><td class=\"eta\">—</td>"), "{queued}");

    // Its two events, newest first (both seen at the second listing), none of rm-other's.
    assert_eq!(page.matches("<tr class=\"event\"").count(), 2, "{page}");
    assert!(!page.contains("dt-elsewhere"), "another instance's event");
    let done = row(&page, "<tr class=\"event\" data-to=\"finished\">");
    assert!(
        done.contains("<td>2026-01-01T00:01:00Z</td><td class=\"task-id\">dt-done</td><td>full</td>"),
        "{done}"
    );
    assert!(done.contains("running → <span class=\"to\">finished</span>"), "{done}");
    // Created 300 s before T0, ended at the listing 60 s after it.
    assert!(done.contains("<td>6 min</td><td>20/20 tables</td><td>csv</td>"), "{done}");
    let started = row(&page, "<tr class=\"event\" data-to=\"running\">");
    assert!(started.contains("dt-queued") && started.contains("queueing → "), "{started}");
    assert!(!started.contains("min</td>"), "no duration for a task that has not ended: {started}");
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_instance_is_404_and_a_missing_parameter_400() {
    let server = TestServer::plain(server_routes(store())).await;
    let (status, content_type, page) =
        get(&server, "/instance?region_id=cn-hangzhou&instance_id=%3Cb%3Erm-gone").await;
    assert_eq!(status, 404, "{page}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(page.contains("Unknown instance") && page.contains("&lt;b&gt;rm-gone"), "{page}");
    assert!(!page.contains("<b>rm-gone"), "the id from the request is escaped");
    let (status, _, page) = get(&server, "/instance?region_id=cn-beijing&instance_id=rm-page").await;
    assert_eq!(status, 404, "the same id in another region: {page}");

    for missing in
        ["/instance", "/instance?instance_id=rm-page", "/instance?region_id=cn-hangzhou&instance_id="]
    {
        let (status, content_type, page) = get(&server, missing).await;
        assert_eq!(status, 400, "{missing}: {page}");
        assert_eq!(content_type, "text/html; charset=utf-8");
        assert!(page.contains("region_id") && page.contains("instance_id"), "{page}");
    }
    // With one account, an account parameter (an alert's empty or any other) changes nothing.
    for account in ["", "default", "whatever"] {
        let path = format!("/instance?region_id=cn-hangzhou&instance_id=rm-page&account={account}");
        assert_eq!(get(&server, &path).await.0, 200, "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_status_page_links_every_instance_to_its_page() {
    let server = TestServer::plain(server_routes(store())).await;
    let (_, _, page) = get(&server, "/").await;
    for instance in ["rm-page", "rm-other"] {
        let link = format!(
            "<a class=\"instance\" href=\"/instance?region_id=cn-hangzhou&amp;instance_id={instance}\">{instance}</a>"
        );
        assert!(page.contains(&link), "{link} in {page}");
    }
    assert_eq!(page.matches("href=\"/instance?region_id=cn-hangzhou&amp;instance_id=rm-page\"").count(), 2);
    server.stop().await;
}

#[tokio::test]
async fn with_several_accounts_the_account_picks_the_instance() {
    let prod = target("prod", "rm-same", TaskType::Full);
    let staging = target("staging area", "rm-same", TaskType::Full);
    let only = target("staging area", "rm-only", TaskType::Full);
    let mut generation = Generation::of_targets(1, vec![prod.clone(), staging.clone(), only]);
    generation.layout.labels_accounts = true;
    let store = Arc::new(Store::with_generation(generation));
    for poll in 0..2u64 {
        let tables = Some((10 * poll, 100));
        store.record_listing(
            &attempt(&prod),
            &[task("dt-prod", "running", 60, tables)],
            at(T0 + poll * 60_000),
        );
        store.record_listing(
            &attempt(&staging),
            &[task("dt-staging", "running", 60, tables)],
            at(T0 + poll * 60_000),
        );
    }
    let server = TestServer::plain(server_routes(store)).await;

    let (_, _, status_page) = get(&server, "/").await;
    assert!(status_page.contains(
        "href=\"/instance?region_id=cn-hangzhou&amp;instance_id=rm-same&amp;account=staging+area\""
    ));
    assert!(status_page
        .contains("href=\"/instance?region_id=cn-hangzhou&amp;instance_id=rm-same&amp;account=prod\""));

    let (status, _, page) =
        get(&server, "/instance?region_id=cn-hangzhou&instance_id=rm-same&account=staging+area").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<dt>Account</dt><dd>staging area</dd>"), "{page}");
    assert!(page.contains("data-task-id=\"dt-staging\"") && !page.contains("dt-prod"), "{page}");
    assert!(page.contains("<td class=\"eta\" data-seconds=\"540\">9 min</td>"), "{page}");
    assert!(page.contains(
        "href=\"/api/v1/tasks?region_id=cn-hangzhou&amp;instance_id=rm-same&amp;account=staging+area\""
    ));

    // No account named: two accounts have rm-same (400, with a link to each); one has rm-only.
    let (status, _, page) = get(&server, "/instance?region_id=cn-hangzhou&instance_id=rm-same").await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("instance_id=rm-same&amp;account=prod\">prod</a>"), "{page}");
    assert!(page.contains("account=staging+area\">staging area</a>"), "{page}");
    let (status, _, page) =
        get(&server, "/instance?region_id=cn-hangzhou&instance_id=rm-only&account=").await;
    assert_eq!(status, 200, "{page}");
    let (status, _, page) =
        get(&server, "/instance?region_id=cn-hangzhou&instance_id=rm-only&account=prod").await;
    assert_eq!(status, 404, "{page}");
    assert!(page.contains("of account <b>prod</b>"), "{page}");
    server.stop().await;
}
