//! The golden exposition: the task series of a fixed estate at fixed times, compared byte for
//! byte with `tests/data/golden-exposition.prom` (node_exporter's `e2e-output.txt` pattern),
//! so that any change to the output shows up as a diff of that file in review.
//!
//! After a deliberate change to the output, write the file again and review its diff:
//! `UPDATE_GOLDEN=1 cargo test --locked golden`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use dbs_exporter::api::{DownloadState, DownloadTask, Progress, TaskSummary, TaskType};
use dbs_exporter::render::{render_view, Rope};
use dbs_exporter::store::model::{InstanceKey, QueryId, TargetKey};
use dbs_exporter::store::{
    Attempt, Generation, InstanceRow, InstanceTable, Layout, ListingError, RoundReport, Store, Summary,
};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden-exposition.prom");

/// 2026-01-01T00:00:00Z, in Unix milliseconds.
const T0: u64 = 1_767_225_600_000;

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

fn task(id: &str, task_type: TaskType, state: &str, export: u64, created_ms: u64) -> TaskSummary {
    DownloadTask {
        export_bytes: export,
        import_bytes: export / 4,
        created_at_ms: Some(created_ms),
        ..DownloadTask::new(id, Some(task_type), DownloadState::parse(state))
    }
    .summary()
}

fn running(id: &str, task_type: TaskType, done: u64, total: u64, created_ms: u64) -> TaskSummary {
    TaskSummary { progress: Some(Progress { done, total }), ..task(id, task_type, "running", 0, created_ms) }
}

fn target(account: &str, region: &str, instance: &str, task_type: TaskType) -> TargetKey {
    TargetKey { instance: InstanceKey::new(region, instance).in_account(account), task_type }
}

/// A listing of the first generation.
fn attempt(key: &TargetKey) -> Attempt<'_> {
    Attempt { key, generation: 1, asked: QueryId::default() }
}

/// The eight targets of the four instances, laid out with their accounts and instance table.
fn golden_generation() -> Generation {
    let instances = [
        ("prod", "cn-hangzhou", "rm-alpha"),
        ("prod", "cn-hangzhou", "rm-beta"),
        ("staging", "ap-southeast-1", "pc-gamma"),
        ("staging", "eu-central-1", "dds-delta"),
    ];
    let targets = instances
        .iter()
        .flat_map(|(account, region, instance)| {
            TaskType::ALL.map(|task_type| target(account, region, instance, task_type))
        })
        .collect();
    let layout = Layout {
        task_types: TaskType::ALL.to_vec(),
        metrics: dbs_exporter::config::MetricsOptions::default(),
        labels_accounts: true,
        instances: std::sync::Arc::new(instance_table()),
    };
    Generation { number: 1, targets, layout, summary: Summary::default(), events_keep: 0 }
}

