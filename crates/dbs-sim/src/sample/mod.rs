//! A small, living DBS world for the exporter's `demo` mode: a few regions and instances whose
//! download tasks appear over time and move through their states.
//!
//! Everything is a pure function of the start time, the current time and a fixed seed, so the
//! same moment always shows the same tasks and tests can step through time without sleeping.
//!
//! A running task exports its tables at a steady rate of its own (0.2-1 table per second, 24-360
//! tables in 2-6 minutes of work), so its count is the floor of a straight line in time and an
//! estimate from two polls holds. About one task in eight stalls: part way (15-85 % of its
//! tables) its count stops, still `running`, for 3-8 minutes; then it fails (two in five) or
//! resumes at its rate and finishes. Of the others, about one in eight fails part way.

mod instances;

use std::collections::HashMap;
use std::sync::Arc;

pub use self::instances::demo_db_instances;
use crate::{SimTask, Simulator, TaskSource, TaskType};

/// How often `dbs-exporter demo` polls: short, so changes show up within seconds. Every running
/// task moves at least one table per interval, so only a stalled one stands still.
pub const DEMO_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

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
/// [`demo_db_instances`](demo_db_instances) to discovery.
pub fn demo_simulator(start_ms: u64) -> Simulator {
    living_simulator(start_ms, demo_instances()).with_db_instances(demo_db_instances())
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
    each_planned_task(index, demo, start_ms, now_ms, |task, _| tasks.push(task));
}

/// Every task of the `index`-th instance visible at `now_ms`, with its plan, in creation order.
fn each_planned_task(
    index: usize,
    demo: &LivingInstance,
    start_ms: u64,
    now_ms: u64,
    mut each: impl FnMut(SimTask, Plan),
) {
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
            let (task, plan) = demo_task(demo, &mut dice, created_ms, now_ms - created_ms);
            each(task, plan);
        }
    }
}

/// How a task's run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// It exports every table, then expires a while after.
    Finishes,
    /// It fails once `at_ms` of its work is done.
    Fails { at_ms: u64 },
    /// Once `at_ms` of its work is done it stops making progress, still running, for `for_ms`;
    /// then it fails (`then_fails`) or resumes at its own rate and finishes.
    Stalls { at_ms: u64, for_ms: u64, then_fails: bool },
}

/// One task's life, drawn once from its dice. Ages are milliseconds since its creation; work is
/// the milliseconds it has spent exporting, which stand still while it stalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    initializing_ms: u64,
    queueing_ms: u64,
    /// The work it takes to export every table: 2-6 minutes.
    running_ms: u64,
    /// 24-360 tables, exported at a steady 0.2-1 table per second.
    tables: u64,
    fate: Fate,
    /// How long after finishing it expires.
    expires_after_ms: u64,
}

/// Where a task is at some age.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Initializing,
    Queueing,
    /// Running, with this much work done (less than the whole).
    Running {
        work_ms: u64,
    },
    /// Failed, with this much work done.
    Failed {
        work_ms: u64,
    },
    Finished,
    Expired,
}

impl Plan {
    /// The draws for a task's life, in a fixed order.
    fn roll(dice: &mut Dice) -> Plan {
        let initializing_ms = 3_000 + dice.roll(12_000);
        let queueing_ms = 5_000 + dice.roll(25_000);
        // A steady rate of at least one table every five seconds (the demo's poll interval), so
        // that only a stalled task ever shows the same count at two polls in a row.
        let running_s = 120 + dice.roll(241);
        let tables_per_minute = 12 + dice.roll(49);
        let tables = (tables_per_minute * running_s).div_ceil(60);
        let running_ms = running_s * 1_000;
        let fate = if dice.roll(8) == 0 {
            Fate::Stalls {
                at_ms: running_ms * (15 + dice.roll(71)) / 100,
                for_ms: 3 * 60_000 + dice.roll(5 * 60_000 + 1),
                then_fails: dice.chance(40),
            }
        } else if dice.chance(12) {
            Fate::Fails { at_ms: running_ms * (10 + dice.roll(80)) / 100 }
        } else {
            Fate::Finishes
        };
        let expires_after_ms = 4 * 60_000 + dice.roll(4 * 60_000);
        Plan { initializing_ms, queueing_ms, running_ms, tables, fate, expires_after_ms }
    }

