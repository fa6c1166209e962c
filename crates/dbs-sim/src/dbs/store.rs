//! The listing itself: which tasks a request selects, in what order, and which page of them.

use std::collections::BTreeMap;

use crate::{canonical_state, SimTask, TaskType};

const DEFAULT_PAGE_SIZE: u64 = 10;

/// A `DescribeDownloadTask` request's filters, order and paging, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Query {
    pub region: String,
    pub instance: String,
    pub cluster: Option<String>,
    pub datasource_id: Option<String>,
    pub backup_set_id: Option<String>,
    pub state: Option<String>,
    pub task_type: Option<TaskType>,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub descending: bool,
    pub page_size: u64,
    pub page: u64,
}

/// One page of a listing, with the totals over all matching tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub number: u64,
    pub size: u64,
    pub total_elements: u64,
    pub total_pages: u64,
    pub items: Vec<SimTask>,
}

/// An empty string means "not given", as the API treats it.
fn given<'a>(params: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn number(params: &BTreeMap<String, String>, name: &str) -> Result<Option<i64>, String> {
    given(params, name)
        .map(|raw| raw.parse::<i64>().map_err(|_| format!("{name} is not a valid number: {raw}")))
        .transpose()
}

fn millis(params: &BTreeMap<String, String>, name: &str) -> Result<Option<u64>, String> {
    Ok(number(params, name)?.map(|ms| ms.max(0) as u64))
}

impl Query {
    /// Reads the request parameters; `Err` carries the in-band `InvalidParameter` message.
    /// `PageSize` is clamped to `1..=max_page_size`, `CurrentPage` to at least 1.
    pub fn from_params(params: &BTreeMap<String, String>, max_page_size: u64) -> Result<Query, String> {
        let task_type = match given(params, "TaskType") {
            None => None,
            Some(raw) => Some(TaskType::parse(raw).ok_or_else(|| format!("taskType is not valid: {raw}"))?),
        };
        let page_size = number(params, "PageSize")?.map_or(DEFAULT_PAGE_SIZE as i64, |n| n.max(1));
        let page = number(params, "CurrentPage")?.unwrap_or(1).max(1);
        Ok(Query {
            region: params.get("RegionCode").cloned().unwrap_or_default(),
            instance: params.get("InstanceName").cloned().unwrap_or_default(),
            cluster: given(params, "ClusterName").map(str::to_string),
            datasource_id: given(params, "DatasourceId").map(str::to_string),
            backup_set_id: given(params, "BackupSetId").map(str::to_string),
            state: given(params, "State").map(canonical_state),
            task_type,
            start_ms: millis(params, "StartTime")?,
            end_ms: millis(params, "EndTime")?,
            // Only `gmt_create` is documented; any other `OrderColumn` sorts by it as well.
            descending: !given(params, "OrderDirect").is_some_and(|d| d.eq_ignore_ascii_case("asc")),
            page_size: (page_size as u64).min(max_page_size.max(1)),
            page: page as u64,
        })
    }

    fn matches(&self, task: &SimTask) -> bool {
        let optional = |wanted: &Option<String>, actual: Option<&str>| {
            wanted.as_deref().is_none_or(|wanted| actual == Some(wanted))
        };
        task.region == self.region
            && task.instance == self.instance
            && optional(&self.cluster, task.cluster.as_deref())
            && optional(&self.datasource_id, task.datasource_id.as_deref())
            && optional(&self.backup_set_id, Some(&task.backup_set_id))
            && self.state.as_ref().is_none_or(|state| canonical_state(&task.state) == *state)
            && self.task_type.is_none_or(|t| task.task_type == t)
            && self.start_ms.is_none_or(|start| task.created_ms >= start)
            && self.end_ms.is_none_or(|end| task.created_ms <= end)
    }

