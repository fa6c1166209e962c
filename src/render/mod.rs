//! The Prometheus text exposition of the task aggregates, in four parts by job:
//!
//! - [`Rope`] (`rope.rs`): the chunked buffer the exposition is written into;
//! - `text.rs`: the text format: a family is declared once with its name, help and type, and
//!   its samples are written through it, so no metric name is spelt twice;
//! - [`render_view`] (`series.rs`): which series a [`StoreView`](crate::store::StoreView) shows;
//! - [`Exposition`] (`exposition.rs`): the cached, gzipped exposition that scrapes share.
//!
//! The task series are rendered when the store has changed: at once after a milestone (a round
//! over every target, an expiry, a reload), at most once per [`RENDER_DEBOUNCE`] for single
//! listings, so a completed listing shows within about a second while a large estate is not
//! rendered for every scrape. Every scrape in between gets the same bytes, gzipped once per
//! render for clients that ask. The exporter's own metrics (API counters, process figures) are
//! appended, re-encoded at most once per [`OWN_METRICS_MAX_AGE`].

mod exposition;
mod rope;
mod scrape;
mod series;
mod text;

pub use exposition::{Exposition, OWN_METRICS_MAX_AGE, RENDER_DEBOUNCE};
pub use rope::{Rope, Sink};
pub use scrape::{Scrape, PLAIN_KEPT_UP_TO};
pub use series::render_view;

#[cfg(test)]
mod tests;
