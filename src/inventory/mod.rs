//! The instances to poll: those listed in the configuration, and those discovery found.
//!
//! Each (account, region, engine) is a source with its last good list. A failing list keeps
//! that list, so a flaky call never blanks the estate; an instance a successful list no
//! longer shows is dropped only once [`MISSES_BEFORE_DROP`] lists in a row have missed it.
//! Listed instances are always polled, and their fields win over discovery's; discovery adds
//! their engine and tags. `exclude_instances` leaves discovered instances out.

mod refresh;

use std::collections::{BTreeMap, HashMap, HashSet};

pub use refresh::{Discoverer, Refresh};

use crate::config::{Config, InstanceConfig};
use crate::discovery::{DiscoveredInstance, DiscoveryError, Engine};
use crate::rpc::CallFailure;
use crate::store::model::InstanceKey;

/// Where discovered instances come from: one list API call sequence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey {
    pub account: String,
    pub region_id: String,
    pub engine: Engine,
}

impl SourceKey {
    /// The pacing lane its calls share with the listings of the same account and region.
    pub fn lane(&self) -> crate::pacing::LaneKey {
        crate::pacing::LaneKey::new(&self.account, &self.region_id)
    }
}

impl std::fmt::Display for SourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.account, self.region_id, self.engine)
    }
}

/// An instance to poll, with what is known of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolledInstance {
    pub account: String,
    pub region_id: String,
    /// The DescribeDownloadTask filters: the listed ones, or discovery's.
    pub instance: InstanceConfig,
    /// `None` for an instance listed by hand that discovery did not find.
    pub engine: Option<Engine>,
    pub tags: Vec<(String, String)>,
}

impl PolledInstance {
    /// Its key: account, region and id.
    pub fn key(&self) -> InstanceKey {
        InstanceKey::of(&self.account, &self.region_id, &self.instance.instance_id)
    }

    /// The value of each of the tag keys `keys`: empty where the instance has no such tag.
    pub fn tag_values(&self, keys: &[String]) -> Vec<String> {
        let value = |key: &String| self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        keys.iter().map(|key| value(key).unwrap_or_default()).collect()
    }
}

/// Lists in a row that may miss an instance before it is dropped: one miss may be the list's
/// eventual consistency, two are not.
pub const MISSES_BEFORE_DROP: u8 = 2;

#[derive(Clone, Debug)]
struct Known {
    instance: DiscoveredInstance,
    misses: u8,
}

/// What discovery knows: each source's last good list, and which sources are failing.
#[derive(Debug, Default)]
pub struct Inventory {
    sources: BTreeMap<SourceKey, BTreeMap<String, Known>>,
    /// The error class each failing source failed with first.
    failing: HashMap<SourceKey, &'static str>,
    /// The tags the lists were made with (`None` without discovery): lists made with other
    /// tags are trusted only until the next good list.
    tags: Option<Vec<(String, String)>>,
}

/// What applying a list changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub added: usize,
    pub dropped: usize,
    /// Instances still listed whose fields (cluster, tags) differ from the last list's.
    pub updated: usize,
}

impl Applied {
    /// Whether the instances of the source are as they were (a miss that keeps an instance
    /// changes nothing yet).
    pub fn is_unchanged(&self) -> bool {
        *self == Applied::default()
    }
}

impl Inventory {
    pub fn new(config: &Config) -> Self {
        Inventory { tags: tags_of(config), ..Inventory::default() }
    }

