//! [`DuplexBytes`]: a byte stream carried by one muxrpc duplex.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes};
use futures::channel::mpsc;
use futures::stream::BoxStream;
use futures::{SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::forward::until_error;
use crate::multiserver::ByteStream;
use crate::rpc::{Body, Caller, MethodInput, MethodOutput, RemoteError, RpcError};

/// The most bytes one write sends as one item. Larger writes are cut; a box-stream writer never
/// asks for more than a few frames at once anyway.
pub const MAX_ITEM: usize = 64 * 1024;

/// Why reading or writing a [`DuplexBytes`] failed; carried inside the [`io::Error`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DuplexBytesError {
    /// The peer sent a text or JSON item where only binary items may travel.
    #[error(
        "the duplex carrying this byte stream delivered a {kind} item; only binary items may \
         travel through it (is the peer's method really a tunnel?)"
    )]
    NotBinary {
        /// `text` or `json`.
        kind: &'static str,
    },
    /// The duplex ended with an error: the peer's error end, or the outer connection's loss.
    #[error("the duplex carrying this byte stream ended with an error: {0}")]
    Ended(RpcError),
    /// A write after our half ended (shut down, or the duplex is over).
    #[error(
        "the duplex carrying this byte stream is closed: nothing more can be written (open a new one)"
    )]
    Closed,
}

impl DuplexBytesError {
    fn into_io(self) -> io::Error {
        let kind = match &self {
            DuplexBytesError::NotBinary { .. } => io::ErrorKind::InvalidData,
            DuplexBytesError::Ended(RpcError::ConnectionLost) => io::ErrorKind::ConnectionAborted,
            DuplexBytesError::Ended(_) => io::ErrorKind::ConnectionReset,
            DuplexBytesError::Closed => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, self)
    }
}

/// A byte stream carried by one muxrpc duplex: what a tunnel runs a whole inner connection
/// (secret handshake, box stream, muxrpc) over.
///
/// Each write becomes one binary item of the duplex; the items received are read back as one
/// continuous stream of bytes, whatever their sizes (a JS peer sends the handshake as items of
/// 64, 64, 112 and 80 bytes, then each box-stream frame as two items). The same type serves both
/// ends: [`DuplexBytes::call`] places the duplex call through any [`Caller`], and
/// [`DuplexBytes::answer`] turns the [`MethodInput`] of a duplex method into a byte stream and the
/// [`MethodOutput`] the method returns.
///
/// **Backpressure, end to end.** Nothing here buffers more than one item per direction. A write
/// waits until the connection's engine has taken the previous item, and the engine takes items
/// only when it has room to send them; received items wait in the engine's bounded receive
/// queue until this stream is read, and when that queue is full the engine stops reading the
/// outer connection ([`OverflowPolicy::PauseReading`](crate::rpc::OverflowPolicy)), so a slow
/// reader of the inner stream slows the outer one down to the sender.
///
/// **Ends.** Shutting the writer down (or dropping it) ends our half of the duplex with a normal
/// end; the peer's normal end reads as EOF. An error end from the peer, a lost connection or an
/// item that is not binary makes reads fail with a [`DuplexBytesError`] inside the
/// [`io::Error`]. When the peer's error end (or the connection's loss) also closes our half, a
/// write fails with that same [`DuplexBytesError::Ended`], even if nothing has been read yet: a
/// handshake that writes first learns why the peer refused, not only that the duplex is closed.
/// A zero-length write sends nothing: a JS peer takes an empty item for the end of its whole
/// connection.
///
/// Use it whole (it is `AsyncRead + AsyncWrite`), split it into its public halves, or hand it to
/// the stack as a [`ByteStream`] with [`DuplexBytes::into_byte_stream`].
pub struct DuplexBytes {
    /// The bytes from the peer.
    pub reader: DuplexReader,
    /// The bytes to the peer.
    pub writer: DuplexWriter,
}

impl std::fmt::Debug for DuplexBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplexBytes").finish_non_exhaustive()
    }
}

impl DuplexBytes {
    /// Places the duplex call `path(args)` through `caller` and returns its byte stream.
    pub fn call<C: Caller + ?Sized>(caller: &C, path: &[&str], args: Vec<Value>) -> DuplexBytes {
        let (tx, outgoing) = mpsc::channel(0);
        // A caller's half can only end normally: an error given to `DuplexWriter::fail` ends it.
        let items = until_error(outgoing);
        let parking = Arc::new(Parking::default());
        let park = Arc::downgrade(&parking);
        let incoming = caller.duplex(path, args, Outgoing { items, parking }.boxed());
        DuplexBytes::halves(incoming, tx, park)
    }

