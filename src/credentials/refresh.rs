//! Temporary credentials, cached until shortly before they expire and refreshed by one caller
//! at a time.
//!
//! A refresh is due `margin` before the expiration: a quarter of the lifetime, at most three
//! minutes, less a random jitter of up to a third of it (so that many exporters started together
//! do not call STS in the same second). While one caller refreshes, the others keep the current
//! credentials if they are still good, or wait for the refresh if not. A failed refresh is
//! counted and retried after a short backoff; meanwhile the current credentials serve until they
//! expire (less a few seconds, so that no request is signed with a token that runs out on the
//! way), and after that callers get an error, never the expired credentials.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::{format_expiration, Credentials, CredentialsError, CredentialsFuture, CredentialsProvider};
use crate::util::lock;

/// The refresh margin of long-lived credentials (one hour and more).
const MAX_MARGIN: Duration = Duration::from_secs(180);
/// Credentials are not handed out this close to their expiration (a twentieth of short lifetimes).
const MAX_GUARD: Duration = Duration::from_secs(5);
/// After a failed refresh, with no usable credentials left, the next fetch waits this long.
const BACKOFF_WITHOUT_CREDENTIALS: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Credentials and the moment they stop working.
#[derive(Debug)]
pub(super) struct Expiring {
    pub credentials: Credentials,
    pub expires_at: SystemTime,
}

pub(super) type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Expiring, CredentialsError>> + Send + 'a>>;

/// One call to STS or the metadata service.
pub(super) trait Fetch: Send + Sync + fmt::Debug + 'static {
    fn fetch(&self) -> FetchFuture<'_>;
    fn describe(&self) -> &str;
    /// Refresh errors of the provider whose credentials sign this fetch.
    fn upstream_errors(&self) -> u64 {
        0
    }
}

/// Where refreshing reads the time: `SystemTime::now` but in tests, which move a clock of their
/// own to see expirations and refreshes without waiting for them.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// A provider of temporary credentials over a [`Fetch`].
pub(super) struct Refreshing<F> {
    fetcher: F,
    state: Mutex<State>,
    /// Held for the length of a fetch: concurrent callers share one.
    refresh: tokio::sync::Mutex<()>,
    errors: AtomicU64,
    clock: Clock,
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    /// After a failed fetch, the next is not tried before this.
    retry_at: Option<SystemTime>,
    last_error: Option<CredentialsError>,
}

struct Cached {
    credentials: Arc<Credentials>,
    expires_at: SystemTime,
    refresh_at: SystemTime,
    usable_until: SystemTime,
}

enum Verdict {
    Serve(Arc<Credentials>),
    Fail(CredentialsError),
    Refresh,
}

impl<F: Fetch> Refreshing<F> {
    pub fn with_clock(fetcher: F, clock: Clock) -> Self {
        Refreshing {
            fetcher,
            state: Mutex::new(State::default()),
            refresh: tokio::sync::Mutex::new(()),
            errors: AtomicU64::new(0),
            clock,
        }
    }