    /// The inventory for a new configuration: the lists of sources still configured stay. When
    /// the tag filters changed, what they hold is only kept until the next good list: one
    /// miss then drops an instance (the new filters decide at once, and no instance that
    /// still matches vanishes in between).
    pub fn carried_into(self, config: &Config) -> Inventory {
        let tags = tags_of(config);
        let refiltered = tags != self.tags;
        let engines: HashSet<Engine> =
            config.discovery.iter().flat_map(|d| d.engines.iter().copied()).collect();
        let configured: HashSet<(String, String)> = config
            .accounts
            .iter()
            .flat_map(|a| a.regions.iter().map(move |r| (a.name.clone(), r.region_id.clone())))
            .collect();
        let still = |key: &SourceKey| {
            engines.contains(&key.engine)
                && configured.contains(&(key.account.clone(), key.region_id.clone()))
        };
        let mut sources: BTreeMap<SourceKey, BTreeMap<String, Known>> =
            self.sources.into_iter().filter(|(key, _)| still(key)).collect();
        if refiltered {
            for known in sources.values_mut().flat_map(BTreeMap::values_mut) {
                known.misses = known.misses.max(MISSES_BEFORE_DROP - 1);
            }
        }
        let failing = self.failing.into_iter().filter(|(key, _)| still(key)).collect();
        Inventory { sources, failing, tags }
    }

    /// Takes one source's list: a good one replaces what is known (what it misses is dropped
    /// after [`MISSES_BEFORE_DROP`] lists in a row), a failed one keeps it. Logs a failure
    /// once per source and error class, and the recovery.
    pub fn apply(
        &mut self,
        key: &SourceKey,
        outcome: Result<&[DiscoveredInstance], &DiscoveryError>,
    ) -> Applied {
        match outcome {
            Ok(found) => {
                if let Some(class) = self.failing.remove(key) {
                    tracing::info!(source = %key, code = class, "discovery lists this region and engine again");
                }
                self.take_list(key, found)
            }
            Err(err) => {
                self.note_failure(key, err);
                Applied::default()
            }
        }
    }

    fn take_list(&mut self, key: &SourceKey, found: &[DiscoveredInstance]) -> Applied {
        let first = !self.sources.contains_key(key);
        let known = self.sources.entry(key.clone()).or_default();
        let mut applied = Applied::default();
        let listed: HashSet<&str> = found.iter().map(|i| i.instance_id.as_str()).collect();
        // An instance listed as it was is left as it is: a refresh that changes nothing copies
        // nothing.
        for instance in found {
            match known.get_mut(&instance.instance_id) {
                Some(entry) => {
                    entry.misses = 0;
                    if entry.instance != *instance {
                        entry.instance = instance.clone();
                        applied.updated += 1;
                    }
                }
                None => {
                    known.insert(
                        instance.instance_id.clone(),
                        Known { instance: instance.clone(), misses: 0 },
                    );
                    applied.added += 1;
                }
            }
        }
        for (id, entry) in known.iter_mut() {
            if !listed.contains(id.as_str()) {
                entry.misses += 1;
                if entry.misses < MISSES_BEFORE_DROP {
                    tracing::debug!(source = %key, instance_id = %id, "instance missing from discovery once; kept");
                }
            }
        }
        let before = known.len();
        known.retain(|id, entry| {
            let keep = entry.misses < MISSES_BEFORE_DROP;
            if !keep {
                tracing::info!(source = %key, instance_id = %id, "instance missing from {MISSES_BEFORE_DROP} discoveries in a row; no longer polled");
            }
            keep
        });
        applied.dropped = before - known.len();
        if first {
            tracing::info!(source = %key, instances = known.len(), "discovered");
        } else if applied.added > 0 {
            tracing::info!(source = %key, added = applied.added, instances = known.len(), "new instances discovered");
        }
        applied
    }

    fn note_failure(&mut self, key: &SourceKey, err: &DiscoveryError) {
        let class = err.metric_label();
        let kept = self.sources.get(key).map_or(0, BTreeMap::len);
        if self.failing.insert(key.clone(), class) == Some(class) {
            tracing::debug!(source = %key, error = %err, "discovery still failing");
            return;
        }
        tracing::warn!(
            source = %key,
            code = class,
            error = %err,
            hint = %err.hint(),
            kept_instances = kept,
            "discovery list failed; the last good list of this region and engine is kept"
        );
    }

