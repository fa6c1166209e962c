//! Paging against the simulator over loopback: whatever the number of tasks, the page size the
//! client asks for, the page size the server is willing to send and the sort order, a listing
//! holds every task of its target exactly once, or fails with `PageCap` when it would need more
//! pages than allowed; it never passes a partial count off as the whole.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;

use crate::support::{credentials, TestEstate};
use dbs_exporter::api::{
    ApiError, ClientOptions, DbsClient, DownloadState, DownloadTaskQuery, ListOptions, Listing,
    OrderDirection, TaskType,
};
use dbs_sim::{SimHandle, SimTask, Simulator, TaskType as SimTaskType};

const REGION: &str = "cn-hangzhou";
const INSTANCE: &str = "rm-bp1hostile0001";
const BASE_MS: u64 = 1_700_000_000_000;

/// States as the service may spell them, unknown ones included.
const SPELLINGS: [&str; 12] = [
    "finished",
    "Finished",
    "failed",
    "queuing",
    "QUEUEING",
    "running",
    "Initializing",
    "expired",
    "Paused",
    "we\"ird\\state",
    "ünknown",
    "  running  ",
];

/// A listing to run: the target's tasks (state, creation time), tasks of other targets that
/// must not leak in, and how the pages are walked.
#[derive(Clone, Debug)]
struct Case {
    tasks: Vec<(&'static str, u64)>,
    others: Vec<(&'static str, u64, bool)>,
    page_size: u32,
    server_max_page_size: Option<u64>,
    order: Option<OrderDirection>,
    /// Whether `max_pages` is below the pages needed, and a number to pick it with.
    short: bool,
    pick: u32,
}

impl Case {
    /// The page size the server actually uses.
    fn effective_page_size(&self) -> u64 {
        let server_max = self.server_max_page_size.unwrap_or(Simulator::DEFAULT_MAX_PAGE_SIZE);
        u64::from(self.page_size).min(server_max)
    }

    /// Pages the listing needs; an empty listing still reads one (empty) page.
    fn pages_needed(&self) -> u32 {
        (self.tasks.len() as u64).div_ceil(self.effective_page_size()).max(1) as u32
    }

    fn max_pages(&self) -> u32 {
        let needed = self.pages_needed();
        if self.short && needed > 1 {
            1 + self.pick % (needed - 1)
        } else {
            needed + self.pick % 3
        }
    }

    fn sim_tasks(&self) -> Vec<SimTask> {
        let mut tasks: Vec<SimTask> = self
            .tasks
            .iter()
            .enumerate()
            .map(|(i, (state, created))| {
                let mut task =
                    SimTask::new(format!("dt-{i:04}"), REGION, INSTANCE, SimTaskType::Full, *state, *created);
                task.export_bytes = 1000 + i as u64;
                task
            })
            .collect();
        // Another instance, and the other task type of this one: filtered out by the server.
        for (i, (state, created, same_instance)) in self.others.iter().enumerate() {
            let (instance, task_type) =
                if *same_instance { (INSTANCE, SimTaskType::Pitr) } else { ("rm-other", SimTaskType::Full) };
            tasks.push(SimTask::new(
                format!("dt-other-{i:04}"),
                REGION,
                instance,
                task_type,
                *state,
                *created,
            ));
        }
        tasks
    }
}

fn created_ms() -> impl Strategy<Value = u64> {
    // A narrow range, so that many tasks share a creation time and the tie-break matters.
    (0u64..40).prop_map(|i| BASE_MS + i * 1000)
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((select(SPELLINGS.to_vec()), created_ms()), 0..300),
        prop::collection::vec((select(SPELLINGS.to_vec()), created_ms(), any::<bool>()), 0..10),
        prop_oneof![1u32..=10, 1u32..=100, Just(100u32)],
        prop::option::of(prop_oneof![1u64..=10, 1u64..=100]),
        select(vec![None, Some(OrderDirection::Asc), Some(OrderDirection::Desc)]),
        prop::bool::weighted(0.3),
        any::<u32>(),
    )
        .prop_map(|(tasks, others, page_size, server_max_page_size, order, short, pick)| Case {
            tasks,
            others,
            page_size,
            server_max_page_size,
            order,
            short,
            pick,
        })
}

async fn start(case: &Case) -> SimHandle {
    let mut estate = TestEstate::new().tasks(case.sim_tasks());
    if let Some(max) = case.server_max_page_size {
        estate = estate.with(|simulator| simulator.with_max_page_size(max));
    }
    estate.start().await
}

fn client() -> DbsClient {
    let options = ClientOptions { timeout: Duration::from_secs(5), ..ClientOptions::default() };
    DbsClient::new(options, credentials()).unwrap()
}

fn query(order: Option<OrderDirection>) -> DownloadTaskQuery {
    DownloadTaskQuery {
        task_type: Some(TaskType::Full),
        order_column: order.map(|_| "gmt_create".to_string()),
        order_direction: order,
        ..DownloadTaskQuery::new(REGION, INSTANCE)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn count_by_state<'a>(states: impl IntoIterator<Item = &'a DownloadState>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for state in states {
        *counts.entry(state.as_str().to_string()).or_insert(0) += 1;
    }
    counts
}

/// Lists `case` against a fresh simulator; the simulator comes back too, for its call count.
fn list(case: &Case, max_pages: u32) -> (SimHandle, Result<Listing, ApiError>) {
    runtime().block_on(async {
        let sim = start(case).await;
        let options = ListOptions { page_size: case.page_size, max_pages, ..ListOptions::default() };
        let result = client().list_download_tasks(&sim.url(), &query(case.order), options, &()).await;
        (sim, result)
    })
}

fn check_listing(case: &Case) -> Result<(), TestCaseError> {
    let (needed, max_pages) = (case.pages_needed(), case.max_pages());
    let (sim, result) = list(case, max_pages);
    if max_pages < needed {
        match result {
            Err(ApiError::PageCap { cap, total_pages }) => {
                prop_assert_eq!(cap, max_pages);
                prop_assert_eq!(total_pages, u64::from(needed));
                prop_assert_eq!(sim.calls(), u64::from(max_pages), "no page past the cap is fetched");
            }
            other => prop_assert!(false, "expected PageCap {max_pages} < {needed}, got {other:?}"),
        }
        return Ok(());
    }
    let listing = result.map_err(|err| TestCaseError::fail(format!("{err}")))?;
    let mut ids: Vec<&str> = listing.tasks.iter().map(|t| t.task_id.as_str()).collect();
    ids.sort_unstable();
    let expected_ids: Vec<String> = (0..case.tasks.len()).map(|i| format!("dt-{i:04}")).collect();
    prop_assert_eq!(ids, expected_ids.iter().map(String::as_str).collect::<Vec<_>>());
    prop_assert_eq!(listing.duplicates, 0);
    prop_assert_eq!(listing.pages, needed);
    prop_assert_eq!(sim.calls(), u64::from(needed));
    prop_assert!(listing.tasks.iter().all(|t| t.task_type == Some(TaskType::Full)));
    let expected_states: Vec<DownloadState> =
        case.tasks.iter().map(|(spelling, _)| DownloadState::parse(spelling)).collect();
    prop_assert_eq!(count_by_state(listing.tasks.iter().map(|t| &t.state)), count_by_state(&expected_states));
    let exported: u64 = listing.tasks.iter().map(|t| t.export_bytes).sum();
    prop_assert_eq!(exported, (0..case.tasks.len() as u64).map(|i| 1000 + i).sum::<u64>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_task_is_listed_exactly_once_or_the_page_cap_says_why(case in case()) {
        check_listing(&case)?;
    }
}

/// `ListOptions` is public: a caller that asks for no pages at all must not get an empty
/// listing that looks complete. `list_download_tasks` loops over `1..=max_pages`, which is empty
/// for 0, and falls through to `Ok(listing)` at the end of src/api/client.rs.
#[test]
fn a_zero_page_cap_is_a_page_cap_error_not_an_empty_listing() {
    let case = Case {
        tasks: vec![("finished", BASE_MS); 3],
        others: Vec::new(),
        page_size: 100,
        server_max_page_size: None,
        order: None,
        short: true,
        pick: 0,
    };
    let (_sim, result) = list(&case, 0);
    assert!(matches!(result, Err(ApiError::PageCap { cap: 0, .. })), "{result:?}");
}
