//! The cached exposition that scrapes share: the task series rendered again only when the store
//! has changed (single listings debounced) and the exporter's own metrics, re-encoded at most
//! once per [`OWN_METRICS_MAX_AGE`]. A small render is kept as plain text and gzipped once on
//! first demand; a large one is gzipped as it is written and only that form is kept, plain
//! scrapes inflating it as they are sent ([`PLAIN_KEPT_UP_TO`]).

use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::scrape::{gzip, Cached, Scrape, Written, PLAIN_KEPT_UP_TO};
use super::{render_view, Rope};
use crate::metrics::ExporterMetrics;
use crate::store::{Publication, Store};

/// One render of the task series: its plain text when small, its gzip form (made on first
/// demand when the plain text is kept, at render time when it is not).
#[derive(Debug)]
struct Rendered {
    publication: Publication,
    rendered_at: Instant,
    plain_len: usize,
    plain: Option<Vec<Bytes>>,
    gzip: OnceLock<Vec<Bytes>>,
}

impl Rendered {
    /// Whether a scrape at `now` may still be served this render of the store at `current`.
    fn serves(&self, current: Publication, now: Instant, debounce: Duration) -> bool {
        self.publication == current
            || (self.publication.milestones == current.milestones
                && now.duration_since(self.rendered_at) < debounce)
    }

    fn gzip(&self) -> Vec<Bytes> {
        let plain = self.plain.as_deref().unwrap_or_default();
        self.gzip.get_or_init(|| gzip(plain)).clone()
    }
}

/// About what a target adds to the plain exposition at the default `metrics:` (3.2 KiB at
/// 20,000 targets): the first render's guess of its own size.
const PLAIN_BYTES_PER_TARGET: usize = 3 << 10;

/// How long single listings may wait to be published: renders of a large estate are not free.
pub const RENDER_DEBOUNCE: Duration = Duration::from_secs(1);

/// The cached exposition: the task series are rendered when the store has changed (single
/// listings debounced), and every scrape in between shares the same bytes.
#[derive(Debug)]
pub struct Exposition {
    store: Arc<Store>,
    metrics: ExporterMetrics,
    debounce: Duration,
    /// Plain text up to this size is kept; larger renders only as gzip.
    plain_kept_up_to: usize,
    /// Held only to look at or replace the last render, never while rendering.
    cache: Mutex<Option<Arc<Rendered>>>,
    /// Held while rendering, so that scrapes arriving meanwhile wait for that render (off the
    /// async workers) instead of rendering again.
    rendering: Mutex<()>,
    own: Mutex<Option<Arc<OwnMetrics>>>,
}

/// How stale the exporter's own metrics (API counters, process figures) may be in a scrape.
pub const OWN_METRICS_MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct OwnMetrics {
    encoded_at: Instant,
    plain: Bytes,
    gzip: Vec<Bytes>,
}

impl Exposition {
    /// The exposition of `store`, laid out as the store's current generation says.
    pub fn new(store: Arc<Store>, metrics: ExporterMetrics) -> Self {
        Exposition {
            store,
            metrics,
            debounce: RENDER_DEBOUNCE,
            plain_kept_up_to: PLAIN_KEPT_UP_TO,
            cache: Mutex::new(None),
            rendering: Mutex::new(()),
            own: Mutex::new(None),
        }
    }

    /// Another debounce than [`RENDER_DEBOUNCE`].
    #[cfg(test)]
    pub(crate) fn with_debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// Another size than [`PLAIN_KEPT_UP_TO`] up to which the plain text is kept.
    #[cfg(test)]
    pub(crate) fn with_plain_kept_up_to(mut self, bytes: usize) -> Self {
        self.plain_kept_up_to = bytes;
        self
    }

    /// Whether every target has been listed at least once.
    pub fn ready(&self) -> bool {
        self.store.first_round_done()
    }

    /// The last render, when it may still be served now.
    fn cached(&self) -> Option<Arc<Rendered>> {
        let current = self.store.publication();
        let cache = crate::util::lock(&self.cache);
        cache.as_ref().filter(|r| r.serves(current, Instant::now(), self.debounce)).cloned()
    }

