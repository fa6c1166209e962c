use super::*;
use crate::api::{DownloadState, DownloadTask};
use crate::store::model::TaskAggregate;

fn key(task_type: TaskType) -> TargetKey {
    TargetKey { instance: InstanceKey::new("cn-hangzhou", "rm-1"), task_type }
}

/// A listing of the first generation.
fn first(key: &TargetKey) -> Attempt<'_> {
    Attempt { key, generation: 1, asked: QueryId::default() }
}

/// A store whose first generation holds both targets of rm-1.
fn store() -> Store {
    Store::with_generation(Generation::of_targets(1, vec![key(TaskType::Full), key(TaskType::Pitr)]))
}

fn round() -> RoundReport {
    RoundReport { duration_seconds: 1.5, api_calls: 3, lag_seconds: 0.0 }
}

#[test]
fn a_failure_keeps_the_last_good_aggregate_but_marks_the_instance_down() {
    let store = store();
    let types = [TaskType::Full, TaskType::Pitr];
    store.record_success(&first(&key(TaskType::Full)), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
    store.record_success(&first(&key(TaskType::Pitr)), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
    let instance = InstanceKey::new("cn-hangzhou", "rm-1");
    store.read(|view, _| assert_eq!(view.instance_up(&instance, &types), Some(true)));

    let pitr = key(TaskType::Pitr);
    assert_eq!(
        store.record_failure(&first(&pitr), "server"),
        Some(Transition::NewFailure { previous: None })
    );
    assert_eq!(store.record_failure(&first(&pitr), "server"), Some(Transition::Steady));
    assert_eq!(
        store.record_failure(&first(&pitr), "auth"),
        Some(Transition::NewFailure { previous: Some("server") })
    );
    store.read(|view, _| {
        assert_eq!(view.instance_up(&instance, &types), Some(false));
        assert!(view.instances[&instance][&TaskType::Pitr].aggregate.is_some());
    });
    let recovered = store.record_success(&first(&pitr), TaskAggregate::default(), SystemTime::now());
    assert_eq!(recovered, Some(Transition::Recovered { from: "auth" }));
}

#[test]
fn an_instance_is_neither_up_nor_down_until_every_task_type_had_an_attempt() {
    let store = store();
    let instance = InstanceKey::new("cn-hangzhou", "rm-1");
    let both = [TaskType::Full, TaskType::Pitr];
    store.record_success(&first(&key(TaskType::Full)), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
    store.read(|view, _| {
        assert_eq!(view.instance_up(&instance, &both), None, "pitr was never tried");
        assert_eq!(view.instance_last_success(&instance, &both), None);
        assert_eq!(view.instance_up(&InstanceKey::new("x", "y"), &[TaskType::Full]), None);
    });
    store.record_failure(&first(&key(TaskType::Pitr)), "server");
    store.read(|view, _| assert_eq!(view.instance_up(&instance, &both), Some(false)));
}

#[test]
fn only_a_failing_target_loses_its_counts_after_max_staleness() {
    let store = store();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let max = Duration::from_secs(180);
    store.record_success(&first(&key(TaskType::Full)), TaskAggregate::default(), t0);
    store.record_success(&first(&key(TaskType::Pitr)), TaskAggregate::default(), t0);
    store.record_failure(&first(&key(TaskType::Full)), "server");
    assert!(store.expire_stale(t0 + max, max).is_empty(), "not older than max_staleness yet");
    let expired = store.expire_stale(t0 + max * 10, max);
    assert_eq!(expired, vec![key(TaskType::Full)], "pitr is healthy, however old its last success");
    let instance = InstanceKey::new("cn-hangzhou", "rm-1");
    store.read(|view, _| {
        assert!(view.instances[&instance][&TaskType::Full].aggregate.is_none());
        assert!(view.instances[&instance][&TaskType::Pitr].aggregate.is_some());
        assert_eq!(view.instance_up(&instance, &[TaskType::Full]), Some(false));
    });
}

#[test]
fn listings_are_changes_and_rounds_are_milestones() {
    let store = store();
    let before = store.publication();
    store.record_failure(&first(&key(TaskType::Full)), "server");
    let after_listing = store.publication();
    assert_eq!(after_listing.changes, before.changes + 1);
    assert_eq!(after_listing.milestones, before.milestones, "a listing is not a milestone");
    assert!(!store.first_round_done());
    store.record_round(round());
    assert_eq!(store.publication().milestones, before.milestones + 1);
    assert!(store.first_round_done());
}

fn task(id: &str, state: &str) -> TaskSummary {
    DownloadTask::new(id, Some(TaskType::Full), DownloadState::parse(state)).summary()
}

fn transitions(store: &Store) -> Vec<(String, u64)> {
    store.read(|view, _| {
        let state = &view.instances[&InstanceKey::new("cn-hangzhou", "rm-1")][&TaskType::Full];
        let transitions = state.transitions.iter().flat_map(ByState::iter);
        transitions.filter(|(_, n)| **n > 0).map(|(s, n)| (s.to_string(), *n)).collect()
    })
}

#[test]
fn the_first_listing_counts_nothing_and_later_ones_count_state_changes() {
    let store = store();
    let full = key(TaskType::Full);
    let at = SystemTime::UNIX_EPOCH;
    let changes = store
        .record_listing(&first(&full), &[task("a", "queueing"), task("b", "running")], at)
        .unwrap()
        .changes;
    assert_eq!(changes, Changes::default());
    assert!(transitions(&store).is_empty());
    store.read(|view, _| {
        let transitions = &view.instances.values().next().unwrap()[&TaskType::Full].transitions;
        assert_eq!(transitions.as_ref().map(|t| t.iter().count()), Some(6))
    });

    store.record_failure(&first(&full), "server");
    let recorded =
        store.record_listing(&first(&full), &[task("a", "running"), task("b", "failed")], at).unwrap();
    let (transition, changes) = (recorded.transition, recorded.changes);
    let events: Vec<(&str, &str, &str)> =
        recorded.events.iter().map(|e| (&*e.detail.task_id, e.from_name(), e.to.as_str())).collect();
    assert_eq!(events, [("a", "queueing", "running"), ("b", "running", "failed")], "one event per change");
    assert_eq!(transition, Transition::Recovered { from: "server" });
    assert_eq!(changes.completed.len(), 1);
    assert_eq!(transitions(&store), [("running".to_string(), 1), ("failed".to_string(), 1)]);
}

#[test]
fn a_new_generation_drops_the_targets_that_left_and_keeps_the_others() {
    let store = store();
    store.record_success(&first(&key(TaskType::Full)), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
    store.record_success(&first(&key(TaskType::Pitr)), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
    store.publish(Generation::of_targets(2, vec![key(TaskType::Full)]));
    store.read(|view, _| assert_eq!(view.instances.values().next().unwrap().len(), 1));
    assert_eq!(store.generation().number, 2);
    store.publish(Generation::of_targets(3, Vec::new()));
    store.read(|view, _| assert!(view.instances.is_empty()));
}

#[test]
fn a_listing_of_a_target_that_left_meanwhile_is_not_written() {
    let store = store();
    let pitr = key(TaskType::Pitr);
    let started_in_first = first(&pitr);
    store.publish(Generation::of_targets(2, vec![key(TaskType::Full)]));
    let written = store.record_success(&started_in_first, TaskAggregate::default(), SystemTime::UNIX_EPOCH);
    assert_eq!(written, None, "pitr left while it was listed");
    assert!(store.read(|view, _| view.target(&pitr).is_none()), "nothing brought it back");

    // Back in generation 3: a listing begun in generation 1 still may not write, one of
    // generation 3 may.
    store.publish(Generation::of_targets(3, vec![key(TaskType::Full), pitr.clone()]));
    assert_eq!(store.record_failure(&started_in_first, "server"), None);
    let third = Attempt { key: &pitr, generation: 3, asked: QueryId::default() };
    assert!(store.record_failure(&third, "server").is_some());
    // A target that stayed accepts listings begun in any generation it was in.
    let full = key(TaskType::Full);
    assert!(store.record_failure(&first(&full), "server").is_some());
}

#[test]
fn a_listing_of_another_query_starts_the_history_anew_without_counting() {
    let store = store();
    let full = key(TaskType::Full);
    let narrow = first(&full);
    let wide = Attempt { asked: QueryId::of(&"lookback 30d"), ..narrow };
    let at = SystemTime::UNIX_EPOCH;
    store.record_listing(&narrow, &[task("a", "running")], at).unwrap();
    let changes =
        store.record_listing(&wide, &[task("a", "running"), task("old", "finished")], at).unwrap().changes;
    assert_eq!(changes, Changes::default(), "the wider query's older tasks are not transitions");
    assert!(transitions(&store).is_empty());
    let changes =
        store.record_listing(&wide, &[task("a", "finished"), task("old", "finished")], at).unwrap().changes;
    assert_eq!(changes.completed.len(), 1, "later listings of the same query count as before");
    assert_eq!(transitions(&store), [("finished".to_string(), 1)]);
}

#[test]
fn a_published_change_is_the_same_as_publishing_the_whole_generation() {
    let (full, pitr) = (key(TaskType::Full), key(TaskType::Pitr));
    let other = TargetKey { instance: InstanceKey::new("cn-hangzhou", "rm-2"), task_type: TaskType::Full };
    let whole = store();
    let changed = store();
    for store in [&whole, &changed] {
        store.record_success(&first(&full), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
        store.record_success(&first(&pitr), TaskAggregate::default(), SystemTime::UNIX_EPOCH);
    }
    let next = || Generation::of_targets(2, vec![full.clone(), other.clone()]);
    whole.publish(next());
    changed.publish_change(next(), &TargetChange { left: vec![pitr.clone()], joined: vec![other.clone()] });
    for store in [&whole, &changed] {
        assert!(store.read(|view, _| view.target(&pitr).is_none()), "pitr left");
        assert!(store.read(|view, _| view.target(&full).is_some()), "full stayed with its state");
        assert_eq!(store.record_failure(&first(&pitr), "server"), None);
        assert_eq!(store.record_failure(&first(&other), "server"), None, "other joined in generation 2");
        let second = Attempt { key: &other, generation: 2, asked: QueryId::default() };
        assert!(store.record_failure(&second, "server").is_some());
    }
}
