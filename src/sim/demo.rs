//! A small, living DBS world for the exporter's `demo` mode: a few regions and instances whose
//! download tasks appear over time and move through their states.
//!
//! Everything is a pure function of the start time, the current time and a fixed seed, so the
//! same moment always shows the same tasks and tests can step through time without sleeping.

use std::collections::HashMap;
use std::sync::Arc;

use crate::api::task::TaskType;

use super::{SimTask, Simulator, TaskSource};

/// The demo's AccessKey pair: the simulator accepts it, nothing else does.
pub const DEMO_ACCESS_KEY_ID: &str = "LTAI5tDbsExporterDemo";
pub const DEMO_ACCESS_KEY_SECRET: &str = "dbs-exporter-demo-secret-not-a-real-key";

const SEED: u64 = 0x0DB5_2021_0101_D3E0;

/// Tasks older than this vanish from the listing, which keeps the total bounded
/// (at most ~60 per instance: one every 20-40 s).
const RETENTION_MS: u64 = 20 * 60_000;

/// One simulated instance whose download tasks come and go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivingInstance {
    pub region: String,
    pub instance: String,
    /// MongoDB sharded clusters only.
    pub cluster: Option<String>,
    pub db_list: String,
}

impl LivingInstance {
    /// An instance of `region`; its tasks export one database, `[dbtest]`.
    pub fn new(region: impl Into<String>, instance: impl Into<String>, cluster: Option<String>) -> Self {
        LivingInstance {
            region: region.into(),
            instance: instance.into(),
            cluster,
            db_list: "[dbtest]".into(),
        }
    }
}

/// The demo's instances: account, region, instance, MongoDB cluster, databases. Two accounts,
/// so that the demo shows the `account` label that several accounts bring.
const INSTANCES: [(&str, &str, &str, Option<&str>, &str); 6] = [
    ("prod", "cn-hangzhou", "rm-bp1demo7x2k9m4q", None, "[shop,orders]"),
    ("prod", "cn-hangzhou", "pc-bp1demo3n8f5t2w", None, "[ledger]"),
    ("prod", "cn-shanghai", "pgm-uf6demo4h7j2p9s", None, "[analytics]"),
    ("prod", "cn-shanghai", "dds-uf6demo8c3v5b1n", Some("dds-uf6democluster01"), "[events]"),
    ("analytics", "ap-southeast-1", "rm-t4ndemo2z6y8r3e", None, "[crm]"),
    ("analytics", "ap-southeast-1", "dds-t4ndemo5q1w7e9u", Some("dds-t4ndemocluster02"), "[catalog,reviews]"),
];

/// The demo's instances, in the order the demo serves them.
pub fn demo_instances() -> Vec<LivingInstance> {
    INSTANCES
        .iter()
        .map(|&(_, region, instance, cluster, db_list)| LivingInstance {
            region: region.to_string(),
            instance: instance.to_string(),
            cluster: cluster.map(str::to_string),
            db_list: db_list.to_string(),
        })
        .collect()
}

/// One region's instances: name and, for MongoDB sharded clusters, the cluster name.
pub type DemoInstances = Vec<(String, Option<String>)>;

/// Regions, each with its instances and (MongoDB sharded clusters only) cluster name, in the
/// order the demo serves them, whatever their account.
pub fn demo_regions() -> Vec<(String, DemoInstances)> {
    demo_accounts().into_iter().flat_map(|(_, regions)| regions).collect()
}

/// The demo's accounts, each with its regions and their instances; the exporter's demo mode
/// builds its configuration from this.
pub fn demo_accounts() -> Vec<(String, Vec<(String, DemoInstances)>)> {
    let mut accounts: Vec<(String, Vec<(String, DemoInstances)>)> = Vec::new();
    for &(account, region, instance, cluster, _) in &INSTANCES {
        let instance = (instance.to_string(), cluster.map(str::to_string));
        let regions = match accounts.iter_mut().find(|(name, _)| name == account) {
            Some((_, regions)) => regions,
            None => {
                accounts.push((account.to_string(), Vec::new()));
                &mut accounts.last_mut().expect("just pushed").1
            }
        };
        match regions.iter_mut().find(|(name, _)| name == region) {
            Some((_, instances)) => instances.push(instance),
            None => regions.push((region.to_string(), vec![instance])),
        }
    }
    accounts
}