    /// The last render if it may still be served, else a new one. Blocks for as long as a
    /// render takes: the server calls it through [`Exposition::serve`].
    fn rendered(&self) -> Arc<Rendered> {
        if let Some(rendered) = self.cached() {
            return rendered;
        }
        let _rendering = crate::util::lock(&self.rendering);
        // Another scrape may have rendered while this one waited.
        if let Some(rendered) = self.cached() {
            return rendered;
        }
        let last_len = crate::util::lock(&self.cache).as_ref().map(|last| last.plain_len);
        let (publication, finished) = self.store.read(|view, publication| {
            // Whether the plain text will be kept is decided before rendering, from the last
            // render's size or, for the first, from the number of targets: a large exposition
            // is gzipped from its first chunk on, never held in part as plain text.
            let expected = last_len
                .unwrap_or_else(|| view.generation.targets.len().saturating_mul(PLAIN_BYTES_PER_TARGET));
            let keep_up_to = if expected > self.plain_kept_up_to { 0 } else { self.plain_kept_up_to };
            let mut rope = Rope::new(Cached::new(keep_up_to));
            render_view(view, &mut rope);
            (publication, rope.finish().finish())
        });
        let gzip = OnceLock::new();
        if let Some(zipped) = finished.gzip {
            let _ = gzip.set(zipped);
        }
        let rendered = Arc::new(Rendered {
            publication,
            rendered_at: Instant::now(),
            plain_len: finished.len,
            plain: finished.plain,
            gzip,
        });
        *crate::util::lock(&self.cache) = Some(Arc::clone(&rendered));
        rendered
    }

    /// One scrape for the HTTP server: the prepared bytes when they may be served, else a
    /// render on a blocking thread, so that a large estate never stalls an async worker.
    pub async fn serve(self: Arc<Self>, gzip: bool) -> Scrape {
        if self.cached().is_some() {
            return self.scrape(gzip);
        }
        match tokio::task::spawn_blocking(move || self.scrape(gzip)).await {
            Ok(scrape) => scrape,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }

    /// The task series, rendered again only when the store has changed.
    #[cfg(test)]
    pub(crate) fn task_series(&self) -> Vec<Bytes> {
        let rendered = self.rendered();
        match &rendered.plain {
            Some(plain) => plain.clone(),
            None => {
                let mut scrape = Scrape::new(false);
                scrape.push_inflated(rendered.gzip(), rendered.plain_len);
                scrape.collect()
            }
        }
    }

    /// One scrape: the cached task series (gzipped once per render when asked) and the
    /// exporter's own metrics, at most [`OWN_METRICS_MAX_AGE`] old.
    pub fn scrape(&self, gzip: bool) -> Scrape {
        let rendered = self.rendered();
        let own = self.own_metrics();
        let mut scrape = Scrape::new(gzip);
        match (gzip, &rendered.plain) {
            (true, _) => {
                rendered.gzip().into_iter().for_each(|chunk| scrape.push(chunk));
                own.gzip.iter().cloned().for_each(|chunk| scrape.push(chunk));
                return scrape;
            }
            (false, Some(plain)) => plain.iter().cloned().for_each(|chunk| scrape.push(chunk)),
            (false, None) => scrape.push_inflated(rendered.gzip(), rendered.plain_len),
        }
        scrape.push(own.plain.clone());
        scrape
    }

    /// Renders the plain exposition straight into `out`, a chunk at a time, without keeping
    /// it (`once`): the task series of the store as it is now, then the exporter's own metrics.
    pub fn write_plain(&self, out: impl io::Write) -> io::Result<()> {
        let mut written = self.store.read(|view, _| {
            let mut rope = Rope::new(Written { out, error: None });
            render_view(view, &mut rope);
            rope.finish()
        });
        if let Some(error) = written.error {
            return Err(error);
        }
        let mut own = Vec::with_capacity(16 * 1024);
        self.metrics.encode(&mut own);
        written.out.write_all(&own)?;
        written.out.flush()
    }

    /// The exporter's own metrics, encoded (and gzipped) at most once per
    /// [`OWN_METRICS_MAX_AGE`]: reading /proc and encoding every histogram on each of many
    /// scrapes a second would make them the cost of a scrape.
    fn own_metrics(&self) -> Arc<OwnMetrics> {
        let mut cached = crate::util::lock(&self.own);
        if let Some(own) = cached.as_ref().filter(|own| own.encoded_at.elapsed() < OWN_METRICS_MAX_AGE) {
            return Arc::clone(own);
        }
        let mut text = Vec::with_capacity(16 * 1024);
        self.metrics.encode(&mut text);
        let plain = Bytes::from(text);
        let gzip = gzip(std::slice::from_ref(&plain));
        let own = Arc::new(OwnMetrics { encoded_at: Instant::now(), plain, gzip });
        *cached = Some(Arc::clone(&own));
        own
    }

    /// The whole plain-text body of a scrape, in one buffer.
    #[cfg(test)]
    pub(crate) fn body(&self) -> Vec<u8> {
        self.scrape(false).concat()
    }
}
