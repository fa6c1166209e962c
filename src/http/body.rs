//! The response body: shared byte chunks written in order, with an exact length, so a scrape
//! sends the cached exposition without copying it into one buffer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::render::Scrape;

pub struct Chunks {
    chunks: Box<dyn Iterator<Item = Bytes> + Send>,
    remaining: u64,
}

impl Chunks {
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        // An empty chunk would be an empty DATA frame and would make `is_end_stream` lie.
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|chunk| !chunk.is_empty()).collect();
        let remaining = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        Chunks { chunks: Box::new(chunks.into_iter()), remaining }
    }
}

impl std::fmt::Debug for Chunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunks").field("remaining", &self.remaining).finish_non_exhaustive()
    }
}

/// A scrape is sent as it comes: the plain text of a large exposition is inflated a piece at a
/// time while the socket takes it. Its length is known in advance.
impl From<Scrape> for Chunks {
    fn from(scrape: Scrape) -> Self {
        let remaining = scrape.len() as u64;
        Chunks { chunks: Box::new(scrape.filter(|chunk| !chunk.is_empty())), remaining }
    }
}

impl From<&'static str> for Chunks {
    fn from(text: &'static str) -> Self {
        Chunks::new([Bytes::from_static(text.as_bytes())])
    }
}

impl From<String> for Chunks {
    fn from(text: String) -> Self {
        Chunks::new([Bytes::from(text)])
    }
}

impl From<Vec<u8>> for Chunks {
    fn from(bytes: Vec<u8>) -> Self {
        Chunks::new([Bytes::from(bytes)])
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(this.chunks.next().map(|chunk| {
            this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
            Ok(Frame::data(chunk))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
