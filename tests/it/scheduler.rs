//! The scheduler as an operator sees it: regions polled side by side, `/metrics` filled in as
//! listings complete, no instance reported down before it was tried, reloads that keep what
//! stays, and counts that expire for failing targets only.

use crate::support::{get, now_ms, pipeline, samples, series, Exporter, TestEstate};
use dbs_sim::TaskType;
use dbs_sim::{SimHandle, SimTask};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

fn estate(tasks: &[(&str, &str)]) -> TestEstate {
    TestEstate::new().tasks(tasks.iter().map(|(region, instance)| {
        SimTask::new(
            format!("dt-{instance}"),
            *region,
            *instance,
            TaskType::Full,
            "finished",
            now_ms() - 60_000,
        )
    }))
}

async fn simulator(tasks: &[(&str, &str)]) -> SimHandle {
    estate(tasks).start().await
}

/// `regions` as (region, endpoint, instances), after the top-level `settings`.
fn config_text(settings: &str, regions: &[(&str, &str, &[&str])]) -> String {
    let mut text = format!("{settings}task_types: [full]\nregions:\n");
    for (region, endpoint, instances) in regions {
        text.push_str(&format!("  - region_id: {region}\n    endpoint: {endpoint}\n    instances:\n"));
        for instance in *instances {
            text.push_str(&format!("      - instance_id: {instance}\n"));
        }
    }
    text
}

/// The daemon in this process, with the lifecycle API on.
fn daemon() -> Exporter {
    Exporter::in_process().lifecycle()
}

fn up(region: &str, instance: &str) -> String {
    series("aliyun_dbs_up", &[("region_id", region), ("instance_id", instance)])
}

fn finished_tasks(region: &str, instance: &str) -> String {
    let labels =
        [("region_id", region), ("instance_id", instance), ("task_type", "full"), ("state", "finished")];
    series("aliyun_dbs_download_tasks", &labels)
}

/// A server that accepts connections and never answers, until told to close them all (then
/// it refuses new ones): a listing against it hangs for as long as the test wants.
async fn silent_server() -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (close, closed) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut held = Vec::new();
        tokio::pin!(closed);
        loop {
            tokio::select! {
                _ = &mut closed => return,
                Ok((stream, _)) = listener.accept() => held.push(stream),
            }
        }
    });
    (url, close)
}

#[tokio::test]
async fn a_region_out_of_tokens_does_not_hold_up_another_region() {
    let sim = simulator(&[]).await;
    let busy: Vec<String> = (0..5).map(|i| format!("rm-busy{i}")).collect();
    let busy: Vec<&str> = busy.iter().map(String::as_str).collect();
    // One request in flight at a time and two calls a second per region: the busy region,
    // listed first, has five listings and so waits for tokens after its burst of two.
    let text = config_text(
        "concurrency: 1\nrate_limit_per_region: 2\n",
        &[("cn-hangzhou", &sim.url(), &busy), ("cn-beijing", &sim.url(), &["rm-quiet"])],
    );
    let pipeline = pipeline(&text);
    let report = pipeline.poll_once().await;
    assert_eq!((report.succeeded, report.failed), (6, 0));

    let regions: Vec<String> = sim.requests().iter().map(|r| r["RegionCode"].clone()).collect();
    let quiet = regions.iter().position(|r| r == "cn-beijing").unwrap();
    assert!(
        quiet < 2,
        "the quiet region's listing went while the busy region waited for tokens, not after it: {regions:?}"
    );
}

