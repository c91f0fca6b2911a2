//! The encrypting half of a box stream: an `AsyncWrite` that seals whole frames as the bytes come
//! and sends them when flushed.
//!
//! Written bytes are cut into frames of 4096 bytes counted from the last flush; a flush ends the
//! current frame early (frame boundaries carry no meaning for the reader). Every
//! whole 4096-byte piece of a caller's buffer is sealed straight from that buffer into one reused
//! output buffer — the plaintext is never copied — and only the bytes of a frame that is not yet
//! whole (fewer than 4096) wait in a small plaintext buffer, where small writes coalesce. The
//! output buffer holds at most about [`WRITE_BUFFER_CAPACITY`] bytes of sealed frames: writes never
//! touch the transport until it is full, and then wait until the transport has taken it, so
//! backpressure reaches the caller. `poll_flush` seals the pending partial frame and hands the
//! sealed frames to the transport in as few writes as it accepts — one, for a batch that fits —
//! before flushing it. `poll_write_vectored` takes a whole batch of slices (say, RPC headers and the
//! bodies they announce) in one call, with the same cutting. Both buffers grow with use (an idle
//! connection that only ever sent small messages holds little) and are then reused.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

use super::encoder::FrameEncoder;
use super::error::BoxStreamError;
use super::{BoxKey, FRAME_HEADER_LEN, MAX_BODY_LEN};

/// Plaintext bytes whose sealed frames a [`BoxWriter`] holds before a write has to wait for the
/// transport to take them.
pub const WRITE_BUFFER_CAPACITY: usize = 64 * 1024;

/// The longest frame a writer seals.
const MAX_FRAME: usize = FRAME_HEADER_LEN + MAX_BODY_LEN;

/// Sealed bytes the output buffer may hold before writes wait for the transport: the frames of
/// [`WRITE_BUFFER_CAPACITY`] plaintext bytes.
const OUT_LIMIT: usize = WRITE_BUFFER_CAPACITY.div_ceil(MAX_BODY_LEN) * MAX_FRAME;

/// The most the output buffer ever holds: a full buffer of frames plus the goodbye.
const OUT_CAPACITY: usize = OUT_LIMIT + FRAME_HEADER_LEN;

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
/// Call `flush` to send what was written (whole 4096-byte frames are sealed as the bytes come, the
/// last, partial one at the flush) and `shutdown` to end the direction: it flushes, sends the
/// 34-byte goodbye and shuts the transport's write side. Writing after `shutdown` fails with
/// [`BoxStreamError::WriterClosed`] (`BrokenPipe`). Vectored writes are taken whole, as one write
/// of their concatenation.
///
/// Transport errors are returned as they are. While saying goodbye to a JS peer they are
/// expected — JS tears the socket down right after its RPC goodbye — and a
/// caller closing the connection should ignore them.
pub struct BoxWriter<W> {
    inner: W,
    encoder: FrameEncoder,
    /// The start of the frame being filled (written since the last seal): fewer than 4096 bytes,
    /// or exactly 4096 while `out` has no room to seal them.
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

    /// Plaintext bytes written but not yet sealed: the start of a frame that is not yet whole.
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

    /// Whether `out` can take one more whole frame before the transport has to take what it holds.
    fn has_room(&self) -> bool {
        self.out_filled + MAX_FRAME <= OUT_LIMIT
    }