    /// Every instance to poll under `config`, in config order: in each region the listed
    /// instances, then the discovered ones by engine and id.
    pub fn instances(&self, config: &Config) -> Vec<PolledInstance> {
        let discovery = config.discovery.as_ref();
        let excluded: HashSet<&str> =
            discovery.iter().flat_map(|d| d.exclude_instances.iter().map(String::as_str)).collect();
        let shown_tags = shown_tag_keys(config);
        let mut polled = Vec::new();
        for account in &config.accounts {
            for region in &account.regions {
                let found: Vec<&DiscoveredInstance> = self
                    .sources
                    .range(source_range(&account.name, &region.region_id))
                    .flat_map(|(_, known)| known.values().map(|k| &k.instance))
                    .collect();
                let by_id: HashMap<&str, &DiscoveredInstance> =
                    found.iter().map(|i| (i.instance_id.as_str(), *i)).collect();
                let listed: HashSet<&str> = region.instances.iter().map(|i| i.instance_id.as_str()).collect();
                let polled_instance =
                    |instance: InstanceConfig, found: Option<&DiscoveredInstance>| PolledInstance {
                        account: account.name.clone(),
                        region_id: region.region_id.clone(),
                        instance,
                        engine: found.map(|f| f.engine),
                        tags: found.map(|f| shown_tags_of(f, &shown_tags)).unwrap_or_default(),
                    };
                for instance in region.instances.iter() {
                    let found = by_id.get(instance.instance_id.as_str()).copied();
                    let mut instance = instance.clone();
                    if instance.cluster_name.is_none() {
                        instance.cluster_name = found.and_then(|f| f.cluster_name.clone());
                    }
                    polled.push(polled_instance(instance, found));
                }
                let mut seen = HashSet::new();
                for found in found {
                    let id = found.instance_id.as_str();
                    if listed.contains(id) || excluded.contains(id) || !seen.insert(id) {
                        continue;
                    }
                    polled.push(polled_instance(discovered_config(found), Some(found)));
                }
            }
        }
        polled
    }

    /// How many sources' latest list failed.
    pub fn failing_sources(&self) -> usize {
        self.failing.len()
    }

    /// What the last good list of each source holds, for `discover`.
    pub fn found(&self, key: &SourceKey) -> Vec<&DiscoveredInstance> {
        self.sources.get(key).map(|known| known.values().map(|k| &k.instance).collect()).unwrap_or_default()
    }
}

/// The tag keys that reach `/metrics` or decide what is polled: `tag_labels` and the keys of
/// the filter `tags`. The other tags of an instance are not kept, so that editing them is not
/// a change of the polled instances.
fn shown_tag_keys(config: &Config) -> HashSet<&str> {
    let discovery = config.discovery.iter();
    let labels = discovery.clone().flat_map(|d| d.tag_labels.iter().map(String::as_str));
    labels.chain(discovery.flat_map(|d| d.tags.iter().map(|(key, _)| key.as_str()))).collect()
}

/// An instance's tags of `keys`, sorted: compared as a set, whatever order the API gave.
fn shown_tags_of(found: &DiscoveredInstance, keys: &HashSet<&str>) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> =
        found.tags.iter().filter(|(key, _)| keys.contains(key.as_str())).cloned().collect();
    tags.sort();
    tags.dedup();
    tags
}

fn tags_of(config: &Config) -> Option<Vec<(String, String)>> {
    config.discovery.as_ref().map(|d| d.tags.clone())
}

/// The sources of one account and region, whatever the engine.
fn source_range(account: &str, region_id: &str) -> std::ops::RangeInclusive<SourceKey> {
    let key = |engine| SourceKey { account: account.to_string(), region_id: region_id.to_string(), engine };
    key(Engine::ALL[0])..=key(Engine::ALL[Engine::ALL.len() - 1])
}

fn discovered_config(found: &DiscoveredInstance) -> InstanceConfig {
    InstanceConfig {
        instance_id: found.instance_id.clone(),
        cluster_name: found.cluster_name.clone(),
        datasource_id: None,
        backup_set_id: None,
    }
}

#[cfg(test)]
mod tests;
