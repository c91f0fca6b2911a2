//! The encrypting half of a box stream: an `AsyncWrite` that buffers plaintext and seals it into
//! frames only when flushed.
//!
//! `poll_write` copies into a plaintext buffer of up to [`WRITE_BUFFER_CAPACITY`] bytes and never
//! touches the transport unless that buffer is full. Both buffers grow with use (an idle
//! connection that only ever sent small messages holds little) and are then reused. `poll_flush` cuts the buffered plaintext into
//! frames of at most 4096 bytes, seals each straight into one reused output buffer (no allocation
//! per frame) and hands that buffer to the transport in as few writes as it accepts — one, usually
//! — before flushing it. Frame boundaries therefore follow flushes, not writes; they carry no
//! meaning for the reader (PROTOCOL.md §3.3).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

use super::encoder::FrameEncoder;
use super::error::BoxStreamError;
use super::{BoxKey, HEADER_LEN, MAX_BODY_LEN};

/// Plaintext bytes a [`BoxWriter`] buffers before `poll_write` has to push sealed frames out.
pub const WRITE_BUFFER_CAPACITY: usize = 64 * 1024;

/// Size of the sealed output buffer: a full plaintext buffer's frames plus the goodbye.
const OUT_CAPACITY: usize =
    WRITE_BUFFER_CAPACITY.div_ceil(MAX_BODY_LEN) * (HEADER_LEN + MAX_BODY_LEN) + HEADER_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriterState {
    /// Taking plaintext.
    Open,
    /// The goodbye is sealed into the output buffer; draining it, then shutting the transport.
    Closing,
    /// The transport has been shut down.
    Closed,
}

/// Encrypts everything written to it as a box stream onto `W`.
///
/// Call `flush` to send what was written (frames are sealed at flush time) and `shutdown` to end
/// the direction: it flushes, sends the 34-byte goodbye and shuts the transport's write side.
/// Writing after `shutdown` fails with [`BoxStreamError::WriterClosed`] (`BrokenPipe`).
///
/// Transport errors are returned as they are. While saying goodbye to a JS peer they are
/// expected — JS tears the socket down right after its RPC goodbye (PROTOCOL.md §3.4) — and a
/// caller closing the connection should ignore them.
pub struct BoxWriter<W> {
    inner: W,
    encoder: FrameEncoder,
    /// Plaintext written since the last seal; at most [`WRITE_BUFFER_CAPACITY`] bytes.
    plain: Vec<u8>,
    /// Sealed frames; grows to what the largest batch needed (at most `OUT_CAPACITY` bytes) and is
    /// reused for every batch.
    out: Vec<u8>,
    /// End of the sealed bytes in `out`.
    out_filled: usize,
    /// How many of the sealed bytes the transport has taken.
    out_written: usize,
    state: WriterState,
}

impl<W: AsyncWrite + Unpin> BoxWriter<W> {
    /// A writer sealing with `key`, starting at `key.nonce` (which is copied).
    pub fn new(inner: W, key: &BoxKey) -> Self {
        BoxWriter {
            inner,
            encoder: FrameEncoder::new(key),
            plain: Vec::new(),
            out: Vec::new(),
            out_filled: 0,
            out_written: 0,
            state: WriterState::Open,
        }
    }

    /// The transport.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The transport, mutably; writing to it directly corrupts the stream.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The transport, dropping anything buffered and not yet flushed.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Plaintext bytes written but not yet sealed.
    pub fn buffered(&self) -> usize {
        self.plain.len()
    }

    /// Whether `shutdown` has begun: the goodbye is queued or sent and writes are refused.
    pub fn is_shut_down(&self) -> bool {
        self.state != WriterState::Open
    }

    /// Writes the sealed bytes out until the transport has taken all of them, then empties `out`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_written < self.out_filled {
            let pending = self
                .out
                .get(self.out_written..self.out_filled)
                .unwrap_or_default();
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_written += n;
        }
        self.out_written = 0;
        self.out_filled = 0;
        Poll::Ready(Ok(()))
    }

    /// Seals all buffered plaintext into `out`, after what is already there. Only called once
    /// `out` is drained, so a full plaintext buffer always fits.
    fn seal_buffered(&mut self) -> io::Result<()> {
        if self.plain.is_empty() {
            return Ok(());
        }
        let frames = self.plain.len().div_ceil(MAX_BODY_LEN);
        self.ensure_out(self.out_filled + self.plain.len() + frames * HEADER_LEN);
        let mut pos = self.out_filled;
        for piece in self.plain.chunks(MAX_BODY_LEN) {
            let frame = self.out.get_mut(pos..).unwrap_or_default();
            pos += self.encoder.seal_frame(piece, frame)?;
        }
        tracing::trace!(
            plaintext = self.plain.len(),
            sealed = pos - self.out_filled,
            "box stream sealed buffered plaintext"
        );
        self.out_filled = pos;
        self.plain.clear();
        Ok(())
    }

    /// Makes `out` at least `len` bytes long (never more than `OUT_CAPACITY` is asked for).
    fn ensure_out(&mut self, len: usize) {
        debug_assert!(len <= OUT_CAPACITY);
        if self.out.len() < len {
            self.out.resize(len, 0);
        }
    }

    /// Seals the buffered plaintext (once earlier output is drained) and sends everything.
    fn poll_send_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.plain.is_empty() {
            ready!(self.poll_drain(cx))?;
            self.seal_buffered()?;
        }
        self.poll_drain(cx)
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for BoxWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.state != WriterState::Open {
            return Poll::Ready(Err(BoxStreamError::WriterClosed.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.plain.len() >= WRITE_BUFFER_CAPACITY {
            ready!(this.poll_drain(cx))?;
            this.seal_buffered()?;
            // Start sending now; if the transport is busy the bytes wait for the next call.
            if let Poll::Ready(Err(err)) = this.poll_drain(cx) {
                return Poll::Ready(Err(err));
            }
        }
        let room = WRITE_BUFFER_CAPACITY - this.plain.len();
        let taken = buf.get(..room).unwrap_or(buf);
        let len = this.plain.len() + taken.len();
        if len > this.plain.capacity() {
            // Grow by doubling, but never past the buffer's limit.
            let target = len
                .max(this.plain.capacity() * 2)
                .min(WRITE_BUFFER_CAPACITY);
            this.plain.reserve_exact(target - this.plain.len());
        }
        this.plain.extend_from_slice(taken);
        Poll::Ready(Ok(taken.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state == WriterState::Closed {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_send_all(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.state {
                WriterState::Open => {
                    if !this.plain.is_empty() {
                        ready!(this.poll_drain(cx))?;
                        this.seal_buffered()?;
                    }
                    this.ensure_out(this.out_filled + HEADER_LEN);
                    let slot = this.out.get_mut(this.out_filled..).unwrap_or_default();
                    this.out_filled += this.encoder.seal_goodbye(slot)?;
                    this.state = WriterState::Closing;
                    tracing::debug!("box stream goodbye queued");
                }
                WriterState::Closing => {
                    ready!(this.poll_drain(cx))?;
                    ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
                    ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    this.state = WriterState::Closed;
                    tracing::debug!("box stream writer shut down");
                }
                WriterState::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<W> std::fmt::Debug for BoxWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxWriter")
            .field("encoder", &self.encoder)
            .field("buffered", &self.plain.len())
            .field("unsent", &(self.out_filled - self.out_written))
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
