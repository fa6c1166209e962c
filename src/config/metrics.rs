//! `metrics:`: which task series the exporter writes, so an estate pays Prometheus only for the
//! series it uses.

use crate::api::DownloadState;

/// A family of task series that can be turned off; the task counts themselves, `up` and the
/// error info always stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OptionalFamily {
    ExportBytes,
    ImportBytes,
    OldestTaskTimestamps,
    Transitions,
    RunningTables,
}

impl OptionalFamily {
    pub const ALL: [OptionalFamily; 5] = [
        OptionalFamily::ExportBytes,
        OptionalFamily::ImportBytes,
        OptionalFamily::OldestTaskTimestamps,
        OptionalFamily::Transitions,
        OptionalFamily::RunningTables,
    ];

    /// The name written in `metrics.disable`.
    pub fn as_str(self) -> &'static str {
        match self {
            OptionalFamily::ExportBytes => "export_bytes",
            OptionalFamily::ImportBytes => "import_bytes",
            OptionalFamily::OldestTaskTimestamps => "oldest_task_timestamps",
            OptionalFamily::Transitions => "transitions",
            OptionalFamily::RunningTables => "running_tables",
        }
    }
}

/// The `metrics:` block, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Families left out of the exposition.
    pub disabled: Vec<OptionalFamily>,
    /// The states that get series of their own in the per-state families; the others (and
    /// states the API may add) are summed under `state="other"`. `None`: every known state,
    /// and an unknown state under its own name.
    pub states: Option<Vec<DownloadState>>,
}

/// The state label of the series that count `state` under `states`.
pub const OTHER_STATE: &str = "other";

impl MetricsOptions {
    pub fn enabled(&self, family: OptionalFamily) -> bool {
        !self.disabled.contains(&family)
    }

    /// The `state` label under which `state` is counted.
    pub fn state_label<'a>(&self, state: &'a DownloadState) -> &'a str {
        match &self.states {
            Some(states) if !states.contains(state) => OTHER_STATE,
            _ => state.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchosen_and_unknown_states_are_other_and_every_state_is_its_own_by_default() {
        let paused = DownloadState::parse("paused");
        let default = MetricsOptions::default();
        assert_eq!(default.state_label(&DownloadState::Queueing), "queueing");
        assert_eq!(default.state_label(&paused), "paused");
        let chosen =
            MetricsOptions { states: Some(vec![DownloadState::Failed]), ..MetricsOptions::default() };
        assert_eq!(chosen.state_label(&DownloadState::Failed), "failed");
        assert_eq!(chosen.state_label(&DownloadState::Queueing), "other");
        assert_eq!(chosen.state_label(&paused), "other");
        assert!(default.enabled(OptionalFamily::Transitions));
    }
}
