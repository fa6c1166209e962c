//! The exporter over HTTPS, as every real user runs it: listing and discovery against the
//! simulator's CA (from `tls.ca_file` or `SSL_CERT_FILE`), the refusal without it (error class
//! and hint say "certificate"), a reload that picks up a new CA file, the calls through a
//! CONNECT proxy, and connections reused across cycles (counted as TLS handshakes).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use crate::support::proxy::ConnectProxy;
use crate::support::*;
use dbs_exporter::app::Pipeline;
use dbs_exporter::config::{self, TlsConfig};
use dbs_sim::TaskType;
use dbs_sim::{SimCa, SimDbInstance, SimHandle, SimTask};

const REGION: &str = "cn-hangzhou";

async fn simulator(ca: &SimCa) -> SimHandle {
    TestEstate::new()
        .instances([
            SimDbInstance::rds_mysql(REGION, "rm-found"),
            SimDbInstance::polardb_mysql(REGION, "pc-found"),
        ])
        .tasks([SimTask::new("t-1", REGION, "rm-found", TaskType::Full, "running", now_ms() - 60_000)])
        .tls(ca)
        .start()
        .await
}

/// Discovery and listing at `sim`, with `tls` (a YAML line or nothing) on top.
fn config_text(sim: &SimHandle, tls: &str) -> String {
    let url = sim.url();
    format!(
        "{tls}poll_interval: 2s\nrequest_timeout: 1s\nretry: {{max_attempts: 1}}\ntask_types: [full]\ndiscovery: {{engines: [rds_mysql, polardb_mysql]}}\nregions:\n  - region_id: {REGION}\n    endpoint: {url}\n    discovery_endpoints: {{rds: {url}, polardb: {url}}}\n"
    )
}

fn ca_file(dir: &Path, ca: &SimCa) -> String {
    let path = dir.join("company-ca.pem");
    ca.write_ca(&path).unwrap();
    path.to_str().unwrap().to_string()
}