#[tokio::test]
async fn listings_show_as_they_complete_and_no_instance_is_down_before_it_was_tried() {
    let (silent, close) = silent_server().await;
    let settings = "poll_interval: 10m\nrequest_timeout: 60s\nretry: {max_attempts: 1}\n";
    let (_sim, mut exporter) = estate(&[("cn-hangzhou", "rm-fast")])
        .spawn(daemon(), |sim| {
            config_text(
                settings,
                &[("cn-hangzhou", &sim.url(), &["rm-fast"]), ("cn-beijing", &silent, &["rm-hanging"])],
            )
        })
        .await;

    let text = exporter
        .metrics_until("the fast listing's publication", |text| {
            samples(text).contains_key(&up("cn-hangzhou", "rm-fast"))
        })
        .await;
    let values = samples(&text);
    assert_eq!(values[&up("cn-hangzhou", "rm-fast")], 1.0);
    assert_eq!(values[&finished_tasks("cn-hangzhou", "rm-fast")], 1.0);
    assert!(
        !values.contains_key(&up("cn-beijing", "rm-hanging")),
        "never tried to the end, so not down:\n{text}"
    );
    let task_series: Vec<&str> =
        text.lines().filter(|line| !line.starts_with("aliyun_dbs_instance_info")).collect();
    assert!(
        !task_series.iter().any(|line| line.contains("rm-hanging")),
        "no series but its instance info for a target still in its first listing:\n{text}"
    );
    let info = text.lines().find(|l| l.starts_with("aliyun_dbs_instance_info") && l.contains("rm-hanging"));
    let info = info.unwrap_or_else(|| panic!("a polled instance has its info at once:\n{text}"));
    assert!(info.contains("engine=\"unknown\"") && info.ends_with("} 1"), "{info}");
    assert!(!exporter.ready().await, "not ready while a target has had no complete attempt");

    close.send(()).unwrap();
    let text = exporter
        .metrics_until("the hanging listing's failure", |text| {
            samples(text).contains_key(&up("cn-beijing", "rm-hanging"))
        })
        .await;
    assert_eq!(samples(&text)[&up("cn-beijing", "rm-hanging")], 0.0, "a listing that really failed is down");
    assert!(exporter.ready().await, "every target has had its first attempt");
    exporter.stop().await;
}

#[tokio::test]
async fn a_reload_keeps_the_series_and_cadence_of_what_stays() {
    let settings = "poll_interval: 1h\nrequest_timeout: 10s\n";
    let (sim, mut exporter) =
        estate(&[("cn-hangzhou", "rm-stays"), ("cn-hangzhou", "rm-goes"), ("cn-hangzhou", "rm-new")])
            .spawn(daemon(), |sim| {
                config_text(settings, &[("cn-hangzhou", &sim.url(), &["rm-stays", "rm-goes"])])
            })
            .await;
    let url = sim.url();
    exporter
        .metrics_until("the first round", |text| {
            let values = samples(text);
            values.contains_key(&up("cn-hangzhou", "rm-stays"))
                && values.contains_key(&up("cn-hangzhou", "rm-goes"))
        })
        .await;

    // Scrape without pause through the reload: the target that stays must be in every one.
    let watching = CancellationToken::new();
    let watcher = tokio::spawn({
        let (metrics, watching) = (exporter.url("/metrics"), watching.clone());
        async move {
            let mut scrapes = 0;
            while !watching.is_cancelled() {
                let text = get(&metrics).await.expect("the exporter answers").1;
                assert!(
                    samples(&text).contains_key(&finished_tasks("cn-hangzhou", "rm-stays")),
                    "the staying target's series vanished during a reload:\n{text}"
                );
                scrapes += 1;
            }
            scrapes
        }
    });

    exporter.write_config(&config_text(settings, &[("cn-hangzhou", &url, &["rm-stays", "rm-new"])]));
    assert_eq!(exporter.reload().await.status(), 200);
    let text = exporter.metrics().await;
    assert!(!text.contains("rm-goes"), "a removed target vanishes at once:\n{text}");
    exporter
        .metrics_until("the new target's first listing", |text| {
            samples(text).contains_key(&up("cn-hangzhou", "rm-new"))
        })
        .await;
    watching.cancel();
    assert!(watcher.await.unwrap() > 0);
    assert_eq!(
        sim.calls_for("cn-hangzhou", "rm-stays"),
        1,
        "the staying target keeps its slot, an hour away"
    );
    assert_eq!(sim.calls_for("cn-hangzhou", "rm-new"), 1, "the new target is listed at once");
    exporter.stop().await;
}