    async fn get(&self) -> Result<Arc<Credentials>, CredentialsError> {
        let link = self.fetcher.describe();
        let still_good = {
            let state = self.lock();
            match state.verdict((self.clock)(), link) {
                Verdict::Serve(credentials) => return Ok(credentials),
                Verdict::Fail(err) => return Err(err),
                Verdict::Refresh => state.usable((self.clock)()),
            }
        };
        let _refreshing = match self.refresh.try_lock() {
            Ok(guard) => guard,
            // Someone else is refreshing: the current credentials do meanwhile, if they are good.
            Err(_) => match still_good {
                Some(credentials) => return Ok(credentials),
                None => self.refresh.lock().await,
            },
        };
        // The refresh this caller waited for may have settled the matter.
        match self.lock().verdict((self.clock)(), link) {
            Verdict::Serve(credentials) => return Ok(credentials),
            Verdict::Fail(err) => return Err(err),
            Verdict::Refresh => {}
        }
        let fetched = self.fetcher.fetch().await;
        let now = (self.clock)();
        let fetched = fetched.and_then(|expiring| usable_on_arrival(expiring, now, link));
        let mut state = self.lock();
        match fetched {
            Ok(expiring) => {
                tracing::debug!(link, expires_at = %format_expiration(expiring.expires_at), "temporary credentials obtained");
                let cached = Cached::new(expiring, now);
                let credentials = Arc::clone(&cached.credentials);
                *state = State { current: Some(cached), retry_at: None, last_error: None };
                Ok(credentials)
            }
            Err(err) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let usable = state.current.as_ref().filter(|cached| now < cached.usable_until);
                let backoff = usable.map_or(BACKOFF_WITHOUT_CREDENTIALS, |cached| {
                    let left = cached.usable_until.duration_since(now).unwrap_or_default();
                    (left / 10).clamp(MIN_BACKOFF, MAX_BACKOFF)
                });
                let kept = usable.map(|cached| (Arc::clone(&cached.credentials), cached.expires_at));
                state.retry_at = Some(now + backoff);
                state.last_error = Some(err.clone());
                match kept {
                    Some((credentials, expires_at)) => {
                        tracing::warn!(link, error = %err, expires_at = %format_expiration(expires_at), "credentials refresh failed; the current credentials serve until they expire");
                        Ok(credentials)
                    }
                    None => {
                        tracing::warn!(link, error = %err, "cannot obtain credentials");
                        Err(state.failure(link))
                    }
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl State {
    fn verdict(&self, now: SystemTime, link: &str) -> Verdict {
        if let Some(cached) = &self.current {
            if now < cached.refresh_at && now < cached.usable_until {
                return Verdict::Serve(Arc::clone(&cached.credentials));
            }
        }
        if self.retry_at.is_some_and(|at| now < at) {
            return match self.usable(now) {
                Some(credentials) => Verdict::Serve(credentials),
                None => Verdict::Fail(self.failure(link)),
            };
        }
        Verdict::Refresh
    }

    fn usable(&self, now: SystemTime) -> Option<Arc<Credentials>> {
        self.current
            .as_ref()
            .filter(|cached| now < cached.usable_until)
            .map(|cached| Arc::clone(&cached.credentials))
    }

    /// What a caller is told while no usable credentials are at hand.
    fn failure(&self, link: &str) -> CredentialsError {
        let last_error = self.last_error.as_ref();
        match &self.current {
            Some(cached) => CredentialsError::Expired {
                link: link.to_string(),
                expired_at: format_expiration(cached.expires_at),
                last_error: last_error
                    .map_or_else(|| "no refresh has succeeded".to_string(), ToString::to_string),
            },
            None => last_error
                .cloned()
                .unwrap_or_else(|| CredentialsError::invalid(link, "no credentials fetched yet")),
        }
    }
}

impl Cached {
    fn new(expiring: Expiring, now: SystemTime) -> Self {
        let lifetime = expiring.expires_at.duration_since(now).unwrap_or_default();
        let margin = (lifetime / 4).min(MAX_MARGIN);
        let jitter = margin.mul_f64(rand::random::<f64>() / 3.0);
        let guard = (lifetime / 20).min(MAX_GUARD);
        Cached {
            credentials: Arc::new(expiring.credentials),
            expires_at: expiring.expires_at,
            refresh_at: expiring.expires_at - (margin - jitter),
            usable_until: expiring.expires_at - guard,
        }
    }
}

/// Credentials that arrive already expired mean a wrong clock here or there: an error, not a
/// reason to sign with them.
fn usable_on_arrival(expiring: Expiring, now: SystemTime, link: &str) -> Result<Expiring, CredentialsError> {
    if expiring.expires_at > now {
        return Ok(expiring);
    }
    Err(CredentialsError::invalid(
        link,
        format!(
            "the credentials received expire at {}, which is not after this host's clock ({}): is the clock right?",
            format_expiration(expiring.expires_at),
            format_expiration(now)
        ),
    ))
}

impl<F: Fetch> CredentialsProvider for Refreshing<F> {
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(self.get())
    }

    fn describe(&self) -> &str {
        self.fetcher.describe()
    }

    fn refresh_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed) + self.fetcher.upstream_errors()
    }

    fn invalidate(&self) {
        let now = (self.clock)();
        let mut state = self.lock();
        if let Some(cached) = &mut state.current {
            cached.refresh_at = now;
            cached.usable_until = cached.usable_until.min(now);
        }
        state.retry_at = None;
    }
}

impl<F: Fetch> fmt::Debug for Refreshing<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refreshing").field("fetcher", &self.fetcher).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Hands out `STS.<n>` credentials living `lifetime` from the (fake) clock, or fails.
    #[derive(Debug)]
    struct Scripted {
        now: Arc<Mutex<SystemTime>>,
        lifetime: Duration,
        fetches: Arc<AtomicUsize>,
        failing: Arc<std::sync::atomic::AtomicBool>,
        delay: Duration,
    }