    /// Selects, orders (creation time, ties by task id) and pages `tasks`.
    pub fn list(&self, tasks: impl IntoIterator<Item = SimTask>) -> Page {
        let mut selected: Vec<SimTask> = tasks.into_iter().filter(|t| self.matches(t)).collect();
        selected.sort_by(|a, b| (a.created_ms, &a.task_id).cmp(&(b.created_ms, &b.task_id)));
        if self.descending {
            selected.reverse();
        }
        let total = selected.len() as u64;
        let skip = (self.page - 1).saturating_mul(self.page_size);
        let items = selected
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(self.page_size as usize)
            .collect();
        Page {
            number: self.page,
            size: self.page_size,
            total_elements: total,
            total_pages: total.div_ceil(self.page_size),
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut all: BTreeMap<String, String> = [("RegionCode", "cn-hangzhou"), ("InstanceName", "rm-1")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        all.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all
    }

    fn task(id: &str, state: &str, task_type: TaskType, created_ms: u64) -> SimTask {
        SimTask::new(id, "cn-hangzhou", "rm-1", task_type, state, created_ms)
    }

    fn ids(page: &Page) -> Vec<&str> {
        page.items.iter().map(|t| t.task_id.as_str()).collect()
    }

    fn list(pairs: &[(&str, &str)], tasks: &[SimTask]) -> Page {
        Query::from_params(&params(pairs), 100).unwrap().list(tasks.iter().cloned())
    }

    #[test]
    fn state_filter_ignores_case_and_folds_the_two_queueing_spellings() {
        let tasks = [
            task("a", "queuing", TaskType::Full, 1),
            task("b", "queueing", TaskType::Full, 2),
            task("c", "Initializing", TaskType::Full, 3),
        ];
        assert_eq!(ids(&list(&[("State", "queueing")], &tasks)), ["b", "a"]);
        assert_eq!(ids(&list(&[("State", "QUEUING")], &tasks)), ["b", "a"]);
        assert_eq!(ids(&list(&[("State", "initializing")], &tasks)), ["c"]);
    }

    #[test]
    fn time_window_is_inclusive_on_both_ends() {
        let tasks: Vec<SimTask> =
            (1..=5).map(|i| task(&format!("t{i}"), "finished", TaskType::Full, i)).collect();
        let page = list(&[("StartTime", "2"), ("EndTime", "4"), ("OrderDirect", "asc")], &tasks);
        assert_eq!(ids(&page), ["t2", "t3", "t4"]);
    }

    #[test]
    fn ties_in_creation_time_are_ordered_by_task_id() {
        let tasks = [
            task("b", "running", TaskType::Pitr, 7),
            task("a", "running", TaskType::Pitr, 7),
            task("c", "running", TaskType::Pitr, 1),
        ];
        assert_eq!(ids(&list(&[("OrderDirect", "asc")], &tasks)), ["c", "a", "b"]);
        assert_eq!(ids(&list(&[], &tasks)), ["b", "a", "c"]);
        assert_eq!(
            ids(&list(&[("OrderColumn", "whatever"), ("OrderDirect", "ASC")], &tasks)),
            ["c", "a", "b"]
        );
    }

    #[test]
    fn paging_counts_pages_and_a_page_past_the_end_is_empty() {
        let tasks: Vec<SimTask> =
            (0..7).map(|i| task(&format!("t{i}"), "finished", TaskType::Full, i)).collect();
        let page = list(&[("PageSize", "3"), ("CurrentPage", "3")], &tasks);
        assert_eq!((page.total_elements, page.total_pages, page.size, page.number), (7, 3, 3, 3));
        assert_eq!(ids(&page), ["t0"]);
        assert!(list(&[("PageSize", "3"), ("CurrentPage", "4")], &tasks).items.is_empty());
        let empty = list(&[("State", "failed")], &tasks);
        assert_eq!((empty.total_elements, empty.total_pages), (0, 0));
    }

    #[test]
    fn page_size_is_clamped_and_defaults_apply() {
        let q = Query::from_params(&params(&[("PageSize", "1000"), ("CurrentPage", "0")]), 50).unwrap();
        assert_eq!((q.page_size, q.page), (50, 1));
        let q = Query::from_params(&params(&[("PageSize", "-4")]), 50).unwrap();
        assert_eq!(q.page_size, 1);
        let q = Query::from_params(&params(&[("PageSize", "")]), 50).unwrap();
        assert_eq!((q.page_size, q.page, q.descending), (10, 1, true));
    }

    #[test]
    fn non_numeric_paging_and_unknown_task_types_are_invalid() {
        assert!(Query::from_params(&params(&[("PageSize", "ten")]), 50).unwrap_err().contains("PageSize"));
        assert!(Query::from_params(&params(&[("CurrentPage", "1.5")]), 50).is_err());
        assert!(Query::from_params(&params(&[("StartTime", "yesterday")]), 50).is_err());
        assert!(Query::from_params(&params(&[("TaskType", "incremental")]), 50).is_err());
    }

    #[test]
    fn optional_identifiers_filter_only_when_given() {
        let mut in_cluster = task("m", "running", TaskType::Full, 1);
        in_cluster.cluster = Some("dds-c1".into());
        let plain = task("p", "running", TaskType::Pitr, 2);
        let tasks = [in_cluster.clone(), plain.clone()];
        assert_eq!(ids(&list(&[("ClusterName", "dds-c1")], &tasks)), ["m"]);
        assert_eq!(ids(&list(&[("ClusterName", "")], &tasks)), ["p", "m"]);
        assert_eq!(ids(&list(&[("BackupSetId", &plain.backup_set_id)], &tasks)), ["p"]);
        assert_eq!(ids(&list(&[("DatasourceId", "ds-rm-1_cn-hangzhou")], &tasks)), ["p", "m"]);
        assert_eq!(ids(&list(&[("DatasourceId", "ds-other")], &tasks)).len(), 0);
        assert_eq!(ids(&list(&[("TaskType", "PITR")], &tasks)), ["p"]);
        let mut elsewhere = params(&[]);
        elsewhere.insert("RegionCode".into(), "cn-shanghai".into());
        assert!(Query::from_params(&elsewhere, 10).unwrap().list(tasks).items.is_empty());
    }
}
