//! The running simulator: the state its requests share, and the handle tests hold.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::auth::{Account, NonceCache};
use super::faults::FaultPlan;
use super::{Fault, SimTask, TaskSource};

/// The request log keeps this many entries, dropping the oldest, so a soak test cannot grow it
/// without bound.
const REQUEST_LOG_CAPACITY: usize = 10_000;

/// What the builder fixed: never changes while serving.
pub(crate) struct Config {
    pub accounts: HashMap<String, Account>,
    pub source: Option<TaskSource>,
    pub forbidden: HashSet<(String, String)>,
    pub max_page_size: u64,
}

/// State shared by every connection of one simulator.
pub(crate) struct Shared {
    pub config: Config,
    /// Static tasks by (region, instance): a listing only ever reads one instance's tasks.
    tasks: Mutex<HashMap<(String, String), Vec<SimTask>>>,
    pub nonces: Mutex<NonceCache>,
    pub faults: Mutex<FaultPlan>,
    calls: AtomicU64,
    calls_by_target: Mutex<HashMap<(String, String), u64>>,
    requests: Mutex<VecDeque<BTreeMap<String, String>>>,
}

/// A poisoned lock only means another request panicked; the data is still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn new(config: Config, tasks: Vec<SimTask>) -> Self {
        Shared {
            config,
            tasks: Mutex::new(index(tasks)),
            nonces: Mutex::new(NonceCache::default()),
            faults: Mutex::new(FaultPlan::default()),
            calls: AtomicU64::new(0),
            calls_by_target: Mutex::new(HashMap::new()),
            requests: Mutex::new(VecDeque::new()),
        }
    }

    /// Counts one received request and logs its parameters (without the signature).
    pub fn record(&self, params: &BTreeMap<String, String>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let field = |name: &str| params.get(name).cloned().unwrap_or_default();
        *lock(&self.calls_by_target).entry((field("RegionCode"), field("InstanceName"))).or_insert(0) += 1;
        let mut logged = params.clone();
        logged.remove("Signature");
        let mut requests = lock(&self.requests);
        if requests.len() == REQUEST_LOG_CAPACITY {
            requests.pop_front();
        }
        requests.push_back(logged);
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

    fn replace_tasks(&self, tasks: Vec<SimTask>) {
        *lock(&self.tasks) = index(tasks);
    }

    fn push_task(&self, task: SimTask) {
        lock(&self.tasks).entry((task.region.clone(), task.instance.clone())).or_default().push(task);
    }
}

fn index(tasks: Vec<SimTask>) -> HashMap<(String, String), Vec<SimTask>> {
    let mut by_instance: HashMap<(String, String), Vec<SimTask>> = HashMap::new();
    for task in tasks {
        by_instance.entry((task.region.clone(), task.instance.clone())).or_default().push(task);
    }
    by_instance
}

/// Stops the server when the last [`SimHandle`] clone goes away.
struct Running {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A running simulator. Clones share one server; dropping the last clone stops it.
#[derive(Clone)]
pub struct SimHandle {
    running: Arc<Running>,
}

impl SimHandle {
    pub(crate) fn serve(listener: TcpListener, config: Config, tasks: Vec<SimTask>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, tasks));
        let shutdown = CancellationToken::new();
        let server =
            tokio::spawn(super::server::accept_loop(listener, Arc::clone(&shared), shutdown.clone()));
        let running = Running { shared, addr, shutdown, server: Mutex::new(Some(server)) };
        Ok(SimHandle { running: Arc::new(running) })
    }

    /// `http://127.0.0.1:PORT`, ready to be used as an endpoint override.
    pub fn url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    fn shared(&self) -> &Shared {
        &self.running.shared
    }

    /// Every HTTP request received, whatever was answered.
    pub fn calls(&self) -> u64 {
        self.shared().calls.load(Ordering::Relaxed)
    }

    /// Requests whose `RegionCode` and `InstanceName` were these.
    pub fn calls_for(&self, region: &str, instance: &str) -> u64 {
        let calls = lock(&self.shared().calls_by_target);
        calls.get(&(region.to_string(), instance.to_string())).copied().unwrap_or(0)
    }

    /// Parameters of each received request (query and form body, `Signature` removed), oldest
    /// first; only the latest 10 000 are kept.
    pub fn requests(&self) -> Vec<BTreeMap<String, String>> {
        lock(&self.shared().requests).iter().cloned().collect()
    }

    /// Serves `fault` to the next `times` requests, after any faults queued before.
    pub fn inject(&self, fault: Fault, times: u32) {
        lock(&self.shared().faults).enqueue(fault, times);
    }

    /// When no queued fault is pending, serves a fault picked uniformly from `kinds` with this
    /// probability (clamped to 0..=1); 0 or an empty list disables random faults.
    pub fn set_fault_rate(&self, probability: f64, kinds: Vec<Fault>) {
        lock(&self.shared().faults).set_rate(probability, kinds);
    }

    /// How many faults of each kind ([`Fault::kind`]) were served so far.
    pub fn injected(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.shared().faults).served().clone()
    }

    /// Replaces the static tasks (the dynamic source, if any, is unaffected).
    pub fn set_tasks(&self, tasks: Vec<SimTask>) {
        self.shared().replace_tasks(tasks);
    }

    pub fn push_task(&self, task: SimTask) {
        self.shared().push_task(task);
    }

    /// Moves a stored task to `state` with `progress` ("exported/total tables"), as DBS does
    /// while it runs a download; false when no stored task has that id.
    pub fn move_task(&self, task_id: &str, state: &str, progress: &str) -> bool {
        let shared = self.shared();
        let mut tasks = lock(&shared.tasks);
        let Some(task) = tasks.values_mut().flatten().find(|task| task.task_id == task_id) else {
            return false;
        };
        task.state = state.to_string();
        task.progress = progress.to_string();
        true
    }

    /// Stops accepting, drops open connections and waits for the server to finish. Other clones
    /// of this handle then point at a stopped server.
    pub async fn shutdown(self) {
        self.running.shutdown.cancel();
        let server = lock(&self.running.server).take();
        if let Some(server) = server {
            let _ = server.await;
        }
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("addr", &self.running.addr).finish_non_exhaustive()
    }
}
