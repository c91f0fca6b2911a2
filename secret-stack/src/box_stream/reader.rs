//! The decrypting half of a box stream: an `AsyncRead` that opens frames as they arrive.
//!
//! Input is read into one reused buffer. A frame whose whole body fits the caller's buffer is
//! opened straight into it, so the plaintext is written once and never copied; a frame larger than
//! the room the caller offers is opened in place in the input buffer and handed out over several
//! reads. The input buffer starts at [`INITIAL_READ_BUFFER`] bytes, so an idle connection holds
//! little, and grows (up to one maximal frame, 34 + 65535 bytes) only when a frame needs it or a
//! read fills it completely, i.e. under bulk traffic; it never shrinks. The authenticated goodbye
//! is a clean EOF; any other end of input, and any frame that fails to authenticate, is an
//! `io::Error` wrapping a [`BoxStreamError`], after which the reader stays failed.

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

use super::decoder::{Decoded, FrameDecoder};
use super::error::BoxStreamError;
use super::{BoxKey, MAX_FRAME_LEN};

/// The size of a [`BoxReader`]'s input buffer before traffic makes it grow: enough for the small
/// frames of RPC calls and replies; a larger frame grows it to that frame's size once its
/// authenticated header has announced it.
pub const INITIAL_READ_BUFFER: usize = 1024;

/// Decrypts a box stream read from `R`.
///
/// * The goodbye ends the stream: reads return `Ok` with no bytes from then on, and the transport
///   is not read again (bytes that arrived in the same read as the goodbye are dropped unread).
/// * An end of input without the goodbye is an error of kind `UnexpectedEof` wrapping
///   [`BoxStreamError::MissingGoodbye`] (at a frame boundary) or [`BoxStreamError::Truncated`].
///   On muxrpc connections JS normally closes the socket right after its RPC goodbye without a
///   box goodbye: the RPC layer, knowing whether it saw that goodbye, decides
///   whether a `MissingGoodbye` is a normal close.
/// * A frame that fails to authenticate is an error of kind `InvalidData` wrapping
///   [`BoxStreamError::InvalidHeader`] or [`BoxStreamError::InvalidPacket`]. A header announcing
///   an empty body is [`BoxStreamError::EmptyBody`] (JS would deliver an empty chunk; no writer
///   sends one). Bodies up to 65535 bytes are accepted, as JS does.
/// * Plaintext decrypted before an error is delivered first; the error comes with the next read.
/// * Errors of the transport itself are passed through unchanged and do not fail the stream.
///
/// Use [`BoxStreamError::from_io`] to get the typed error back.
pub struct BoxReader<R> {
    inner: R,
    decoder: FrameDecoder,
    /// Input buffer, between [`INITIAL_READ_BUFFER`] and `MAX_FRAME_LEN` bytes; empty until the
    /// first read.
    buf: Vec<u8>,
    /// Start of the input not yet decoded.
    start: usize,
    /// End of the input read so far.
    end: usize,
    /// Opened plaintext not yet handed out; always before `start`.
    plain: Range<usize>,
}

impl<R: AsyncRead + Unpin> BoxReader<R> {
    /// A reader opening with `key`, starting at `key.nonce` (which is copied).
    pub fn new(inner: R, key: &BoxKey) -> Self {
        BoxReader {
            inner,
            decoder: FrameDecoder::new(key),
            buf: Vec::new(),
            start: 0,
            end: 0,
            plain: 0..0,
        }
    }

    /// Whether the peer's authenticated goodbye has arrived (this direction ended cleanly).
    pub fn goodbye_received(&self) -> bool {
        self.decoder.is_finished()
    }

    /// The transport.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The transport, mutably; reading from it directly corrupts the stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The transport, dropping any input read ahead and not yet decrypted.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads more input from the transport, moving undecoded bytes to the front of the buffer
    /// first when the next frame would not fit behind them, and growing the buffer when that frame
    /// is larger than it. Returns the number of bytes read.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() || self.start + self.decoder.needed() > self.buf.len()
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // `needed` is at most `MAX_FRAME_LEN`, and more than 34 only once an authenticated header
        // announced that body length.
        let wanted = self.decoder.needed().max(INITIAL_READ_BUFFER);
        if self.buf.len() < wanted {
            self.buf.resize(wanted.min(MAX_FRAME_LEN), 0);
        }
        let room = self.buf.len() - self.end;
        let mut read = ReadBuf::new(self.buf.get_mut(self.end..).unwrap_or_default());
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        self.end += n;
        if n == room && self.buf.len() < MAX_FRAME_LEN {
            // The transport had more than we could take: bulk traffic, read in larger pieces.
            let grown = (self.buf.len() * 2).min(MAX_FRAME_LEN);
            self.buf.resize(grown, 0);
        }
        Poll::Ready(Ok(n))
    }
}

