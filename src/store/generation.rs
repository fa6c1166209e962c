//! One generation of the polled estate: the targets, what the renderer and the status page need
//! to know of them, published to the store in one step so that a scrape or a page never sees the
//! targets of one configuration with the layout of another.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::api::TaskType;
use crate::config::MetricsOptions;
use crate::store::model::{InstanceKey, TargetKey};

/// Everything that changes together when the estate or the configuration changes.
#[derive(Clone, Debug, Default)]
pub struct Generation {
    /// Grows with every published generation; a listing is written only when its target has
    /// been in every generation since the one it started in.
    pub number: u64,
    /// The targets in configuration order.
    pub targets: Vec<TargetKey>,
    pub layout: Layout,
    pub summary: Summary,
    /// How many task events the store keeps (`events.keep`).
    pub events_keep: usize,
}

impl Generation {
    /// A generation of `targets` with the default layout (tools, tests, benchmarks).
    pub fn of_targets(number: u64, targets: Vec<TargetKey>) -> Self {
        let mut task_types: Vec<TaskType> = targets.iter().map(|t| t.task_type).collect();
        task_types.sort();
        task_types.dedup();
        let layout = Layout { task_types, ..Layout::default() };
        let events_keep = crate::config::DEFAULT_EVENTS_KEEP as usize;
        Generation { number, targets, layout, summary: Summary::default(), events_keep }
    }

    /// The engine of each instance that has one, for the status page.
    pub fn engines(&self) -> HashMap<&InstanceKey, &'static str> {
        let rows = self.layout.instances.rows.iter();
        rows.filter_map(|row| Some((&row.instance, row.engine?))).collect()
    }
}

/// What the renderer needs to know of the configuration.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub task_types: Vec<TaskType>,
    /// Which task series are written (`metrics:`).
    pub metrics: MetricsOptions,
    /// Whether instance series carry `account` (only with several accounts).
    pub labels_accounts: bool,
    /// `aliyun_dbs_instance_info`: one row per polled instance.
    pub instances: Arc<InstanceTable>,
}

/// The rows of `aliyun_dbs_instance_info` and the names of its tag labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceTable {
    /// `tag_<key>` label names, in the order of each row's `tag_values`.
    pub tag_labels: Vec<String>,
    pub rows: Vec<InstanceRow>,
}

/// One polled instance: its engine (`None` when listed by hand and not discovered) and the
/// value of each tag label (empty when it has no such tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceRow {
    pub instance: InstanceKey,
    pub engine: Option<&'static str>,
    /// Shared, so that a generation that keeps the instance keeps its row without a copy.
    pub tag_values: Arc<[String]>,
}

/// What the configuration says, for the status page's header.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub version: &'static str,
    pub accounts: Vec<String>,
    pub regions: usize,
    pub instances: usize,
    pub task_types: Vec<&'static str>,
    /// `index/count`.
    pub shard: String,
    pub poll_interval: String,
    pub lookback: String,
    /// Discovery's refresh interval, when it is on.
    pub discovery: Option<String>,
}