fn once(config: &Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = subcommand("once", config);
    for (name, value) in env {
        command.env(name, value);
    }
    let Output { status, stdout, stderr } = command.output().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn polled(text: &str) -> BTreeSet<String> {
    samples(text)
        .keys()
        .filter(|key| key.starts_with("aliyun_dbs_up{"))
        .filter_map(|key| key.split("instance_id=\"").nth(1)?.split('"').next().map(str::to_string))
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_discovery_work_over_https_with_the_ca_file_of_the_config() {
    let ca = SimCa::generate().unwrap();
    let sim = simulator(&ca).await;
    assert!(sim.url().starts_with("https://127.0.0.1:"), "{}", sim.url());
    let dir = tempfile::tempdir().unwrap();
    let tls = format!("tls:\n  ca_file: {}\n", ca_file(dir.path(), &ca));
    let path = write_config(dir.path(), &config_text(&sim, &tls));

    let (ok, out, err) = once(&path, &[]);
    assert!(ok, "{err}");
    assert_eq!(polled(&out), set(&["pc-found", "rm-found"]), "{out}");
    let values = samples(&out);
    let up = |id: &str| values[&series("aliyun_dbs_up", &[("region_id", REGION), ("instance_id", id)])];
    assert_eq!((up("rm-found"), up("pc-found")), (1.0, 1.0));
    let running = series(
        "aliyun_dbs_download_tasks",
        &[("region_id", REGION), ("instance_id", "rm-found"), ("task_type", "full"), ("state", "running")],
    );
    assert_eq!(values[&running], 1.0);
    assert!(sim.gateway().handshakes() >= 1, "the calls went over TLS");
    assert_eq!(sim.gateway().http2_connections(), sim.gateway().handshakes(), "HTTP/2 is used when offered");
    assert!(err.contains("API calls trust") && err.contains("from tls.ca_file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_cert_file_is_trusted_when_the_config_names_no_ca_file() {
    let ca = SimCa::generate().unwrap();
    let sim = simulator(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_path = ca_file(dir.path(), &ca);
    let path = write_config(dir.path(), &config_text(&sim, ""));
    let (ok, out, err) = once(&path, &[("SSL_CERT_FILE", &ca_path)]);
    assert!(ok, "{err}");
    assert_eq!(polled(&out), set(&["pc-found", "rm-found"]), "{out}");

    let Output { status, stdout, .. } =
        subcommand("check-config", &path).env("SSL_CERT_FILE", &ca_path).output().unwrap();
    let summary = String::from_utf8_lossy(&stdout);
    assert!(status.success());
    assert!(
        summary.contains(&format!(
            "trust the built-in web PKI roots and {ca_path} (1 certificate from SSL_CERT_FILE)"
        )),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_every_call_is_refused_with_the_certificate_class_and_hint() {
    let ca = SimCa::generate().unwrap();
    let sim = simulator(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    // Another CA than the simulator's: the case of a proxy's CA missing from the bundle.
    let other = format!("tls:\n  ca_file: {}\n", ca_file(dir.path(), &SimCa::generate().unwrap()));
    for tls in ["", other.as_str()] {
        let path = write_config(dir.path(), &config_text(&sim, tls));
        let (ok, out, err) = once(&path, &[]);
        assert!(!ok, "{err}");
        let values = samples(&out);
        let errors = |code: &str| {
            values
                .get(&series("aliyun_dbs_api_request_errors_total", &[("region_id", REGION), ("code", code)]))
                .copied()
        };
        assert_eq!(errors("transport"), Some(0.0), "never a generic transport error:\n{out}");
        let discovery = series(
            "aliyun_dbs_discovery_api_request_errors_total",
            &[("region_id", REGION), ("engine", "rds_mysql"), ("code", "certificate")],
        );
        assert_eq!(values.get(&discovery), Some(&1.0), "{out}");
        assert!(err.contains("code=certificate"), "{err}");
        assert!(
            err.contains("TLS certificate is not trusted") && err.contains("tls.ca_file"),
            "the hint:\n{err}"
        );
        assert!(err.contains("invalid peer certificate: "), "{err}");
    }
    assert_eq!(sim.gateway().calls(), 0, "no request passed the handshake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_refused_for_its_certificate_says_so_in_its_error_info() {
    let ca = SimCa::generate().unwrap();
    let sim = simulator(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "request_timeout: 1s\nretry: {{max_attempts: 1}}\ntask_types: [full]\nregions:\n  - region_id: {REGION}\n    endpoint: {}\n    instances:\n      - instance_id: rm-found\n",
        sim.url()
    );
    let path = write_config(dir.path(), &text);
    let (ok, out, err) = once(&path, &[]);
    assert!(!ok);
    let info = series(
        "aliyun_dbs_listing_error_info",
        &[("region_id", REGION), ("instance_id", "rm-found"), ("task_type", "full"), ("code", "certificate")],
    );
    assert_eq!(samples(&out).get(&info), Some(&1.0), "{out}");
    let errors =
        series("aliyun_dbs_api_request_errors_total", &[("region_id", REGION), ("code", "certificate")]);
    assert_eq!(samples(&out).get(&errors), Some(&1.0), "a refused certificate is not retried:\n{out}");
    assert!(err.contains("TLS certificate is not trusted: give the CA that signed it"), "{err}");
}

#[tokio::test]
async fn a_bad_ca_file_is_refused_at_its_line_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_ca = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_a_ca, "hello\n").unwrap();
    for (file, expected) in
        [(dir.path().join("missing.pem"), "cannot read the CA bundle"), (not_a_ca, "no PEM certificate")]
    {
        let text = format!(
            "regions:\n  - region_id: {REGION}\n    instances:\n      - instance_id: rm-1\ntls:\n  ca_file: {}\n",
            file.display()
        );
        let path = write_config(dir.path(), &text);
        let Output { status, stderr, .. } =
            binary().args(["check-config", "--config.file", path.to_str().unwrap()]).output().unwrap();
        let err = String::from_utf8_lossy(&stderr);
        assert_eq!(status.code(), Some(1), "{err}");
        let place = format!("{}:6:12: tls.ca_file: {}: {expected}", path.display(), file.display());
        assert!(err.contains(&place), "expected {place:?} in:\n{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_picks_up_a_changed_ca_file() {
    let ca = SimCa::generate().unwrap();
    let sim = simulator(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("company-ca.pem");
    SimCa::generate().unwrap().write_ca(&ca_path).unwrap();
    let tls = format!("tls:\n  ca_file: {}\n", ca_path.display());
    let mut daemon = Exporter::binary().start(&config_text(&sim, &tls)).await;
    let certificate_errors = series(
        "aliyun_dbs_discovery_api_request_errors_total",
        &[("region_id", REGION), ("engine", "rds_mysql"), ("code", "certificate")],
    );
    let metrics = daemon.url("/metrics");
    let refused = eventually(PATIENCE, || async {
        let text = get(&metrics).await.map(|(_, text)| text).unwrap_or_default();
        samples(&text).get(&certificate_errors).is_some_and(|count| *count >= 1.0)
    })
    .await;
    assert!(refused, "the wrong CA is refused first:\n{}", daemon.log());

    ca.write_ca(&ca_path).unwrap();
    daemon.signal("HUP");
    let listed = eventually(PATIENCE, || async {
        let text = get(&metrics).await.map(|(_, text)| text).unwrap_or_default();
        polled(&text) == set(&["pc-found", "rm-found"])
            && samples(&text).get("aliyun_dbs_exporter_config_last_reload_successful") == Some(&1.0)
    })
    .await;
    assert!(listed, "after the reload the new CA is trusted:\n{}", daemon.log());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_calls_go_through_the_https_proxy_unless_no_proxy_names_the_host() {
    let ca = SimCa::generate().unwrap();
    let sim = simulator(&ca).await;
    let proxy = ConnectProxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let tls = format!("tls:\n  ca_file: {}\n", ca_file(dir.path(), &ca));
    let path = write_config(dir.path(), &config_text(&sim, &tls));

    let (ok, out, err) = once(&path, &[("HTTPS_PROXY", &proxy.url())]);
    assert!(ok, "{err}");
    assert_eq!(polled(&out), set(&["pc-found", "rm-found"]), "{out}");
    let log = proxy.log();
    let target = sim.addr().to_string();
    assert!(!log.tunnels.is_empty(), "the calls went through the proxy");
    assert!(log.tunnels.iter().all(|t| *t == target), "every tunnel leads to the endpoint: {log:?}");
    assert!(log.refused.is_empty(), "nothing but CONNECT: {log:?}");
    assert_eq!(sim.gateway().handshakes(), log.tunnels.len() as u64, "each connection is one tunnel");

    let (ok, _, err) = once(&path, &[("https_proxy", &proxy.url()), ("no_proxy", "127.0.0.1")]);
    assert!(ok, "{err}");
    assert_eq!(proxy.log(), log, "NO_PROXY keeps the calls off the proxy");
}

/// A pipeline over HTTPS with `concurrency` slots: `instances` instances listed by hand.
fn pipeline(sim: &SimHandle, ca_path: &Path, instances: usize, concurrency: usize) -> Pipeline {
    let listed: String = (0..instances).map(|i| format!("      - instance_id: rm-reuse{i:02}\n")).collect();
    let text = format!(
        "concurrency: {concurrency}\nrate_limit_per_region: 1000\ntask_types: [full, pitr]\nregions:\n  - region_id: {REGION}\n    endpoint: {}\n    instances:\n{listed}",
        sim.url()
    );
    let mut config = config::parse(&text, "reuse.yaml").unwrap();
    config.tls = TlsConfig::with_ca_file(ca_path).unwrap();
    pipeline_on(&config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused_across_cycles_at_most_concurrency_handshakes() {
    let ca = SimCa::generate().unwrap();
    let sim = simulator(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    ca.write_ca(&ca_path).unwrap();
    let concurrency = 4;
    let pipeline = pipeline(&sim, &ca_path, 30, concurrency);

    let first = pipeline.poll_once().await;
    assert_eq!(first.failed, 0);
    let after_first = sim.gateway().handshakes();
    assert!(
        (1..=concurrency as u64).contains(&after_first),
        "one cycle of 60 listings opened {after_first} connections"
    );
    for _ in 0..2 {
        let cycle = pipeline.poll_once().await;
        assert_eq!(cycle.failed, 0);
    }
    assert_eq!(sim.gateway().handshakes(), after_first, "later cycles open no connection");
    assert_eq!(sim.gateway().connections(), after_first);
    assert_eq!(sim.gateway().http2_connections(), after_first, "HTTP/2 when the server offers it");
    assert_eq!(sim.gateway().calls(), 180, "three cycles of 60 listings, one page each");
}
