use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::canonical_state;

const START: u64 = 1_700_000_000_000;

/// The demo's poll interval.
const POLL_MS: u64 = DEMO_POLL_INTERVAL.as_millis() as u64;

/// A task's "exported/total" tables.
fn progress(task: &SimTask) -> (u64, u64) {
    let (done, total) = task.progress.split_once('/').expect("exported/total");
    (done.parse().expect("a count"), total.parse().expect("a count"))
}

/// Every demo task visible at `now_ms`, with its plan, by task id.
fn planned(now_ms: u64) -> BTreeMap<String, (SimTask, Plan)> {
    let mut tasks = BTreeMap::new();
    for (index, instance) in demo_instances().iter().enumerate() {
        each_planned_task(index, instance, START, now_ms, |task, plan| {
            tasks.insert(task.task_id.clone(), (task, plan));
        });
    }
    tasks
}

#[test]
fn the_plans_are_the_tasks_served() {
    for now in [START, START + 7 * 60_000 + 123] {
        let served = demo_tasks(START, now);
        let planned = planned(now);
        assert_eq!(served.len(), planned.len());
        for task in &served {
            assert_eq!(&planned[&task.task_id].0, task);
        }
    }
}

#[test]
fn a_running_task_exports_its_tables_on_a_straight_line() {
    const DELTA: u64 = 20_000;
    let mut checked = 0;
    for step in 0..20 {
        let t = START + step * 37_000;
        let at = [t, t + DELTA, t + 2 * DELTA].map(planned);
        for (id, (task, plan)) in &at[0] {
            let counts: Vec<u64> = at
                .iter()
                .filter_map(|tasks| tasks.get(id))
                .filter(|(task, _)| task.state == "running")
                .map(|(task, _)| progress(task).0)
                .collect();
            if counts.len() < 3 || matches!(plan.fate, Fate::Stalls { .. }) {
                continue;
            }
            // Tables per millisecond, fixed for the task: the floor of the straight line at
            // each moment, exactly.
            let (tables, running_ms) = (plan.tables, plan.running_ms);
            assert_eq!(progress(task).1, tables);
            let run_start = task.created_ms + plan.run_start_ms();
            for (moment, count) in [t, t + DELTA, t + 2 * DELTA].into_iter().zip(&counts) {
                assert_eq!(*count, tables * (moment - run_start) / running_ms, "{id} at {moment}");
            }
            // So two polls DELTA apart see the same rate, give or take one table...
            assert!(counts[1] - counts[0] + 1 >= counts[2] - counts[1], "{id}: {counts:?}");
            assert!(counts[2] - counts[1] + 1 >= counts[1] - counts[0], "{id}: {counts:?}");
            // ...and the time left estimated from them is near the time it takes.
            let rate = (counts[2] - counts[0]) as f64 / (2 * DELTA) as f64;
            let estimate = (tables - counts[2]) as f64 / rate;
            let actual = (run_start + running_ms - (t + 2 * DELTA)) as f64;
            assert!((estimate - actual).abs() <= actual * 0.1 + 5_000.0, "{id}: {estimate} vs {actual}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn a_running_task_moves_at_every_poll_unless_it_stalls() {
    let mut before: BTreeMap<String, (SimTask, Plan)> = BTreeMap::new();
    let mut compared = 0;
    for step in 0..(30 * 60_000 / POLL_MS) {
        let now = planned(START + step * POLL_MS);
        for (id, (task, plan)) in &now {
            let Some((earlier, _)) = before.get(id) else { continue };
            if task.state != "running" || earlier.state != "running" {
                continue;
            }
            let (rate_per_s, stalls) = (
                plan.tables as f64 * 1_000.0 / plan.running_ms as f64,
                matches!(plan.fate, Fate::Stalls { .. }),
            );
            assert!((0.2..=1.01).contains(&rate_per_s), "{id}: {rate_per_s} tables per second");
            compared += 1;
            if progress(task).0 == progress(earlier).0 {
                assert!(stalls, "{id} stood still for a poll without stalling: {plan:?}");
            }
        }
        before = now;
    }
    assert!(compared > 1_000, "{compared}");
}

#[test]
fn some_running_tasks_stall_for_minutes_early_on_then_fail_or_finish() {
    // The longest time each task has shown the same count while running, polling as the
    // demo does over its first ten minutes.
    let mut flat_since: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut longest: BTreeMap<String, u64> = BTreeMap::new();
    let mut instances = BTreeSet::new();
    for step in 0..=(10 * 60_000 / POLL_MS) {
        let now = START + step * POLL_MS;
        for task in demo_tasks(START, now) {
            if task.state != "running" {
                flat_since.remove(&task.task_id);
                continue;
            }
            let done = progress(&task).0;
            let since = match flat_since.get(&task.task_id) {
                Some(&(count, since)) if count == done => since,
                _ => now,
            };
            flat_since.insert(task.task_id.clone(), (done, since));
            if now - since >= 60_000 {
                instances.insert(task.instance.clone());
            }
            let flat = longest.entry(task.task_id.clone()).or_default();
            *flat = (*flat).max(now - since);
        }
    }
    let stalled: Vec<&String> = longest.iter().filter(|(_, &ms)| ms >= 60_000).map(|(id, _)| id).collect();
    assert!(!stalled.is_empty(), "no task stood still for a minute in the first ten");
    assert!(instances.len() >= 2, "{instances:?}");
    assert!(longest.values().any(|&ms| ms >= 3 * 60_000), "{longest:?}");
    // Later, each has failed or resumed; over half an hour, both happen.
    let (mut failed, mut finished) = (0, 0);
    for id in stalled {
        let mut last = None;
        for step in 10..=30 {
            if let Some((task, _)) = planned(START + step * 60_000).remove(id) {
                last = Some(task);
            }
        }
        let last = last.expect("seen later");
        let (done, total) = progress(&last);
        match last.state.as_str() {
            "failed" => failed += 1,
            "finished" | "expired" => {
                assert_eq!(done, total);
                finished += 1;
            }
            state => panic!("{id} still {state} twenty minutes on"),
        }
    }
    assert!(failed > 0 && finished > 0, "{failed} failed, {finished} finished");
}

#[test]
fn about_one_task_in_eight_stalls_and_each_instance_has_some() {
    let mut stalls = BTreeMap::new();
    let mut total = 0;
    for hour in 0..4 {
        for (task, plan) in planned(START + hour * 3_600_000).into_values() {
            total += 1;
            if let Fate::Stalls { at_ms, for_ms, .. } = plan.fate {
                assert!((3 * 60_000..=8 * 60_000).contains(&for_ms), "{plan:?}");
                assert!(at_ms > 0 && at_ms < plan.running_ms, "{plan:?}");
                *stalls.entry(task.instance).or_insert(0) += 1;
            }
        }
    }
    let stalled: u64 = stalls.values().sum();
    assert!(total / 16 < stalled && stalled < total / 5, "{stalled} of {total}");
    assert_eq!(stalls.len(), demo_instances().len(), "{stalls:?}");
}

#[test]
fn the_same_moment_always_shows_the_same_tasks() {
    assert_eq!(demo_tasks(START, START + 12_345), demo_tasks(START, START + 12_345));
}

#[test]
fn every_state_and_both_task_types_show_from_the_start() {
    let tasks = demo_tasks(START, START);
    let states: BTreeSet<String> = tasks.iter().map(|t| canonical_state(&t.state)).collect();
    for state in ["initializing", "queueing", "running", "failed", "finished", "expired"] {
        assert!(states.contains(state), "{state} missing from {states:?}");
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
    let rank = |state: &str| match canonical_state(state).as_str() {
        "initializing" => 0,
        "queueing" => 1,
        "running" => 2,
        "failed" | "finished" => 3,
        "expired" => 4,
        _ => panic!("unexpected state {state}"),
    };
    let mut seen: BTreeMap<String, (u8, u64, u64, u64)> = BTreeMap::new();
    let mut finished = 0;
    for step in 0..240 {
        for task in demo_tasks(START, START + step * 5_000) {
            let (done, _) = progress(&task);
            let now = (rank(&task.state), task.import_bytes, task.export_bytes, done);
            if let Some(before) = seen.get(&task.task_id) {
                assert!(
                    now.0 >= before.0 && now.1 >= before.1 && now.2 >= before.2 && now.3 >= before.3,
                    "{task:?}"
                );
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
