//! What one scrape sends, and the sinks a render is written through: the plain text kept
//! while it is small, the gzip form made as the text is written, or the text written out.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read as _, Write as _};

use bytes::{Buf as _, Bytes};
use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::rope::{Sink, KEPT_CHUNK, PASSED_ON_CHUNK};

/// Plain text up to this size is kept beside its gzip form, so plain scrapes of a small or
/// medium estate (about 7 MB at 1,000 instances) are served as they are; above it, only the
/// gzip form is kept (about 4% of the size) and a plain scrape inflates it as it is sent.
pub const PLAIN_KEPT_UP_TO: usize = 16 << 20;

/// How much plain text a scrape inflates at a time.
const INFLATED_PIECE: usize = 256 << 10;

/// What a scrape sends, in order, with its exact length: shared chunks as they are, and, for a
/// plain scrape of a large exposition, the task series inflated from the gzip copy piece by
/// piece. A gzip body may consist of several members; HTTP clients, Prometheus included, read
/// them as one stream.
#[derive(Debug)]
pub struct Scrape {
    pub gzip: bool,
    parts: VecDeque<Part>,
    remaining: usize,
}

enum Part {
    Chunk(Bytes),
    Inflate { decoder: Box<GzDecoder<ChunkReader>>, left: usize },
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Chunk(chunk) => write!(f, "Chunk({} bytes)", chunk.len()),
            Part::Inflate { left, .. } => write!(f, "Inflate({left} bytes left)"),
        }
    }
}

impl Scrape {
    pub(super) fn new(gzip: bool) -> Self {
        Scrape { gzip, parts: VecDeque::new(), remaining: 0 }
    }

    pub(super) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.remaining += chunk.len();
            self.parts.push_back(Part::Chunk(chunk));
        }
    }

    /// The plain text of `gzip`, `plain_len` bytes once inflated, sent as it is inflated.
    pub(super) fn push_inflated(&mut self, gzip: Vec<Bytes>, plain_len: usize) {
        if plain_len > 0 {
            self.remaining += plain_len;
            let decoder = Box::new(GzDecoder::new(ChunkReader(gzip.into())));
            self.parts.push_back(Part::Inflate { decoder, left: plain_len });
        }
    }

    /// Bytes still to send.
    pub fn len(&self) -> usize {
        self.remaining
    }

    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// Everything left, in one buffer (for `once`'s tests and small bodies).
    pub fn concat(self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.remaining);
        for chunk in self {
            all.extend_from_slice(&chunk);
        }
        all
    }
}

impl Iterator for Scrape {
    type Item = Bytes;

    /// The next piece to send. The gzip copy was made from this very text, so it inflates to
    /// exactly the announced length; should it not, the body ends short and the client sees
    /// a truncated response rather than a wrong one.
    fn next(&mut self) -> Option<Bytes> {
        loop {
            match self.parts.front_mut()? {
                Part::Chunk(_) => {
                    let Some(Part::Chunk(chunk)) = self.parts.pop_front() else { unreachable!() };
                    self.remaining -= chunk.len();
                    return Some(chunk);
                }
                Part::Inflate { decoder, left } => {
                    let mut piece = vec![0; INFLATED_PIECE.min(*left)];
                    let filled = fill(decoder, &mut piece);
                    piece.truncate(filled);
                    *left -= filled;
                    self.remaining -= filled;
                    if filled == 0 || *left == 0 {
                        if *left > 0 {
                            tracing::error!(
                                missing = *left,
                                "the gzip copy of the exposition inflated short"
                            );
                            self.remaining -= *left;
                        }
                        self.parts.pop_front();
                    }
                    if filled > 0 {
                        return Some(Bytes::from(piece));
                    }
                }
            }
        }
    }
}

