//! The cached exposition that scrapes share: the task series rendered again only when the store
//! has changed (single listings debounced), gzipped once per render on first demand, and the
//! exporter's own metrics, re-encoded at most once per [`OWN_METRICS_MAX_AGE`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{render_view, Layout, Rope};
use crate::metrics::ExporterMetrics;
use crate::state::{Publication, Store};

/// One render of the task series, with its gzip form made on first demand.
#[derive(Debug)]
struct Rendered {
    publication: Publication,
    rendered_at: Instant,
    plain: Vec<Bytes>,
    gzip: OnceLock<Bytes>,
}

impl Rendered {
    /// Whether a scrape at `now` may still be served this render of the store at `current`.
    fn serves(&self, current: Publication, now: Instant, debounce: Duration) -> bool {
        self.publication == current
            || (self.publication.milestones == current.milestones
                && now.duration_since(self.rendered_at) < debounce)
    }
}

/// How long single listings may wait to be published: renders of a large estate are not free.
pub const RENDER_DEBOUNCE: Duration = Duration::from_secs(1);

/// What a scrape sends: chunks to write in order, gzip members when `gzip` is set (a gzip
/// stream may consist of several members; HTTP clients, Prometheus included, read them as one).
#[derive(Debug)]
pub struct Scrape {
    pub chunks: Vec<Bytes>,
    pub gzip: bool,
}

impl Scrape {
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The cached exposition: the task series are rendered when the store has changed (single
/// listings debounced), and every scrape in between shares the same bytes.
#[derive(Debug)]
pub struct Exposition {
    store: Arc<Store>,
    metrics: ExporterMetrics,
    debounce: Duration,
    layout: Mutex<Layout>,
    cache: Mutex<Option<Arc<Rendered>>>,
    own: Mutex<Option<Arc<OwnMetrics>>>,
}

/// How stale the exporter's own metrics (API counters, process figures) may be in a scrape.
pub const OWN_METRICS_MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct OwnMetrics {
    encoded_at: Instant,
    plain: Bytes,
    gzip: Bytes,
}

impl Exposition {
    pub fn new(store: Arc<Store>, metrics: ExporterMetrics, layout: Layout) -> Self {
        Exposition {
            store,
            metrics,
            debounce: RENDER_DEBOUNCE,
            layout: Mutex::new(layout),
            cache: Mutex::new(None),
            own: Mutex::new(None),
        }
    }

    /// Another debounce than [`RENDER_DEBOUNCE`] (tests).
    pub fn with_debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// Whether every target has been listed at least once.
    pub fn ready(&self) -> bool {
        self.store.first_round_done()
    }

    /// After a reload: the next scrape renders with the new layout.
    pub fn set_layout(&self, layout: Layout) {
        *self.layout.lock().expect("layout lock poisoned") = layout;
        *self.cache.lock().expect("render cache poisoned") = None;
    }

    fn rendered(&self) -> Arc<Rendered> {
        let current = self.store.publication();
        let mut cache = self.cache.lock().expect("render cache poisoned");
        if let Some(rendered) = cache.as_ref().filter(|r| r.serves(current, Instant::now(), self.debounce)) {
            return Arc::clone(rendered);
        }
        let layout = self.layout.lock().expect("layout lock poisoned").clone();
        let (publication, chunks) = self.store.read(|view, publication| {
            let mut rope = Rope::default();
            render_view(view, &layout, &mut rope);
            (publication, rope.into_chunks())
        });
        let rendered_at = Instant::now();
        let rendered = Arc::new(Rendered { publication, rendered_at, plain: chunks, gzip: OnceLock::new() });
        *cache = Some(Arc::clone(&rendered));
        rendered
    }

    /// The task series, rendered again only when the store has changed.
    pub fn task_series(&self) -> Vec<Bytes> {
        self.rendered().plain.clone()
    }

    /// The chunks of one scrape: the cached task series (gzipped once per render when asked)
    /// and the exporter's own metrics, at most [`OWN_METRICS_MAX_AGE`] old.
    pub fn scrape(&self, gzip: bool) -> Scrape {
        let rendered = self.rendered();
        let own = self.own_metrics();
        if gzip {
            let tasks = rendered.gzip.get_or_init(|| Bytes::from(gzip_chunks(&rendered.plain))).clone();
            Scrape { chunks: vec![tasks, own.gzip.clone()], gzip: true }
        } else {
            let mut chunks = rendered.plain.clone();
            chunks.push(own.plain.clone());
            Scrape { chunks, gzip: false }
        }
    }

    /// The exporter's own metrics, encoded (and gzipped) at most once per
    /// [`OWN_METRICS_MAX_AGE`]: reading /proc and encoding every histogram on each of many
    /// scrapes a second would make them the cost of a scrape.
    fn own_metrics(&self) -> Arc<OwnMetrics> {
        let mut cached = self.own.lock().expect("own metrics cache poisoned");
        if let Some(own) = cached.as_ref().filter(|own| own.encoded_at.elapsed() < OWN_METRICS_MAX_AGE) {
            return Arc::clone(own);
        }
        let mut text = Vec::with_capacity(16 * 1024);
        self.metrics.encode(&mut text);
        let plain = Bytes::from(text);
        let gzip = Bytes::from(gzip_chunks(std::slice::from_ref(&plain)));
        let own = Arc::new(OwnMetrics { encoded_at: Instant::now(), plain, gzip });
        *cached = Some(Arc::clone(&own));
        own
    }

    /// The whole plain-text body of a scrape, in one buffer (for `once` and tests).
    pub fn body(&self) -> Vec<u8> {
        self.scrape(false).chunks.concat()
    }
}

/// One complete gzip member of the chunks. Fast compression: the exposition is re-compressed
/// every cycle.
fn gzip_chunks(chunks: &[Bytes]) -> Vec<u8> {
    use std::io::Write as _;
    let size: usize = chunks.iter().map(Bytes::len).sum();
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(size / 16 + 64), flate2::Compression::fast());
    for chunk in chunks {
        encoder.write_all(chunk).expect("writing to a Vec cannot fail");
    }
    let mut zipped = encoder.finish().expect("writing to a Vec cannot fail");
    zipped.shrink_to_fit();
    zipped
}