    /// The callee's side: the byte stream over a duplex method's `input`, and the output the
    /// method returns to the engine.
    pub fn answer(input: MethodInput) -> (DuplexBytes, MethodOutput) {
        let (tx, outgoing) = mpsc::channel(0);
        let stream = DuplexBytes::halves(input.boxed(), tx, Weak::new());
        (stream, outgoing.boxed())
    }

    /// The two halves over the items received and the sender of ours (with room for one item in
    /// between), sharing what has been received.
    fn halves(items: Incoming, tx: Sender, park: Weak<Parking>) -> DuplexBytes {
        let inbound = Arc::new(Mutex::new(Inbound {
            items,
            ahead: VecDeque::new(),
            end: None,
            reader_waker: None,
        }));
        DuplexBytes {
            reader: DuplexReader {
                inbound: Arc::clone(&inbound),
                pending: Bytes::new(),
                park,
            },
            writer: DuplexWriter {
                items: Some(tx),
                inbound,
            },
        }
    }

    /// The stream as a connection the transforms (`shs`) and the RPC engine take.
    pub fn into_byte_stream(
        self,
        address: impl Into<String>,
        transport: impl Into<String>,
    ) -> ByteStream {
        ByteStream::new(self.reader, self.writer, address, transport)
    }
}

type Incoming = BoxStream<'static, Result<Body, RpcError>>;
type Sender = mpsc::Sender<Result<Body, RemoteError>>;

/// What the peer sent, shared by the two halves. The reader takes it item by item; the writer
/// looks into it only when it finds our half closed, to report the peer's error end (which the
/// engine queues before it closes our half) instead of a bare "closed".
struct Inbound {
    items: Incoming,
    /// Binary items the writer took while looking for the end; the reader reads them first.
    ahead: VecDeque<Bytes>,
    /// Set once the items are over: `None` inside for a normal end.
    end: Option<Option<DuplexBytesError>>,
    /// The task last waiting to read, so the writer's look ahead wakes the right one.
    reader_waker: Option<Waker>,
}

impl Inbound {
    /// The reader's next binary item, or `None` once the items are over (see `end`).
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(bytes) = self.ahead.pop_front() {
            return Poll::Ready(Some(bytes));
        }
        let item = self.poll_received(cx);
        if item.is_pending()
            && !self
                .reader_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
        {
            self.reader_waker = Some(cx.waker().clone());
        }
        item
    }

    /// The next binary item received, or `None` once the items are over, recording the end.
    fn poll_received(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.end.is_some() {
            return Poll::Ready(None);
        }
        let error = match ready!(self.items.poll_next_unpin(cx)) {
            Some(Ok(Body::Binary(bytes))) => return Poll::Ready(Some(bytes)),
            Some(Ok(Body::Text(_))) => DuplexBytesError::NotBinary { kind: "text" },
            Some(Ok(Body::Json(_))) => DuplexBytesError::NotBinary { kind: "json" },
            Some(Err(error)) => DuplexBytesError::Ended(error),
            None => {
                self.end = Some(None);
                return Poll::Ready(None);
            }
        };
        tracing::debug!(%error, "duplex byte stream: reading failed");
        // Dropping the items tells the peer we stopped reading.
        self.items = futures::stream::empty().boxed();
        self.end = Some(Some(error));
        Poll::Ready(None)
    }

    /// The writer's look: takes what has already arrived without waiting, keeping the binary
    /// items for the reader, and returns the error the items ended with, if they have. It polls
    /// with the reader's waker, so a reader waiting meanwhile is still woken. It looks only while
    /// the reader has nothing taken ahead left, so it never holds more than one receive queue.
    fn error_so_far(&mut self) -> Option<DuplexBytesError> {
        if self.ahead.is_empty() {
            let waker = self.reader_waker.clone().unwrap_or(Waker::noop().clone());
            let mut cx = Context::from_waker(&waker);
            while let Poll::Ready(Some(bytes)) = self.poll_received(&mut cx) {
                self.ahead.push_back(bytes);
            }
        }
        self.end.clone().flatten()
    }
}

fn lock(inbound: &Mutex<Inbound>) -> MutexGuard<'_, Inbound> {
    inbound.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a caller's incoming stream waits when its reader is dropped while our half is still
/// open. Dropping a caller's incoming stream ends our half at once, and the items the engine has
/// not taken yet would be lost (the last bytes of a graceful close among them), so it is kept
/// until the engine is done with our items, its own items discarded meanwhile.
#[derive(Default)]
struct Parking(Mutex<Option<Incoming>>);