/// Reads until `buffer` is full or the stream ends; how much was read.
fn fill(decoder: &mut GzDecoder<ChunkReader>, buffer: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buffer.len() {
        match decoder.read(&mut buffer[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    filled
}

/// Chunks read in order, without copying them into one buffer.
struct ChunkReader(VecDeque<Bytes>);

impl io::Read for ChunkReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buffer.len());
        buffer[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.0.front().is_some_and(Bytes::is_empty) {
            self.0.pop_front();
        }
        Ok(self.0.front().map_or(&[], |chunk| &chunk[..]))
    }

    fn consume(&mut self, n: usize) {
        if let Some(chunk) = self.0.front_mut() {
            chunk.advance(n);
        }
    }
}

/// One complete gzip member, as chunks. Fast compression: the exposition is compressed again
/// at every render.
pub(super) fn gzip(chunks: &[Bytes]) -> Vec<Bytes> {
    let mut zipped = Zipped::default();
    for chunk in chunks {
        zipped.write(chunk);
    }
    zipped.finish()
}

/// A gzip member written as the text comes, into chunks of [`ZIPPED_CHUNK`]: it grows without
/// being copied to a larger buffer, and its last chunk is cut to size.
pub(super) struct Zipped(GzEncoder<ChunkWriter>);

const ZIPPED_CHUNK: usize = 256 << 10;

impl Default for Zipped {
    fn default() -> Self {
        Zipped(GzEncoder::new(ChunkWriter::default(), Compression::fast()))
    }
}

impl Zipped {
    fn write(&mut self, text: &[u8]) {
        self.0.write_all(text).expect("writing to memory cannot fail");
    }

    pub(super) fn finish(self) -> Vec<Bytes> {
        let mut out = self.0.finish().expect("writing to memory cannot fail");
        if !out.current.is_empty() {
            out.current.shrink_to_fit();
            out.done.push(Bytes::from(out.current));
        }
        out.done
    }
}

#[derive(Default)]
struct ChunkWriter {
    done: Vec<Bytes>,
    current: Vec<u8>,
}

impl io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.current.len() == ZIPPED_CHUNK {
            self.done.push(Bytes::from(std::mem::take(&mut self.current)));
        }
        if self.current.capacity() == 0 {
            self.current.reserve_exact(ZIPPED_CHUNK);
        }
        let n = bytes.len().min(ZIPPED_CHUNK - self.current.len());
        self.current.extend_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The sink of a cached render: the plain chunks are kept while they add up to at most
/// `keep_up_to` ([`PLAIN_KEPT_UP_TO`]); past that they are gzipped as they come and only the
/// gzip form stays.
pub(super) struct Cached {
    keep_up_to: usize,
    plain: Vec<Bytes>,
    len: usize,
    zipped: Option<Zipped>,
}

/// A finished render: its plain length, the plain chunks when they were kept, and the gzip
/// form when it was made on the way.
pub(super) struct Finished {
    pub len: usize,
    pub plain: Option<Vec<Bytes>>,
    pub gzip: Option<Vec<Bytes>>,
}

impl Cached {
    pub(super) fn new(keep_up_to: usize) -> Self {
        Cached { keep_up_to, plain: Vec::new(), len: 0, zipped: None }
    }

    pub(super) fn finish(self) -> Finished {
        match self.zipped {
            Some(zipped) => Finished { len: self.len, plain: None, gzip: Some(zipped.finish()) },
            None => Finished { len: self.len, plain: Some(self.plain), gzip: None },
        }
    }
}

impl Sink for Cached {
    fn chunk_size(&self) -> usize {
        if self.keep_up_to == 0 {
            PASSED_ON_CHUNK
        } else {
            KEPT_CHUNK
        }
    }

    fn take(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        if let Some(zipped) = &mut self.zipped {
            zipped.write(&chunk);
            return;
        }
        self.plain.push(chunk);
        if self.len > self.keep_up_to {
            let mut zipped = Zipped::default();
            for kept in std::mem::take(&mut self.plain) {
                zipped.write(&kept);
            }
            self.zipped = Some(zipped);
        }
    }
}

/// The sink of `once`: each chunk written out as soon as it is full; the first error is kept
/// and ends the writing.
pub(super) struct Written<W: io::Write> {
    pub out: W,
    pub error: Option<io::Error>,
}

impl<W: io::Write> Sink for Written<W> {
    fn chunk_size(&self) -> usize {
        PASSED_ON_CHUNK
    }

    fn take(&mut self, chunk: Bytes) {
        if self.error.is_none() {
            self.error = self.out.write_all(&chunk).err();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_text_is_inflated_in_pieces_to_exactly_what_was_gzipped() {
        let text: Vec<Bytes> = (0..3).map(|i| Bytes::from(format!("line {i}\n").repeat(60_000))).collect();
        let len = text.iter().map(Bytes::len).sum();
        let mut scrape = Scrape::new(false);
        scrape.push_inflated(gzip(&text), len);
        scrape.push(Bytes::from_static(b"tail\n"));
        assert_eq!(scrape.len(), len + 5);
        let pieces: Vec<Bytes> = scrape.collect();
        assert!(pieces.len() > 3, "sent in pieces, not whole: {}", pieces.len());
        assert_eq!(pieces.concat(), [text.concat(), b"tail\n".to_vec()].concat());
    }

    #[test]
    fn a_gzip_form_larger_than_a_chunk_is_kept_in_chunks_and_read_across_them() {
        // Text that hardly compresses: a linear congruential sequence of bytes.
        let mut state = 7u32;
        let text: Vec<u8> = (0..700_000)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect();
        let zipped = gzip(&[Bytes::from(text.clone())]);
        assert!(zipped.len() >= 3, "{} chunks", zipped.len());
        assert!(zipped[..zipped.len() - 1].iter().all(|chunk| chunk.len() == ZIPPED_CHUNK));
        let mut scrape = Scrape::new(false);
        scrape.push_inflated(zipped, text.len());
        assert_eq!(scrape.concat(), text);
    }

    #[test]
    fn a_render_keeps_its_plain_chunks_up_to_the_limit_and_only_gzip_past_it() {
        let chunk = Bytes::from_static(b"abcdefgh\n");
        let mut small = Cached::new(18);
        small.take(chunk.clone());
        small.take(chunk.clone());
        let small = small.finish();
        assert_eq!((small.len, small.plain.map(|p| p.len()), small.gzip.is_some()), (18, Some(2), false));
        let mut large = Cached::new(18);
        for _ in 0..3 {
            large.take(chunk.clone());
        }
        let large = large.finish();
        assert_eq!((large.len, large.plain.is_none()), (27, true));
        let mut scrape = Scrape::new(false);
        scrape.push_inflated(large.gzip.unwrap(), large.len);
        assert_eq!(scrape.concat(), chunk.repeat(3));
    }
}