    /// Gets ready to take at least one byte: `out` has room for a frame and `plain` is not full.
    /// Waits for the transport to take all of `out` if it is full.
    fn poll_ready_to_take(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if !self.has_room() {
                ready!(self.poll_drain(cx))?;
            }
            if self.plain.len() < MAX_BODY_LEN {
                return Poll::Ready(Ok(()));
            }
            self.seal_plain()?;
        }
    }

    /// Takes as much of `buf` as `out` has room for and returns how many bytes that was (all of
    /// `buf` unless `out` filled up). Whole 4096-byte frames are sealed straight from `buf`; only
    /// the bytes of a frame that is not yet whole are copied, into `plain`. Call
    /// [`poll_ready_to_take`](Self::poll_ready_to_take) first to make sure of progress.
    fn take(&mut self, buf: &[u8]) -> Result<usize, BoxStreamError> {
        let mut rest = buf;
        loop {
            if self.plain.len() == MAX_BODY_LEN {
                if !self.has_room() {
                    break;
                }
                self.seal_plain()?;
            }
            if self.plain.is_empty() && rest.len() >= MAX_BODY_LEN {
                if !self.has_room() {
                    break;
                }
                let (frame, tail) = rest.split_at(MAX_BODY_LEN);
                self.seal(frame)?;
                rest = tail;
                continue;
            }
            if rest.is_empty() {
                break;
            }
            // The start or the end of a frame: it waits until it is whole or flushed.
            let n = (MAX_BODY_LEN - self.plain.len()).min(rest.len());
            let (head, tail) = rest.split_at(n);
            self.buffer(head);
            rest = tail;
        }
        Ok(buf.len() - rest.len())
    }

    /// Appends `bytes` to `plain`, which never holds more than one frame's plaintext.
    fn buffer(&mut self, bytes: &[u8]) {
        let len = self.plain.len() + bytes.len();
        debug_assert!(len <= MAX_BODY_LEN);
        if len > self.plain.capacity() {
            // Grow by doubling, but never past one frame.
            let target = len.max(self.plain.capacity() * 2).min(MAX_BODY_LEN);
            self.plain.reserve_exact(target.max(len) - self.plain.len());
        }
        self.plain.extend_from_slice(bytes);
    }

    /// Seals `piece` (1..=4096 bytes) as one frame at the end of `out`, which has room for it.
    fn seal(&mut self, piece: &[u8]) -> Result<(), BoxStreamError> {
        self.ensure_out(self.out_filled + FRAME_HEADER_LEN + piece.len());
        let frame = self.out.get_mut(self.out_filled..).unwrap_or_default();
        self.out_filled += self.encoder.seal_frame(piece, frame)?;
        Ok(())
    }

    /// Seals the partial frame in `plain`, if any, and empties `plain`.
    fn seal_plain(&mut self) -> Result<(), BoxStreamError> {
        if self.plain.is_empty() {
            return Ok(());
        }
        let plain = std::mem::take(&mut self.plain);
        let sealed = self.seal(&plain);
        self.plain = plain;
        self.plain.clear();
        sealed
    }

    /// Makes `out` at least `len` bytes long (never more than `OUT_CAPACITY` is asked for), growing
    /// it by doubling so that a batch needs few reallocations.
    fn ensure_out(&mut self, len: usize) {
        debug_assert!(len <= OUT_CAPACITY);
        if self.out.len() < len {
            let target = len.max(self.out.len() * 2).min(OUT_CAPACITY).max(len);
            self.out.reserve_exact(target - self.out.len());
            self.out.resize(target, 0);
        }
    }

    /// Seals the partial frame (once `out` has room) and sends everything.
    fn poll_send_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.plain.is_empty() {
            if !self.has_room() {
                ready!(self.poll_drain(cx))?;
            }
            self.seal_plain()?;
        }
        if self.out_filled > self.out_written {
            tracing::trace!(
                sealed = self.out_filled - self.out_written,
                "box stream sending sealed frames"
            );
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
        ready!(this.poll_ready_to_take(cx))?;
        Poll::Ready(Ok(this.take(buf)?))
    }

    /// Takes the slices in order as if they were one buffer: the frames cut from them are the
    /// same as for one `poll_write` of their concatenation.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.state != WriterState::Open {
            return Poll::Ready(Err(BoxStreamError::WriterClosed.into()));
        }
        if bufs.iter().all(|buf| buf.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        ready!(this.poll_ready_to_take(cx))?;
        let mut taken = 0;
        for buf in bufs {
            let n = this.take(buf)?;
            taken += n;
            if n < buf.len() {
                break;
            }
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
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
                        if !this.has_room() {
                            ready!(this.poll_drain(cx))?;
                        }
                        this.seal_plain()?;
                    }
                    // Frames are sealed only with room to spare, so the goodbye always fits.
                    this.ensure_out(this.out_filled + FRAME_HEADER_LEN);
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

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use tokio::io::AsyncWriteExt;

    use super::*;

    fn key() -> BoxKey {
        BoxKey {
            key: [3; 32],
            nonce: [4; 24],
        }
    }

    /// A transport that takes nothing until it is opened, and counts the writes it accepts.
    #[derive(Default)]
    struct Gate {
        open: bool,
        data: Vec<u8>,
        writes: usize,
    }

    impl AsyncWrite for Gate {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if !self.open {
                return Poll::Pending;
            }
            self.data.extend_from_slice(buf);
            self.writes += 1;
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A large write is sealed straight from the caller's buffer until one buffer's worth of
    /// frames waits for the transport; then writes wait too, and go on once it takes them.
    #[tokio::test]
    async fn writes_wait_once_a_buffer_of_sealed_frames_waits_for_the_transport() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut writer = BoxWriter::new(Gate::default(), &key());
        let mut cx = Context::from_waker(Waker::noop());
        let mut taken = 0;
        while let Poll::Ready(n) = Pin::new(&mut writer).poll_write(&mut cx, &data[taken..]) {
            let n = n.expect("write");
            assert!(n > 0);
            taken += n;
        }
        assert_eq!(taken, WRITE_BUFFER_CAPACITY, "sixteen whole frames taken");
        assert_eq!(writer.out_filled, OUT_LIMIT, "all of them sealed");
        assert_eq!(
            writer.buffered(),
            0,
            "and none copied into the plaintext buffer"
        );
        assert!(writer.get_ref().data.is_empty(), "nothing sent yet");

        writer.get_mut().open = true;
        writer
            .write_all(&data[taken..])
            .await
            .expect("write the rest");
        writer.shutdown().await.expect("shutdown");
        let wire = writer.into_inner().data;
        let mut expected = Vec::new();
        let mut encoder = FrameEncoder::new(&key());
        encoder.encode_to_vec(&data, &mut expected).expect("encode");
        let mut goodbye = [0u8; FRAME_HEADER_LEN];
        encoder.seal_goodbye(&mut goodbye).expect("goodbye");
        expected.extend_from_slice(&goodbye);
        assert!(wire == expected, "the same frames as one sealed write");
    }

    /// Many small writes before a flush make few frames and one transport write.
    #[tokio::test]
    async fn small_writes_coalesce_until_the_flush() {
        let mut writer = BoxWriter::new(
            Gate {
                open: true,
                ..Gate::default()
            },
            &key(),
        );
        for i in 0..1000u32 {
            writer
                .write_all(&i.to_be_bytes()[1..])
                .await
                .expect("write");
            writer.write_all(b"1234567").await.expect("write");
        }
        assert_eq!(
            writer.get_ref().writes,
            0,
            "nothing is sent before the flush"
        );
        assert!(writer.buffered() < MAX_BODY_LEN);
        writer.flush().await.expect("flush");
        let gate = writer.get_ref();
        assert_eq!(gate.writes, 1, "one transport write");
        assert_eq!(
            gate.data.len(),
            10_000 + 3 * FRAME_HEADER_LEN,
            "three frames"
        );
    }
}