    impl Fetch for Scripted {
        fn fetch(&self) -> FetchFuture<'_> {
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
                if self.failing.load(Ordering::SeqCst) {
                    return Err(CredentialsError::Transport {
                        link: "test".into(),
                        endpoint: "sts".into(),
                        detail: "down".into(),
                    });
                }
                let now = *crate::util::lock(&self.now);
                Ok(Expiring {
                    credentials: Credentials::new(format!("STS.{n}"), "s").with_security_token("t"),
                    expires_at: now + self.lifetime,
                })
            })
        }
        fn describe(&self) -> &str {
            "test"
        }
    }

    struct Rig {
        now: Arc<Mutex<SystemTime>>,
        fetches: Arc<AtomicUsize>,
        failing: Arc<std::sync::atomic::AtomicBool>,
        provider: Arc<Refreshing<Scripted>>,
        start: SystemTime,
    }

    impl Rig {
        fn new(lifetime: Duration, delay: Duration) -> Rig {
            let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let now = Arc::new(Mutex::new(start));
            let fetches = Arc::new(AtomicUsize::new(0));
            let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let fetcher = Scripted {
                now: Arc::clone(&now),
                lifetime,
                fetches: Arc::clone(&fetches),
                failing: Arc::clone(&failing),
                delay,
            };
            let clock_now = Arc::clone(&now);
            let clock: Clock = Arc::new(move || *crate::util::lock(&clock_now));
            Rig { now, fetches, failing, provider: Arc::new(Refreshing::with_clock(fetcher, clock)), start }
        }

        fn at(&self, since_start: Duration) {
            *crate::util::lock(&self.now) = self.start + since_start;
        }

        async fn key_id(&self) -> Result<String, CredentialsError> {
            self.provider.credentials().await.map(|c| c.access_key_id.clone())
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn cached_credentials_serve_until_two_to_three_minutes_before_expiry() {
        let rig = Rig::new(HOUR, Duration::ZERO);
        assert_eq!(rig.key_id().await.unwrap(), "STS.1");
        rig.at(50 * MINUTE);
        assert_eq!(rig.key_id().await.unwrap(), "STS.1");
        rig.at(HOUR - MINUTE * 3 - Duration::from_secs(1));
        assert_eq!(rig.key_id().await.unwrap(), "STS.1", "not yet in the margin");
        rig.at(HOUR - MINUTE * 2);
        assert_eq!(rig.key_id().await.unwrap(), "STS.2", "refreshed inside the margin");
        assert_eq!(rig.fetches.load(Ordering::SeqCst), 2);
        assert_eq!(rig.provider.refresh_errors(), 0);
    }

    #[tokio::test]
    async fn short_lifetimes_scale_the_margin() {
        let rig = Rig::new(Duration::from_secs(8), Duration::ZERO);
        rig.key_id().await.unwrap();
        rig.at(Duration::from_millis(5900));
        assert_eq!(rig.key_id().await.unwrap(), "STS.1", "a quarter of 8s, less jitter, is at most 2s");
        rig.at(Duration::from_millis(6700));
        assert_eq!(rig.key_id().await.unwrap(), "STS.2", "at least 2s less a third");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_one_fetch() {
        let rig = Rig::new(HOUR, Duration::from_millis(50));
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let provider = Arc::clone(&rig.provider);
            callers.spawn(async move { provider.credentials().await.map(|c| c.access_key_id.clone()) });
        }
        while let Some(result) = callers.join_next().await {
            assert_eq!(result.unwrap().unwrap(), "STS.1");
        }
        assert_eq!(rig.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn callers_keep_good_credentials_while_another_refreshes() {
        let rig = Rig::new(HOUR, Duration::from_millis(100));
        rig.key_id().await.unwrap();
        rig.at(HOUR - MINUTE);
        let refresher = {
            let provider = Arc::clone(&rig.provider);
            tokio::spawn(async move { provider.credentials().await.map(|c| c.access_key_id.clone()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = std::time::Instant::now();
        assert_eq!(rig.key_id().await.unwrap(), "STS.1", "served at once, not after the refresh");
        assert!(started.elapsed() < Duration::from_millis(80));
        assert_eq!(refresher.await.unwrap().unwrap(), "STS.2");
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_old_credentials_until_they_expire_then_fails() {
        let rig = Rig::new(HOUR, Duration::ZERO);
        rig.key_id().await.unwrap();
        rig.failing.store(true, Ordering::SeqCst);

        rig.at(HOUR - MINUTE * 2);
        assert_eq!(rig.key_id().await.unwrap(), "STS.1", "kept after a failed refresh");
        assert_eq!(rig.provider.refresh_errors(), 1);
        rig.at(HOUR - MINUTE * 2 + Duration::from_secs(1));
        assert_eq!(rig.key_id().await.unwrap(), "STS.1");
        assert_eq!(rig.fetches.load(Ordering::SeqCst), 2, "no new attempt inside the backoff");

        rig.at(HOUR - Duration::from_secs(10));
        assert_eq!(rig.key_id().await.unwrap(), "STS.1", "still valid: kept");
        assert_eq!(rig.provider.refresh_errors(), 2);

        rig.at(HOUR - Duration::from_secs(2));
        let err = rig.key_id().await.unwrap_err();
        assert!(matches!(err, CredentialsError::Expired { .. }), "{err}");
        assert!(err.to_string().contains("down"), "{err}");
        rig.at(HOUR + MINUTE);
        assert!(rig.key_id().await.is_err(), "never the expired credentials");

        rig.failing.store(false, Ordering::SeqCst);
        rig.at(HOUR + MINUTE * 2);
        assert!(rig.key_id().await.unwrap().starts_with("STS."), "recovers once STS answers");
    }

    #[tokio::test]
    async fn a_failed_first_fetch_is_an_error_counted_and_retried_after_a_pause() {
        let rig = Rig::new(HOUR, Duration::ZERO);
        rig.failing.store(true, Ordering::SeqCst);
        let err = rig.key_id().await.unwrap_err();
        assert!(matches!(err, CredentialsError::Transport { .. }), "{err}");
        assert!(rig.key_id().await.is_err());
        assert_eq!(rig.fetches.load(Ordering::SeqCst), 1, "callers inside the backoff get the error");
        rig.failing.store(false, Ordering::SeqCst);
        rig.at(Duration::from_secs(2));
        assert_eq!(rig.key_id().await.unwrap(), "STS.2");
        assert_eq!(rig.provider.refresh_errors(), 1);
    }

    #[tokio::test]
    async fn credentials_that_arrive_expired_are_refused() {
        let rig = Rig::new(Duration::ZERO, Duration::ZERO);
        let err = rig.key_id().await.unwrap_err();
        assert!(err.to_string().contains("is the clock right"), "{err}");
    }

    #[tokio::test]
    async fn invalidated_credentials_are_fetched_again() {
        let rig = Rig::new(HOUR, Duration::ZERO);
        rig.key_id().await.unwrap();
        rig.provider.invalidate();
        assert_eq!(rig.key_id().await.unwrap(), "STS.2");
    }
}