    /// When it starts running, after its creation.
    fn run_start_ms(&self) -> u64 {
        self.initializing_ms + self.queueing_ms
    }

    /// Where it is `age_ms` after its creation.
    fn phase(&self, age_ms: u64) -> Phase {
        if age_ms < self.initializing_ms {
            return Phase::Initializing;
        }
        if age_ms < self.run_start_ms() {
            return Phase::Queueing;
        }
        let run_age = age_ms - self.run_start_ms();
        let work_ms = match self.fate {
            Fate::Finishes => run_age,
            Fate::Fails { at_ms } if run_age >= at_ms => return Phase::Failed { work_ms: at_ms },
            Fate::Fails { .. } => run_age,
            Fate::Stalls { at_ms, .. } if run_age < at_ms => run_age,
            Fate::Stalls { at_ms, for_ms, .. } if run_age < at_ms + for_ms => at_ms,
            Fate::Stalls { at_ms, then_fails: true, .. } => return Phase::Failed { work_ms: at_ms },
            Fate::Stalls { for_ms, .. } => run_age - for_ms,
        };
        if work_ms < self.running_ms {
            Phase::Running { work_ms }
        } else if work_ms - self.running_ms < self.expires_after_ms {
            Phase::Finished
        } else {
            Phase::Expired
        }
    }

    /// The tables exported after `work_ms` of work: the floor of a straight line from none to all.
    fn exported(&self, work_ms: u64) -> u64 {
        self.share(self.tables, work_ms)
    }

    /// `whole` times the share of the work done after `work_ms`, rounded down.
    fn share(&self, whole: u64, work_ms: u64) -> u64 {
        let work_ms = work_ms.min(self.running_ms);
        (u128::from(whole) * u128::from(work_ms) / u128::from(self.running_ms)) as u64
    }
}

/// One task `age_ms` after its creation, and its plan.
fn demo_task(demo: &LivingInstance, dice: &mut Dice, created_ms: u64, age_ms: u64) -> (SimTask, Plan) {
    let task_id: String =
        (0..12).map(|_| char::from_digit(dice.roll(36) as u32, 36).expect("a digit below 36")).collect();
    let task_id = format!("dt-{task_id}");
    let task_type = if dice.chance(35) { TaskType::Pitr } else { TaskType::Full };

    let plan = Plan::roll(dice);
    let capitalised = dice.chance(50);
    let short_queuing = dice.chance(50);

    let total_bytes = (1u64 << (23 + dice.roll(12))) + dice.roll(1 << 23);
    let (format, export_percent) = match dice.roll(3) {
        0 => ("csv", 130),
        1 => ("SQL", 110),
        _ => ("Parquet", 40),
    };
    let to_oss = dice.chance(60);

    let (state, work_ms) = match plan.phase(age_ms) {
        Phase::Initializing => (if capitalised { "Initializing" } else { "initializing" }, 0),
        Phase::Queueing => (if short_queuing { "queuing" } else { "queueing" }, 0),
        Phase::Running { work_ms } => ("running", work_ms),
        Phase::Failed { work_ms } => ("failed", work_ms),
        Phase::Finished => ("finished", plan.running_ms),
        Phase::Expired => ("expired", plan.running_ms),
    };

    let mut task = SimTask::new(task_id, &demo.region, &demo.instance, task_type, state, created_ms);
    task.cluster = demo.cluster.clone();
    task.backup_set_id = (1_000_000_000 + dice.roll(9_000_000_000)).to_string();
    task.backup_set_time_ms = match task_type {
        TaskType::Full => created_ms.saturating_sub((1 + dice.roll(24)) * 3_600_000),
        TaskType::Pitr => created_ms.saturating_sub((1 + dice.roll(120)) * 60_000),
    };
    task.format = format.to_string();
    task.import_bytes = plan.share(total_bytes, work_ms);
    task.export_bytes = task.import_bytes * export_percent / 100;
    task.progress = format!("{}/{}", plan.exported(work_ms), plan.tables);
    task.db_list = demo.db_list.clone();
    if to_oss {
        task.target_type = "OSS".to_string();
        task.target_path = format!("dbs-demo-exports/{}/{}", demo.instance, task.task_id);
    }
    (task, plan)
}

#[cfg(test)]
mod tests;
