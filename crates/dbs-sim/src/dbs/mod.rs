//! DBS as a product on the gateway: its tasks (`store.rs` filters and pages them) and
//! `DescribeDownloadTask` (`action.rs`).

mod action;
mod store;

use std::collections::HashMap;
#[cfg(feature = "testing")]
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use crate::util::lock;
use crate::{SimTask, TaskSource};

/// What the builder fixed: never changes while serving.
pub(crate) struct Config {
    pub source: Option<TaskSource>,
    /// (region, instance) pairs whose listing is denied by RAM (test builds).
    #[cfg(feature = "testing")]
    pub forbidden: HashSet<(String, String)>,
    pub max_page_size: u64,
}

/// DBS as the gateway serves it: the tasks, and (test builds) the requests each instance drew.
pub(crate) struct Dbs {
    pub config: Config,
    /// Static tasks by (region, instance): a listing only ever reads one instance's tasks.
    tasks: Mutex<HashMap<(String, String), Vec<SimTask>>>,
    #[cfg(feature = "testing")]
    calls_by_target: Mutex<HashMap<(String, String), u64>>,
}

impl Dbs {
    pub fn new(config: Config, tasks: Vec<SimTask>) -> Self {
        Dbs {
            config,
            tasks: Mutex::new(index(tasks)),
            #[cfg(feature = "testing")]
            calls_by_target: Mutex::new(HashMap::new()),
        }
    }

    /// The static tasks of one instance plus what the dynamic source yields for it at `now_ms`.
    pub fn tasks_of(&self, region: &str, instance: &str, now_ms: u64) -> Vec<SimTask> {
        let key = (region.to_string(), instance.to_string());
        let mut tasks = lock(&self.tasks).get(&key).cloned().unwrap_or_default();
        if let Some(source) = &self.config.source {
            let generated = source(now_ms, region, instance);
            tasks.extend(generated.into_iter().filter(|t| t.region == region && t.instance == instance));
        }
        tasks
    }
}

/// What a test counts and changes (the `testing` feature).
#[cfg(feature = "testing")]
impl Dbs {
    /// Counts one request for its `RegionCode` and `InstanceName`.
    pub fn count(&self, params: &BTreeMap<String, String>) {
        let field = |name: &str| params.get(name).cloned().unwrap_or_default();
        *lock(&self.calls_by_target).entry((field("RegionCode"), field("InstanceName"))).or_insert(0) += 1;
    }

    /// Requests counted for this region and instance.
    pub fn calls_for(&self, region: &str, instance: &str) -> u64 {
        let calls = lock(&self.calls_by_target);
        calls.get(&(region.to_string(), instance.to_string())).copied().unwrap_or(0)
    }

    pub fn replace_tasks(&self, tasks: Vec<SimTask>) {
        *lock(&self.tasks) = index(tasks);
    }

    pub fn push_task(&self, task: SimTask) {
        lock(&self.tasks).entry((task.region.clone(), task.instance.clone())).or_default().push(task);
    }

    /// Moves a stored task to `state` with `progress`; false when no stored task has that id.
    pub fn move_task(&self, task_id: &str, state: &str, progress: &str) -> bool {
        let mut tasks = lock(&self.tasks);
        let Some(task) = tasks.values_mut().flatten().find(|task| task.task_id == task_id) else {
            return false;
        };
        task.state = state.to_string();
        task.progress = progress.to_string();
        true
    }
}

fn index(tasks: Vec<SimTask>) -> HashMap<(String, String), Vec<SimTask>> {
    let mut by_instance: HashMap<(String, String), Vec<SimTask>> = HashMap::new();
    for task in tasks {
        by_instance.entry((task.region.clone(), task.instance.clone())).or_default().push(task);
    }
    by_instance
}