/// A simulator that accepts the demo key, serves [`demo_tasks`] for the current time, and lists
/// [`demo_db_instances`](super::demo_db_instances) to discovery.
pub fn demo_simulator(start_ms: u64) -> Simulator {
    living_simulator(start_ms, demo_instances()).with_db_instances(super::demo_db_instances())
}

/// A simulator that accepts the demo key and serves tasks that come and go on `instances`, as
/// the demo's do; any other instance has no task.
pub fn living_simulator(start_ms: u64, instances: Vec<LivingInstance>) -> Simulator {
    Simulator::new()
        .with_access_key(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)
        .with_task_source(living_source(start_ms, instances))
}

/// The tasks of `instances` for the simulator. Each listing computes the tasks of its own
/// instance only, so that in an estate of thousands of instances a listing costs the same.
fn living_source(start_ms: u64, instances: Vec<LivingInstance>) -> TaskSource {
    let by_key: HashMap<(String, String), (usize, LivingInstance)> = instances
        .into_iter()
        .enumerate()
        .map(|(index, i)| ((i.region.clone(), i.instance.clone()), (index, i)))
        .collect();
    Arc::new(move |now_ms, region, instance| {
        let mut tasks = Vec::new();
        if let Some((index, living)) = by_key.get(&(region.to_string(), instance.to_string())) {
            instance_tasks(*index, living, start_ms, now_ms, &mut tasks);
        }
        tasks
    })
}

/// splitmix64: a tiny, good-enough mixer, so every task property follows from its coordinates.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Deterministic draws for one task.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, below: u64) -> u64 {
        self.0 = mix(self.0);
        self.0 % below.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.roll(100) < percent
    }
}

/// The milliseconds between two tasks of instance `index`: 20-40 s, fixed per instance.
fn period_ms(index: usize) -> u64 {
    20_000 + mix(SEED ^ index as u64) % 20_001
}

/// Every task visible at `now_ms` in a demo started at `start_ms`. The demo starts with
/// 20 minutes of history already behind it, so every state shows from the first scrape.
pub fn demo_tasks(start_ms: u64, now_ms: u64) -> Vec<SimTask> {
    living_tasks(&demo_instances(), start_ms, now_ms)
}

/// Every task of `instances` visible at `now_ms` in a simulation started at `start_ms`.
pub fn living_tasks(instances: &[LivingInstance], start_ms: u64, now_ms: u64) -> Vec<SimTask> {
    let mut tasks = Vec::new();
    for (index, instance) in instances.iter().enumerate() {
        instance_tasks(index, instance, start_ms, now_ms, &mut tasks);
    }
    tasks
}

/// The tasks of the `index`-th instance visible at `now_ms`, appended to `tasks`.
fn instance_tasks(index: usize, demo: &LivingInstance, start_ms: u64, now_ms: u64, tasks: &mut Vec<SimTask>) {
    let origin = start_ms.saturating_sub(RETENTION_MS);
    let oldest = now_ms.saturating_sub(RETENTION_MS);
    if now_ms < origin {
        return;
    }
    let period = period_ms(index);
    let first = (oldest.saturating_sub(origin) / period).saturating_sub(1);
    let last = (now_ms - origin) / period;
    for sequence in first..=last {
        let mut dice = Dice(mix(SEED ^ ((index as u64) << 48) ^ sequence));
        let created_ms = origin + sequence * period + dice.roll(period / 3);
        if created_ms > oldest && created_ms <= now_ms {
            tasks.push(demo_task(demo, &mut dice, created_ms, now_ms - created_ms));
        }
    }
}

