use super::*;
use crate::api::{ClientOptions, TaskType};
use crate::credentials::{Credentials, StaticCredentials};
use crate::model::InstanceKey;

const MINUTE: Duration = Duration::from_secs(60);

fn settings() -> PollSettings {
    PollSettings {
        interval: MINUTE,
        lookback: MINUTE,
        list: ListOptions::default(),
        concurrency: 4,
        rate_limit_per_region: 10.0,
        max_staleness: MINUTE * 3,
    }
}

fn poller(targets: &[(&str, &str)]) -> Poller {
    let credentials = Arc::new(StaticCredentials::new(Credentials::new("id", "secret")));
    let client = DbsClient::new(ClientOptions::default(), credentials).unwrap();
    let targets = targets
        .iter()
        .map(|&(region, instance)| {
            let key = TargetKey { instance: InstanceKey::new(region, instance), task_type: TaskType::Full };
            let query = DownloadTaskQuery::new(region, instance);
            Arc::new(Target::new(key, "http://127.0.0.1:9".into(), query, client.clone()))
        })
        .collect();
    let settings = settings();
    let pacer = Arc::new(Pacer::new(["a", "b"], settings.rate_limit_per_region, settings.concurrency));
    Poller::new(targets, settings, Arc::new(Store::new()), ExporterMetrics::new(["a", "b"]), pacer)
}

#[tokio::test(start_paused = true)]
async fn targets_are_due_at_once_and_spread_over_the_interval_within_their_region() {
    let poller = poller(&[("a", "1"), ("b", "1"), ("a", "2")]);
    assert_eq!(poller.lane_of, [0, 1, 0]);
    let now = Instant::now();
    let cadences = poller.cadences_from(&Cadences::default(), now);
    assert!(cadences.iter().all(|c| c.next_due == now), "the first listing of every target is due now");
    let anchors: Vec<Duration> = cadences.iter().map(|c| c.anchor - now).collect();
    assert_eq!(anchors, [Duration::ZERO, Duration::ZERO, MINUTE / 2]);
}

#[tokio::test(start_paused = true)]
async fn a_carried_cadence_is_kept_and_new_targets_are_due_at_once() {
    let poller = poller(&[("a", "1"), ("a", "2")]);
    let now = Instant::now();
    let kept = Cadence { anchor: now + Duration::from_secs(7), next_due: now + Duration::from_secs(37) };
    let carried = Cadences(HashMap::from([(poller.targets[0].key.clone(), kept)]));
    let cadences = poller.cadences_from(&carried, now);
    assert_eq!(cadences[0], kept);
    assert_eq!(cadences[1].next_due, now);
}

#[test]
fn a_round_ends_when_every_target_has_been_listed_once() {
    let mut round = Round::new(2, Instant::now(), 0);
    assert!(!round.attempted(0));
    assert!(!round.attempted(0), "a second listing of the same target does not count");
    assert!(round.attempted(1));
    assert!(round.is_complete());
    assert!(Round::new(0, Instant::now(), 0).is_complete(), "a shard with no targets is complete at once");
}
