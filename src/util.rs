//! Small helpers every layer uses, written once: nothing here knows Alibaba Cloud or Prometheus.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

/// Locks `mutex`, taking the data of a poisoned lock as it is: a poisoned lock only means another
/// thread panicked while holding it, and every state guarded this way stays consistent between
/// statements, so carrying on beats spreading the panic to every later caller.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// [`lock`] for the readers of an `RwLock`.
pub fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// [`lock`] for the writer of an `RwLock`.
pub fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Milliseconds since the Unix epoch, 0 for an instant before it (a clock set to 1969 is not
/// worth a panic). The unit of the API's `StartTime`, `EndTime` and `GmtCreate`.
pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The instant `ms` milliseconds after the Unix epoch.
pub fn from_unix_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms)
}

/// The wall clock of the poll path: the timestamps of listings, their creation-time window and
/// the staleness of counts. Every duration on that path is measured on tokio's clock; this
/// clock is the one source of timestamps, so a test on tokio's paused clock can move both.
#[derive(Clone, Copy, Debug, Default)]
pub enum WallClock {
    /// The system's clock.
    #[default]
    System,
    /// The system's time when it was made, advanced by tokio's clock since then (tests on
    /// tokio's paused clock: an `advance` moves the timestamps too).
    FollowingTokio { base: SystemTime, since: tokio::time::Instant },
}

impl WallClock {
    /// A clock that reads the system's time now and then moves with tokio's clock.
    pub fn following_tokio() -> Self {
        WallClock::FollowingTokio { base: SystemTime::now(), since: tokio::time::Instant::now() }
    }

    pub fn now(&self) -> SystemTime {
        match self {
            WallClock::System => SystemTime::now(),
            WallClock::FollowingTokio { base, since } => *base + since.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unix_ms_counts_from_the_epoch_and_stops_at_zero_before_it() {
        assert_eq!(
            unix_ms(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            1_700_000_000_123
        );
        assert_eq!(unix_ms(SystemTime::UNIX_EPOCH - Duration::from_secs(1)), 0);
    }

    #[test]
    fn a_poisoned_lock_still_hands_out_its_data() {
        let mutex = std::sync::Arc::new(Mutex::new(7));
        let poisoner = std::sync::Arc::clone(&mutex);
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(mutex.is_poisoned());
        assert_eq!(*lock(&mutex), 7);
    }
}

/// What `--version` and `aliyun_dbs_exporter_build_info` say of this build (`build.rs`).
pub mod build {
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// The git revision (12 digits), or `unknown` when built from neither a checkout nor a
    /// `DBS_EXPORTER_REVISION`.
    pub const REVISION: &str = env!("DBS_EXPORTER_REVISION");
    pub const BRANCH: &str = env!("DBS_EXPORTER_BRANCH");
    /// `YYYYMMDD-HH:MM:SS`, UTC.
    pub const BUILD_DATE: &str = env!("DBS_EXPORTER_BUILD_DATE");
    pub const RUST_VERSION: &str = env!("DBS_EXPORTER_RUST_VERSION");
    /// `os/arch` of the target.
    pub const PLATFORM: &str = env!("DBS_EXPORTER_PLATFORM");

    /// `--version`, in the layout of Prometheus' own binaries.
    pub const LONG_VERSION: &str = concat!(
        env!("CARGO_PKG_VERSION"),
        " (branch: ",
        env!("DBS_EXPORTER_BRANCH"),
        ", revision: ",
        env!("DBS_EXPORTER_REVISION"),
        ")\n  build date:   ",
        env!("DBS_EXPORTER_BUILD_DATE"),
        "\n  rust version: ",
        env!("DBS_EXPORTER_RUST_VERSION"),
        "\n  platform:     ",
        env!("DBS_EXPORTER_PLATFORM"),
    );
}
