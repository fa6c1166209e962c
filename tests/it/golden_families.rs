//! The exporter's own metric families (API counters, discovery, build, shard, reload and
//! credential figures), named and described in `tests/data/golden-exporter-families.prom`: the
//! `# HELP` and `# TYPE` lines of what `ExporterMetrics` encodes, in its order. The task series
//! have their golden file (`golden_exposition`); between the two, every family the exporter
//! writes is in `tests/data/` (process_* aside, which depends on the platform), so a check
//! (`.ci/check-docs.sh`) can hold docs, rules and dashboard to names that exist.
//!
//! After a deliberate change of a family, write the file again and review its diff:
//! `UPDATE_GOLDEN=1 cargo test --locked golden`.

use std::time::{Duration, SystemTime};

use dbs_exporter::discovery::Engine;
use dbs_exporter::metrics::ExporterMetrics;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden-exporter-families.prom");

/// The HELP and TYPE lines of every family, with one region and one discovery source, each with
/// a sample so that no family is left out for being empty.
fn families() -> String {
    let metrics = ExporterMetrics::new(["cn-hangzhou"]);
    let discovery = metrics.discovery_series(false, [("default", "cn-hangzhou", Engine::RdsMysql)]);
    discovery.observe_call("default", "cn-hangzhou", Engine::RdsMysql, None);
    discovery.record_list("default", "cn-hangzhou", Engine::RdsMysql, 1, SystemTime::UNIX_EPOCH);
    discovery.record_refresh(Duration::from_secs(1));
    metrics.observe_call("cn-hangzhou", Duration::from_millis(20), None);
    let mut out = Vec::new();
    metrics.encode(&mut out);
    String::from_utf8(out)
        .expect("the exposition is UTF-8")
        .lines()
        .filter(|line| line.starts_with("# HELP ") || line.starts_with("# TYPE "))
        .filter(|line| !line.split(' ').nth(2).is_some_and(|name| name.starts_with("process_")))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn the_exporter_s_own_families_match_the_golden_file() {
    let actual = families();
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(GOLDEN, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(GOLDEN)
        .unwrap_or_else(|e| panic!("cannot read {GOLDEN} ({e}); write it with UPDATE_GOLDEN=1"));
    assert!(
        actual == expected,
        "the exporter's own families differ from {GOLDEN}; if the change is deliberate, run \
         `UPDATE_GOLDEN=1 cargo test --locked golden` and review the diff.\nactual:\n{actual}"
    );
}
