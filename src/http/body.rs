//! The response body: a few shared byte chunks written in order, with an exact length, so a
//! scrape sends the cached exposition without copying it into one buffer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

#[derive(Debug, Default)]
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        // An empty chunk would be an empty DATA frame and would make `is_end_stream` lie.
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|chunk| !chunk.is_empty()).collect();
        let remaining = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        Chunks { chunks, remaining }
    }

    /// Everything left, in one buffer (for tests and small bodies).
    pub fn concat(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|chunk| chunk.iter().copied()).collect()
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
        Poll::Ready(this.chunks.pop_front().map(|chunk| {
            this.remaining -= chunk.len() as u64;
            Ok(Frame::data(chunk))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