/// One task `age_ms` after its creation.
fn demo_task(demo: &LivingInstance, dice: &mut Dice, created_ms: u64, age_ms: u64) -> SimTask {
    let task_id: String =
        (0..12).map(|_| char::from_digit(dice.roll(36) as u32, 36).expect("a digit below 36")).collect();
    let task_id = format!("dt-{task_id}");
    let task_type = if dice.chance(35) { TaskType::Pitr } else { TaskType::Full };

    let initializing_ms = 3_000 + dice.roll(12_000);
    let queueing_ms = 5_000 + dice.roll(25_000);
    let running_ms = 30_000 + dice.roll(150_000);
    let fails_at = dice.chance(12).then(|| 10 + dice.roll(80)); // percent done when it fails
    let expires_after_ms = 4 * 60_000 + dice.roll(4 * 60_000);
    let capitalised = dice.chance(50);
    let short_queuing = dice.chance(50);

    let total_bytes = (1u64 << (23 + dice.roll(12))) + dice.roll(1 << 23);
    let tables = 2 + dice.roll(118);
    let (format, export_percent) = match dice.roll(3) {
        0 => ("csv", 130),
        1 => ("SQL", 110),
        _ => ("Parquet", 40),
    };
    let to_oss = dice.chance(60);

    let run_age = age_ms.saturating_sub(initializing_ms + queueing_ms);
    let (state, permille) = if age_ms < initializing_ms {
        (if capitalised { "Initializing" } else { "initializing" }, 0)
    } else if age_ms < initializing_ms + queueing_ms {
        (if short_queuing { "queuing" } else { "queueing" }, 0)
    } else {
        let done = (run_age * 1000 / running_ms).min(1000);
        match fails_at {
            Some(percent) if done >= percent * 10 => ("failed", percent * 10),
            _ if done < 1000 => ("running", done),
            _ if run_age >= running_ms + expires_after_ms => ("expired", 1000),
            _ => ("finished", 1000),
        }
    };

    let mut task = SimTask::new(task_id, &demo.region, &demo.instance, task_type, state, created_ms);
    task.cluster = demo.cluster.clone();
    task.backup_set_id = (1_000_000_000 + dice.roll(9_000_000_000)).to_string();
    task.backup_set_time_ms = match task_type {
        TaskType::Full => created_ms.saturating_sub((1 + dice.roll(24)) * 3_600_000),
        TaskType::Pitr => created_ms.saturating_sub((1 + dice.roll(120)) * 60_000),
    };
    task.format = format.to_string();
    task.import_bytes = total_bytes * permille / 1000;
    task.export_bytes = task.import_bytes * export_percent / 100;
    task.progress = format!("{}/{tables}", tables * permille / 1000);
    task.db_list = demo.db_list.clone();
    if to_oss {
        task.target_type = "OSS".to_string();
        task.target_path = format!("dbs-demo-exports/{}/{}", demo.instance, task.task_id);
    }
    task
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::api::task::DownloadState;

    const START: u64 = 1_700_000_000_000;

    #[test]
    fn the_same_moment_always_shows_the_same_tasks() {
        assert_eq!(demo_tasks(START, START + 12_345), demo_tasks(START, START + 12_345));
    }

    #[test]
    fn every_state_and_both_task_types_show_from_the_start() {
        let tasks = demo_tasks(START, START);
        let states: BTreeSet<DownloadState> = tasks.iter().map(|t| DownloadState::parse(&t.state)).collect();
        for state in DownloadState::KNOWN {
            assert!(states.contains(&state), "{state} missing from {states:?}");
        }
        assert!(tasks.iter().any(|t| t.task_type == TaskType::Full));
        assert!(tasks.iter().any(|t| t.task_type == TaskType::Pitr));
    }

    #[test]
    fn the_total_stays_bounded_over_hours() {
        for hour in 0..6 {
            let count = demo_tasks(START, START + hour * 3_600_000).len();
            assert!((60..=400).contains(&count), "{count} tasks after {hour} h");
        }
    }

    #[test]
    fn new_tasks_keep_appearing_and_old_ones_leave() {
        let early: BTreeSet<String> = demo_tasks(START, START).into_iter().map(|t| t.task_id).collect();
        let later: BTreeSet<String> =
            demo_tasks(START, START + 30 * 60_000).into_iter().map(|t| t.task_id).collect();
        assert!(later.difference(&early).count() > 100);
        assert!(early.intersection(&later).count() == 0);
    }

    #[test]
    fn a_task_only_moves_forward_and_its_sizes_only_grow() {
        let rank = |state: &str| match DownloadState::parse(state) {
            DownloadState::Initializing => 0,
            DownloadState::Queueing => 1,
            DownloadState::Running => 2,
            DownloadState::Failed | DownloadState::Finished => 3,
            DownloadState::Expired => 4,
            DownloadState::Other(_) => panic!("unexpected state {state}"),
        };
        let mut seen: BTreeMap<String, (u8, u64, u64)> = BTreeMap::new();
        let mut finished = 0;
        for step in 0..240 {
            for task in demo_tasks(START, START + step * 5_000) {
                let now = (rank(&task.state), task.import_bytes, task.export_bytes);
                if let Some(before) = seen.get(&task.task_id) {
                    assert!(now.0 >= before.0 && now.1 >= before.1 && now.2 >= before.2, "{task:?}");
                }
                finished += u64::from(task.state == "finished");
                seen.insert(task.task_id.clone(), now);
            }
        }
        assert!(finished > 0);
    }

    #[test]
    fn demo_regions_cover_every_served_instance() {
        let regions = demo_regions();
        assert_eq!(regions.len(), 3);
        let targets: BTreeSet<(String, String)> = regions
            .iter()
            .flat_map(|(region, instances)| instances.iter().map(move |(i, _)| (region.clone(), i.clone())))
            .collect();
        assert_eq!(targets.len(), 6);
        for task in demo_tasks(START, START) {
            assert!(targets.contains(&(task.region.clone(), task.instance.clone())));
        }
        let clusters = regions.iter().flat_map(|(_, i)| i).filter(|(_, c)| c.is_some()).count();
        assert_eq!(clusters, 2);
    }

    #[test]
    fn the_demo_has_two_accounts_and_each_instance_in_one() {
        let accounts = demo_accounts();
        let names: Vec<&str> = accounts.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["prod", "analytics"]);
        let instances: usize =
            accounts.iter().flat_map(|(_, regions)| regions).map(|(_, instances)| instances.len()).sum();
        assert_eq!(instances, demo_instances().len());
    }

    #[test]
    fn the_source_gives_each_instance_its_own_tasks() {
        let instances = vec![
            LivingInstance::new("eu-central-1", "rm-a", None),
            LivingInstance::new("eu-central-1", "rm-b", None),
        ];
        let expected = living_tasks(&instances, START, START + 1_000);
        let source = living_source(START, instances);
        for instance in ["rm-a", "rm-b"] {
            let served = source(START + 1_000, "eu-central-1", instance);
            let want: Vec<SimTask> = expected.iter().filter(|t| t.instance == instance).cloned().collect();
            assert!(!want.is_empty());
            assert_eq!(served, want);
        }
        assert!(source(START, "eu-central-1", "rm-unknown").is_empty());
        assert!(source(START, "cn-hangzhou", "rm-a").is_empty());
    }

    #[test]
    fn any_instance_can_be_brought_to_life() {
        let instances = vec![
            LivingInstance::new("eu-central-1", "rm-mine1", None),
            LivingInstance::new("eu-central-1", "rm-mine2", None),
        ];
        let tasks = living_tasks(&instances, START, START);
        for instance in &instances {
            assert!(tasks.iter().filter(|t| t.instance == instance.instance).count() > 10);
        }
        assert!(tasks.iter().all(|t| t.region == "eu-central-1"));
    }
}