#[tokio::test]
async fn polling_slower_than_the_interval_keeps_every_series_and_says_it_is_late() {
    let instances = ["rm-one", "rm-two", "rm-three"];
    // One call every two seconds for three listings due every second: each round takes about
    // six seconds, and max_staleness is as short as allowed. No call fails.
    let settings =
        "poll_interval: 1s\nmax_staleness: 1s\nrequest_timeout: 900ms\nrate_limit_per_region: 0.5\n";
    let (_sim, mut exporter) = estate(&instances.map(|i| ("cn-hangzhou", i)))
        .spawn(daemon(), |sim| config_text(settings, &[("cn-hangzhou", &sim.url(), &instances)]))
        .await;

    let mut seen = std::collections::BTreeSet::new();
    let lag = |text: &str| samples(text).get("aliyun_dbs_poll_lag_seconds").copied();
    let text = exporter
        .metrics_until("a report of polling being late", |text| {
            let values = samples(text);
            for instance in instances {
                let present = values.contains_key(&finished_tasks("cn-hangzhou", instance));
                assert!(
                    present || !seen.contains(instance),
                    "{instance}'s series vanished without a failure:\n{text}"
                );
                if present {
                    seen.insert(instance);
                }
            }
            // Two rounds: the second one is late against its schedule.
            seen.len() == instances.len() && lag(text).is_some_and(|lag| lag > 1.0)
        })
        .await;
    let values = samples(&text);
    assert!(instances.iter().all(|i| values[&up("cn-hangzhou", i)] == 1.0));
    assert_eq!(
        values[&series(
            "aliyun_dbs_api_request_errors_total",
            &[("region_id", "cn-hangzhou"), ("code", "throttled")]
        )],
        0.0
    );
    exporter.stop().await;
}

/// The sum of `aliyun_dbs_download_task_transitions_total` in a scrape.
fn transitions(text: &str) -> f64 {
    samples(text)
        .iter()
        .filter(|(name, _)| name.starts_with("aliyun_dbs_download_task_transitions_total"))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn a_reload_that_widens_the_lookback_counts_no_transition() {
    let sim = simulator(&[]).await;
    // Twenty finished tasks ten days old: outside `lookback: 1d`, inside `30d`.
    for i in 0..20 {
        let created = now_ms() - 10 * 86_400_000;
        sim.push_task(SimTask::new(
            format!("dt-old{i}"),
            "cn-hangzhou",
            "rm-wide",
            TaskType::Full,
            "finished",
            created,
        ));
    }
    sim.push_task(SimTask::new(
        "dt-new",
        "cn-hangzhou",
        "rm-wide",
        TaskType::Full,
        "running",
        now_ms() - 60_000,
    ));
    let url = sim.url();
    let config = |lookback: &str| {
        let settings = format!("poll_interval: 2s\nlookback: {lookback}\nrequest_timeout: 1s\n");
        config_text(&settings, &[("cn-hangzhou", &url, &["rm-wide"])])
    };
    let mut exporter = daemon().start(&config("1d")).await;
    let calls = || sim.calls_for("cn-hangzhou", "rm-wide");
    let before = calls();
    let text =
        exporter.metrics_until("two listings with the narrow lookback", |_| calls() >= before + 2).await;
    assert_eq!(transitions(&text), 0.0, "{text}");

    exporter.write_config(&config("30d"));
    assert_eq!(exporter.reload().await.status(), 200);
    let before = calls();
    exporter.metrics_until("two listings with the wide lookback", |_| calls() >= before + 2).await;
    let text = exporter.metrics().await;
    assert_eq!(transitions(&text), 0.0, "tasks the wider query shows are not transitions:\n{text}");
    assert_eq!(samples(&text)[&finished_tasks("cn-hangzhou", "rm-wide")], 20.0, "{text}");

    // A task that really changes state is still counted after the change.
    assert!(sim.move_task("dt-new", "finished", "1/1"));
    let text = exporter.metrics_until("the state change", |text| transitions(text) == 1.0).await;
    assert_eq!(samples(&text)[&finished_tasks("cn-hangzhou", "rm-wide")], 21.0, "{text}");
    exporter.stop().await;
}

#[tokio::test]
async fn a_reload_to_a_shorter_interval_lists_every_target_again_at_once() {
    let instances: Vec<String> = (0..6).map(|i| format!("rm-short{i}")).collect();
    let sim = simulator(&[]).await;
    let url = sim.url();
    let names: Vec<&str> = instances.iter().map(String::as_str).collect();
    let config = |interval: &str| {
        let settings = format!("poll_interval: {interval}\nrequest_timeout: 1s\n");
        config_text(&settings, &[("cn-hangzhou", &url, &names)])
    };
    let mut exporter = daemon().start(&config("10m")).await;
    exporter
        .metrics_until("the first round", |_| instances.iter().all(|i| sim.calls_for("cn-hangzhou", i) == 1))
        .await;
    exporter.write_config(&config("2s"));
    assert_eq!(exporter.reload().await.status(), 200);
    // Within one new interval each is due; LONG_PATIENCE bounds the wait on a loaded machine.
    exporter
        .metrics_until("every target listed again", |_| {
            instances.iter().all(|i| sim.calls_for("cn-hangzhou", i) >= 2)
        })
        .await;
    exporter.stop().await;
}