impl<R> BoxReader<R> {
    /// Opens the next frame straight into `out` if its whole body is buffered and `out` has room
    /// for all of it. Returns whether it did; a frame that fails to authenticate is an error.
    fn open_direct(&mut self, out: &mut ReadBuf<'_>) -> Result<bool, BoxStreamError> {
        let input = self.buf.get(self.start..self.end).unwrap_or_default();
        let Some(len) = self.decoder.body_len(input) else {
            return Ok(false);
        };
        if len > out.remaining() || input.len() < self.decoder.needed() {
            return Ok(false);
        }
        let Some(consumed) = self
            .decoder
            .decode_into(input, out.initialize_unfilled_to(len))?
        else {
            return Ok(false);
        };
        out.advance(len);
        self.start += consumed;
        Ok(true)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for BoxReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let filled_before = out.filled().len();
        loop {
            if !this.plain.is_empty() {
                let n = this.plain.len().min(out.remaining());
                let from = this.plain.start;
                out.put_slice(this.buf.get(from..from + n).unwrap_or_default());
                this.plain.start += n;
                if out.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
            }
            let delivered = out.filled().len() > filled_before;
            match this.open_direct(out) {
                Ok(true) if out.remaining() == 0 => return Poll::Ready(Ok(())),
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => {
                    return Poll::Ready(if delivered { Ok(()) } else { Err(err.into()) });
                }
            }
            let input = this.buf.get_mut(this.start..this.end).unwrap_or_default();
            match this.decoder.decode(input) {
                Ok(Some(Decoded::Data {
                    consumed,
                    plaintext,
                })) => {
                    this.plain = this.start + plaintext.start..this.start + plaintext.end;
                    this.start += consumed;
                }
                Ok(Some(Decoded::Goodbye { consumed })) => {
                    if consumed > 0 {
                        tracing::debug!("box stream goodbye received");
                    }
                    this.start += consumed;
                    return Poll::Ready(Ok(()));
                }
                Err(err) => {
                    return Poll::Ready(if delivered { Ok(()) } else { Err(err.into()) });
                }
                Ok(None) => {
                    if delivered {
                        return Poll::Ready(Ok(()));
                    }
                    if ready!(this.poll_fill(cx))? == 0 {
                        let buffered = this.end - this.start;
                        return Poll::Ready(match this.decoder.end_of_input(buffered) {
                            Some(err) => Err(err.into()),
                            None => Ok(()),
                        });
                    }
                }
            }
        }
    }
}

impl<R> std::fmt::Debug for BoxReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxReader")
            .field("decoder", &self.decoder)
            .field("buffered", &(self.end - self.start))
            .field("undelivered", &self.plain.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::box_stream::{BoxWriter, FRAME_HEADER_LEN};

    fn key() -> BoxKey {
        BoxKey {
            key: [5; 32],
            nonce: [6; 24],
        }
    }

    /// Frames larger than the initial buffer, arriving in pieces of every size the pipe allows,
    /// come out whole and in order while the buffer grows; small ones first keep it small.
    #[tokio::test]
    async fn buffer_grows_from_small_to_bulk() {
        let (a, b) = tokio::io::duplex(777);
        let mut writer = BoxWriter::new(a, &key());
        let mut reader = BoxReader::new(b, &key());
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let write = tokio::spawn(async move {
            writer.write_all(&sent[..10]).await?;
            writer.flush().await?;
            for piece in sent[10..].chunks(70_000) {
                writer.write_all(piece).await?;
                writer.flush().await?;
            }
            writer.shutdown().await
        });
        let mut first = [0u8; 10];
        reader.read_exact(&mut first).await.expect("first message");
        assert_eq!(
            reader.buf.len(),
            INITIAL_READ_BUFFER,
            "small traffic keeps the buffer small"
        );
        let mut got = first.to_vec();
        reader.read_to_end(&mut got).await.expect("the rest");
        write.await.expect("writer task").expect("writes");
        assert_eq!(got, data);
        assert!(reader.goodbye_received());
        assert!(reader.buf.len() > INITIAL_READ_BUFFER && reader.buf.len() <= MAX_FRAME_LEN);
    }

    /// A frame whose whole body fits the caller's buffer is opened straight into it and nothing
    /// stays in the reader; one that does not fit is opened in place and handed out over several
    /// reads; and a full caller's buffer does not make the reader open the next frame early.
    #[tokio::test]
    async fn frames_open_into_the_callers_buffer_when_they_fit() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let mut writer = BoxWriter::new(Vec::new(), &key());
        writer.write_all(&data).await.expect("write");
        writer.shutdown().await.expect("shutdown");
        let wire = writer.into_inner();
        let mut reader = BoxReader::new(&wire[..], &key());

        let mut whole = vec![0u8; 4096];
        assert_eq!(reader.read(&mut whole).await.expect("read"), 4096);
        assert!(
            reader.plain.is_empty(),
            "opened straight into the caller's buffer"
        );
        assert_eq!(
            reader.decoder.needed(),
            FRAME_HEADER_LEN,
            "the next frame is left unopened while the caller has no room"
        );
        let mut short = vec![0u8; 4095];
        assert_eq!(reader.read(&mut short).await.expect("read"), 4095);
        assert_eq!(reader.plain.len(), 1, "opened in place, one byte left over");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.expect("rest");
        assert!(reader.goodbye_received());
        let got = [whole, short, rest].concat();
        assert!(got == data, "the plaintext came back in order");
    }
}
