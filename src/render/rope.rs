//! The chunked buffer the exposition is written into.

use std::fmt;

use bytes::Bytes;

/// Where the chunks of a [`Rope`] go as they fill up: kept ([`Vec<Bytes>`], the default), or
/// passed on at once (compressed, written out), so that a large exposition is never whole.
pub trait Sink {
    fn take(&mut self, chunk: Bytes);

    /// The size of the chunks it takes: large for chunks that are kept and sent as they are,
    /// small for chunks passed on at once (less memory in flight).
    fn chunk_size(&self) -> usize {
        KEPT_CHUNK
    }
}

impl Sink for Vec<Bytes> {
    fn take(&mut self, chunk: Bytes) {
        self.push(chunk);
    }
}

/// The exposition as frozen chunks of about [`Sink::chunk_size`] bytes handed to a [`Sink`]: a large
/// exposition is never reallocated while it grows, and each chunk goes on as it is.
#[derive(Debug, Default)]
pub struct Rope<S: Sink = Vec<Bytes>> {
    done: S,
    current: String,
}

/// The chunk size of sinks that keep their chunks.
pub const KEPT_CHUNK: usize = 1 << 20;

/// The chunk size of sinks that pass their chunks on at once.
pub const PASSED_ON_CHUNK: usize = 64 << 10;

impl Rope {
    pub fn into_chunks(self) -> Vec<Bytes> {
        self.finish()
    }
}

impl<S: Sink> Rope<S> {
    /// A rope that hands each full chunk to `sink`.
    pub fn new(sink: S) -> Self {
        Rope { done: sink, current: String::new() }
    }

    pub fn push_str(&mut self, text: &str) {
        let chunk_size = self.done.chunk_size();
        if self.current.len() + text.len() > chunk_size && !self.current.is_empty() {
            self.freeze();
        }
        if self.current.capacity() == 0 {
            self.current.reserve(chunk_size.max(text.len()));
        }
        self.current.push_str(text);
    }

    pub fn push(&mut self, c: char) {
        let mut buffer = [0u8; 4];
        self.push_str(c.encode_utf8(&mut buffer));
    }

    fn freeze(&mut self) {
        let full = std::mem::take(&mut self.current);
        self.done.take(Bytes::from(full));
    }

    /// Hands on the last chunk and gives the sink back.
    pub fn finish(mut self) -> S {
        if !self.current.is_empty() {
            // Shrink the last, partly filled chunk: it may be kept for a whole cycle.
            self.current.shrink_to_fit();
            self.freeze();
        }
        self.done
    }
}

impl<S: Sink> fmt::Write for Rope<S> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.push_str(text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_exposition_is_split_into_chunks_on_line_boundaries_or_not_at_all() {
        let mut rope = Rope::default();
        let line = "x".repeat(1000) + "\n";
        for _ in 0..3000 {
            rope.push_str(&line);
        }
        let chunks = rope.into_chunks();
        assert!(chunks.len() >= 2, "3 MB must span several chunks");
        assert!(chunks.iter().all(|c| c.ends_with(b"\n")), "pushes are never split");
        assert_eq!(chunks.iter().map(Bytes::len).sum::<usize>(), 3000 * 1001);
    }

    #[test]
    fn a_small_exposition_is_one_chunk_of_exactly_what_was_written() {
        let mut rope = Rope::default();
        rope.push_str("a 1\n");
        rope.push('b');
        fmt::Write::write_fmt(&mut rope, format_args!(" {}\n", 2)).unwrap();
        assert_eq!(rope.into_chunks(), vec![Bytes::from_static(b"a 1\nb 2\n")]);
        assert!(Rope::default().into_chunks().is_empty(), "nothing written, no chunk");
    }
}