/// Two accounts, four instances, both task types:
/// - prod cn-hangzhou/rm-alpha: two listings of each type, so tasks have entered new states
///   (transitions), with running tasks (tables) and a state the API does not document;
/// - prod cn-hangzhou/rm-beta: full listed, then failing (`throttled`): its counts stay, `up` is 0;
/// - staging ap-southeast-1/pc-gamma: full never listed (`auth`), pitr listed once;
/// - staging eu-central-1/dds-delta: listed, no task at all.
///
/// Then a round ends.
fn golden_store() -> Store {
    use TaskType::{Full, Pitr};
    let store = Store::with_generation(golden_generation());

    let alpha_full = target("prod", "cn-hangzhou", "rm-alpha", Full);
    store.record_listing(
        &attempt(&alpha_full),
        &[
            task("dt-a1", Full, "queueing", 0, T0 - 3_600_000),
            running("dt-a2", Full, 3, 10, T0 - 7_200_000),
            task("dt-a3", Full, "finished", 1_048_576, T0 - 86_400_000),
        ],
        at(T0),
    );
    store.record_listing(
        &attempt(&alpha_full),
        &[
            running("dt-a1", Full, 1, 4, T0 - 3_600_000),
            task("dt-a2", Full, "finished", 52_428_800, T0 - 7_200_000),
            task("dt-a3", Full, "finished", 1_048_576, T0 - 86_400_000),
            running("dt-a4", Full, 0, 12, T0 + 30_000),
            task("dt-a5", Full, "Archiving", 2048, T0 + 45_000),
        ],
        at(T0 + 60_250),
    );
    let alpha_pitr = target("prod", "cn-hangzhou", "rm-alpha", Pitr);
    store.record_listing(
        &attempt(&alpha_pitr),
        &[task("dt-p1", Pitr, "initializing", 0, T0 - 1_000)],
        at(T0 + 1_500),
    );
    store.record_listing(
        &attempt(&alpha_pitr),
        &[
            task("dt-p1", Pitr, "failed", 0, T0 - 1_000),
            task("dt-p2", Pitr, "expired", 777, T0 - 999_999_999),
        ],
        at(T0 + 61_125),
    );

    let beta_full = target("prod", "cn-hangzhou", "rm-beta", Full);
    store.record_listing(
        &attempt(&beta_full),
        &[task("dt-b1", Full, "finished", 4096, T0 - 5_000)],
        at(T0 + 2_000),
    );
    store.record_failure(&attempt(&beta_full), "throttled");
    let beta_pitr = target("prod", "cn-hangzhou", "rm-beta", Pitr);
    store.record_listing(&attempt(&beta_pitr), &[], at(T0 + 2_500));

    let gamma_full = target("staging", "ap-southeast-1", "pc-gamma", Full);
    store.record_failure(
        &attempt(&gamma_full),
        ListingError {
            code: "auth",
            message: "InvalidAccessKeyId.NotFound".into(),
            hint: "check the key".into(),
        },
    );
    let gamma_pitr = target("staging", "ap-southeast-1", "pc-gamma", Pitr);
    store.record_listing(
        &attempt(&gamma_pitr),
        &[task("dt-g1", Pitr, "running", 10, T0 - 60_000)],
        at(T0 + 3_000),
    );

    for task_type in [Full, Pitr] {
        let delta = target("staging", "eu-central-1", "dds-delta", task_type);
        store.record_listing(&attempt(&delta), &[], at(T0 + 4_000));
    }

    store.record_round(RoundReport { duration_seconds: 12.5, api_calls: 17, lag_seconds: 0.75 });
    store
}

/// Three instances discovered (one with a tag value that needs escaping, one without the tag),
/// one listed by hand and not discovered.
fn instance_table() -> InstanceTable {
    let row =
        |account: &str, region: &str, instance: &str, engine: Option<&'static str>, team: &str| InstanceRow {
            instance: InstanceKey::new(region, instance).in_account(account),
            engine,
            tag_values: vec![team.to_string()].into(),
        };
    InstanceTable {
        tag_labels: vec!["tag_team".into()],
        rows: vec![
            row("prod", "cn-hangzhou", "rm-alpha", Some("rds_mysql"), "shop \"a\""),
            row("prod", "cn-hangzhou", "rm-beta", None, ""),
            row("staging", "ap-southeast-1", "pc-gamma", Some("polardb_mysql"), "data"),
            row("staging", "eu-central-1", "dds-delta", Some("mongodb"), ""),
        ],
    }
}

fn exposition(store: &Store) -> String {
    store.read(|view, _| {
        let mut rope = Rope::default();
        render_view(view, &mut rope);
        String::from_utf8(rope.into_chunks().concat()).expect("the exposition is UTF-8")
    })
}

#[test]
fn the_exposition_of_a_fixed_estate_matches_the_golden_file_byte_for_byte() {
    let actual = exposition(&golden_store());
    crate::support::prom_text::parse(&actual).unwrap_or_else(|err| panic!("not valid text format: {err}"));
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(GOLDEN, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(Path::new(GOLDEN))
        .unwrap_or_else(|e| panic!("cannot read {GOLDEN} ({e}); write it with UPDATE_GOLDEN=1"));
    if actual != expected {
        let line = actual.lines().zip(expected.lines()).position(|(a, e)| a != e);
        let line = line.unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "the exposition differs from {GOLDEN} from line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             If the change is deliberate, run `UPDATE_GOLDEN=1 cargo test --locked golden` and review \
             the file's diff.\n--- actual exposition ---\n{actual}",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}