impl Parking {
    fn park(&self, incoming: Incoming) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(incoming);
    }

    /// Discards what has arrived on a parked stream, so it never fills its queue.
    fn drain(&self, cx: &mut Context<'_>) {
        let mut parked = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(incoming) = parked.as_mut() {
            while let Poll::Ready(Some(_)) = incoming.poll_next_unpin(cx) {}
        }
    }
}

/// A caller's items as the engine polls them; owns the [`Parking`], so a parked stream lives
/// exactly as long as the engine keeps our items.
struct Outgoing {
    items: BoxStream<'static, Body>,
    parking: Arc<Parking>,
}

impl Stream for Outgoing {
    type Item = Body;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Body>> {
        self.parking.drain(cx);
        self.items.poll_next_unpin(cx)
    }
}

/// The reading half of a [`DuplexBytes`]: the binary items received, as bytes.
///
/// Dropping it before the end tells the peer we stop reading, once our own half has ended.
pub struct DuplexReader {
    inbound: Arc<Mutex<Inbound>>,
    /// What is left of the last item received.
    pending: Bytes,
    /// A caller's parking, while the engine still has our items.
    park: Weak<Parking>,
}

impl Drop for DuplexReader {
    fn drop(&mut self) {
        if let Some(parking) = self.park.upgrade() {
            let items = std::mem::replace(
                &mut lock(&self.inbound).items,
                futures::stream::empty().boxed(),
            );
            parking.park(items);
        }
    }
}

impl std::fmt::Debug for DuplexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplexReader")
            .field("pending", &self.pending.len())
            .field("end", &lock(&self.inbound).end)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for DuplexReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let this = &mut *self;
        if this.pending.is_empty() {
            let mut inbound = lock(&this.inbound);
            // Zero-length items carry nothing: the loop simply reads the next one.
            while this.pending.is_empty() {
                match ready!(inbound.poll_item(cx)) {
                    Some(bytes) => this.pending = bytes,
                    None => {
                        return Poll::Ready(match &inbound.end {
                            Some(Some(error)) => Err(error.clone().into_io()),
                            _ => Ok(()),
                        });
                    }
                }
            }
        }
        let n = buf.remaining().min(this.pending.len());
        buf.put_slice(&this.pending[..n]);
        this.pending.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// The writing half of a [`DuplexBytes`]: each write becomes one binary item.
pub struct DuplexWriter {
    /// `None` once shut down.
    items: Option<Sender>,
    /// What the peer sent: where a write that finds our half closed looks for the reason.
    inbound: Arc<Mutex<Inbound>>,
}

impl std::fmt::Debug for DuplexWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplexWriter")
            .field("open", &self.items.is_some())
            .finish()
    }
}

impl DuplexWriter {
    /// Ends our half with `error` instead of a normal end, once the items written before it are
    /// sent. On the callee's side the peer receives the error end; a caller's half cannot carry
    /// one (muxrpc callers end normally), so there it is a normal end.
    pub async fn fail(&mut self, error: RemoteError) {
        if let Some(mut items) = self.items.take() {
            // A closed duplex has nobody left to tell.
            let _ = items.send(Err(error)).await;
        }
    }

    /// Why a write cannot go on: the error the peer's items ended with (the engine queues it
    /// before it closes our half), else [`DuplexBytesError::Closed`].
    fn closed(&self) -> io::Error {
        lock(&self.inbound)
            .error_so_far()
            .unwrap_or(DuplexBytesError::Closed)
            .into_io()
    }
}

impl AsyncWrite for DuplexWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let Some(items) = self.items.as_mut() else {
            return Poll::Ready(Err(DuplexBytesError::Closed.into_io()));
        };
        if ready!(items.poll_ready(cx)).is_err() {
            return Poll::Ready(Err(self.closed()));
        }
        let n = buf.len().min(MAX_ITEM);
        let item = Body::Binary(Bytes::copy_from_slice(&buf[..n]));
        match items.start_send(Ok(item)) {
            Ok(()) => Poll::Ready(Ok(n)),
            Err(_) => Poll::Ready(Err(self.closed())),
        }
    }

    /// Waits until the engine has taken the last item written.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(items) = self.items.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        match ready!(items.poll_ready(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(_) => Poll::Ready(Err(self.closed())),
        }
    }

    /// Ends our half of the duplex with a normal end.
    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.items = None;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for DuplexBytes {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for DuplexBytes {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}
