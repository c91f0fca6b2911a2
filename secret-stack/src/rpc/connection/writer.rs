//! The writer task: the only code that writes to the transport.
//!
//! It takes frames from a command queue (requests, replies, stream ends: small and bounded by the
//! number of calls in flight) and values from stream producers (a method's [`MethodOutput`] or a
//! caller's items). Producers are polled only here, and only while the current batch has room, so
//! a producer runs no further ahead than one batch: when the transport pushes back (`write_all`
//! waits), nobody polls them and no queue grows. Control frames go first in every batch, then the
//! producers in round-robin order, each adding at most
//! [`max_items_per_stream`](super::RpcConfig::max_items_per_stream) values, so a bulk stream cannot
//! starve small calls. PeerFrames are encoded into one buffer and written with a single write and flush
//! per batch — except that a binary or text body of [`BULK_BODY`] bytes or more is not copied when
//! the transport takes vectored writes (a box stream does): the buffer holds its header, and the
//! batch goes out as vectored writes of buffer pieces and bodies in frame order.

use std::any::Any;
use std::future::poll_fn;
use std::io::IoSlice;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tracing::{debug, trace, warn};

use super::end::SessionEnd;
use super::state::{Shared, StreamId};
use crate::rpc::body::Body;
use crate::rpc::codec::PacketCodec;
use crate::rpc::error::RemoteError;
use crate::rpc::packet::Packet;

/// Binary and text bodies at least this long are written from their own buffers rather than copied
/// into the batch, when the transport takes vectored writes.
const BULK_BODY: usize = 4096;

/// How long the final write (pending frames and the goodbye) may take before it is given up.
const GOODBYE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Values one side of a stream sends; an `Err` ends the stream with that error.
pub(super) type Producer = Pin<Box<dyn Stream<Item = Result<Body, RemoteError>> + Send + 'static>>;

/// What the writer is asked to do, in order.
pub(super) enum WriterCmd {
    /// Write this frame, already encoded (our requests: see `caller_request.rs`).
    Encoded(BytesMut),
    /// Write this reply to one of the peer's calls, then release the call's slot: until its reply
    /// is in a batch a call counts against
    /// [`max_incoming_calls`](super::RpcConfig::max_incoming_calls), so replies a peer does not
    /// read cannot pile up here without bound.
    Reply(Packet, OwnedSemaphorePermit),
    /// Start sending the values of this producer on stream `id`.
    Produce { id: StreamId, producer: Producer },
    /// Write our end of stream `id`, dropping its producer.
    End { id: StreamId, packet: Packet },
    /// Write the goodbye and stop.
    Goodbye,
}

/// A producer guarded against panics: a panic becomes an error end.
type Guarded = Pin<
    Box<dyn Stream<Item = Result<Result<Body, RemoteError>, Box<dyn Any + Send>>> + Send + 'static>,
>;

struct Slot {
    id: StreamId,
    producer: Guarded,
}

/// What one gathering round produced.
enum Batch {
    /// PeerFrames to write.
    Data,
    /// The goodbye was asked for: write what is gathered, then the goodbye.
    Goodbye,
    /// The session was ended by force (lost transport, forced close) between two writes.
    Forced,
}

pub(super) struct Writer<W> {
    io: W,
    cmds: mpsc::UnboundedReceiver<WriterCmd>,
    producers: Vec<Slot>,
    next: usize,
    batch: Gathered,
    goodbye: bool,
    shared: Arc<Shared>,
}

/// The frames of the batch being gathered.
struct Gathered {
    /// Encoded frames, except the large bodies in `bulk`.
    buf: BytesMut,
    /// The large bodies, each with the length `buf` had when its header was appended (where it
    /// goes in the byte stream). Empty unless the transport takes vectored writes.
    bulk: Vec<(usize, Bytes)>,
    /// Bytes in `bulk`.
    bulk_len: usize,
    /// Whether the transport takes vectored writes, so large bodies need not be copied.
    vectored: bool,
}

impl<W: AsyncWrite + Unpin + Send + 'static> Writer<W> {
    pub fn new(io: W, cmds: mpsc::UnboundedReceiver<WriterCmd>, shared: Arc<Shared>) -> Self {
        let vectored = io.is_write_vectored();
        Writer {
            io,
            cmds,
            producers: Vec::new(),
            next: 0,
            batch: Gathered {
                // Grows with the first batches: an idle connection that only sent small frames
                // keeps a small buffer.
                buf: BytesMut::new(),
                bulk: Vec::new(),
                bulk_len: 0,
                vectored,
            },
            goodbye: false,
            shared,
        }
    }

    /// Runs until the goodbye is written, the transport fails, or a forced close abandons it.
    pub async fn run(mut self) {
        let force = self.shared.force.clone();
        loop {
            // Give the scheduler a turn once this task has used its budget. Sockets and most
            // channels take part in tokio's budgeting, but a transport or producer that is always
            // ready does not, and without this the loop could keep a worker for itself.
            tokio::task::consume_budget().await;
            let batch = tokio::select! {
                biased;
                // Checked at every batch boundary, not only during a write: a forced end that
                // comes while a batch is being gathered must not lead to gathering more. (Here the
                // command queue may look empty only because the task's budget is spent, so waiting
                // for the goodbye command instead could spin for ever behind a ready producer.)
                () = force.cancelled() => Batch::Forced,
                batch = poll_fn(|cx| self.poll_batch(cx)) => batch,
            };
            match batch {
                Batch::Data => {}
                Batch::Goodbye => {
                    // Boxed: it runs once, and inline its timers would make the task larger
                    // for the whole life of the connection.
                    Box::pin(self.say_goodbye()).await;
                    break;
                }
                Batch::Forced => {
                    // No frame is half written here: drop what was gathered (the session is
                    // over, those frames are moot) and still say goodbye, as a forced close does.
                    self.batch.clear();
                    Box::pin(self.say_goodbye()).await;
                    break;
                }
            }
            trace!(
                bytes = self.batch.len(),
                bodies_apart = self.batch.bulk.len(),
                "write batch"
            );
            let written = tokio::select! {
                biased;
                r = write_batch(&mut self.io, &self.batch) => r,
                () = force.cancelled() => {
                    // A frame may be half written: a goodbye now would be garbage, so just stop.
                    debug!("rpc write abandoned by a forced close");
                    break;
                }
            };
            self.batch.clear();
            if self.batch.buf.capacity() > 4 * self.shared.config.max_batch_bytes.max(1) {
                self.batch.buf = BytesMut::with_capacity(self.shared.config.max_batch_bytes);
            }
            if let Err(e) = written {
                debug!("rpc write failed: {e}");
                let mut st = self.shared.lock();
                self.shared.terminate(&mut st, SessionEnd::ConnectionLost);
                break;
            }
        }
        self.producers.clear();
        self.shared.publish_end();
    }

    /// Writes what is gathered plus the goodbye, then shuts the transport down; each step is
    /// given up after [`GOODBYE_WRITE_TIMEOUT`]. Errors do not matter: the session is over anyway.
    async fn say_goodbye(&mut self) {
        PacketCodec::encode_goodbye(&mut self.batch.buf);
        trace!(bytes = self.batch.len(), "write final batch with goodbye");
        let write = write_batch(&mut self.io, &self.batch);
        match tokio::time::timeout(GOODBYE_WRITE_TIMEOUT, write).await {
            Ok(Ok(())) => debug!("rpc goodbye sent"),
            Ok(Err(e)) => debug!("rpc goodbye not delivered: {e}"),
            Err(_) => debug!("rpc goodbye not delivered: the peer is not reading"),
        }
        let _ = tokio::time::timeout(GOODBYE_WRITE_TIMEOUT, self.io.shutdown()).await;
    }

    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Batch> {
        let max = self.shared.config.max_batch_bytes;
        // Control frames first.
        while !self.goodbye && self.batch.len() < max {
            match self.cmds.poll_recv(cx) {
                Poll::Ready(Some(cmd)) => self.apply(cmd),
                Poll::Ready(None) => self.goodbye = true,
                Poll::Pending => break,
            }
        }
        if self.goodbye {
            return Poll::Ready(Batch::Goodbye);
        }
        self.poll_producers(cx);
        if self.batch.len() == 0 {
            Poll::Pending
        } else {
            Poll::Ready(Batch::Data)
        }
    }

    fn apply(&mut self, cmd: WriterCmd) {
        match cmd {
            WriterCmd::Encoded(frame) => self.batch.buf.extend_from_slice(&frame),
            WriterCmd::Reply(packet, permit) => {
                self.batch.push(packet);
                drop(permit);
            }
            WriterCmd::Produce { id, producer } => {
                let producer = AssertUnwindSafe(producer).catch_unwind().boxed();
                self.producers.push(Slot { id, producer });
            }
            WriterCmd::End { id, packet } => {
                self.producers.retain(|s| s.id != id);
                self.batch.push(packet);
            }
            WriterCmd::Goodbye => self.goodbye = true,
        }
    }

    /// Polls the producers round-robin while the batch has room.
    fn poll_producers(&mut self, cx: &mut Context<'_>) {
        let n = self.producers.len();
        if n == 0 {
            return;
        }
        let max = self.shared.config.max_batch_bytes;
        let per_stream = self.shared.config.max_items_per_stream.max(1);
        let start = self.next % n;
        let mut finished = Vec::new();
        for k in 0..n {
            if self.batch.len() >= max {
                break;
            }
            let i = (start + k) % n;
            let Some(slot) = self.producers.get_mut(i) else {
                continue;
            };
            let id = slot.id;
            let mut taken = 0;
            while taken < per_stream && self.batch.len() < max {
                match slot.producer.as_mut().poll_next(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Some(Ok(Ok(body)))) => {
                        taken += 1;
                        self.batch
                            .push(Packet::new(id.wire_req(), true, false, body));
                    }
                    Poll::Ready(Some(Ok(Err(e)))) => {
                        finished.push((i, Some(e)));
                        break;
                    }
                    Poll::Ready(Some(Err(panic))) => {
                        let message = panic_message(panic.as_ref());
                        warn!(req = id.wire_req(), "stream producer panicked: {message}");
                        finished.push((i, Some(RemoteError::new(message))));
                        break;
                    }
                    Poll::Ready(None) => {
                        finished.push((i, None));
                        break;
                    }
                }
            }
        }
        self.next = start + 1;
        if finished.is_empty() {
            return;
        }
        let mut st = self.shared.lock();
        for (i, error) in &finished {
            let Some(slot) = self.producers.get(*i) else {
                continue;
            };
            let id = slot.id;
            if self.shared.producer_ended(&mut st, id) {
                self.batch
                    .push(Packet::stream_end(id.wire_req(), error.as_ref()));
                self.shared.maybe_finish(&mut st, id);
            }
        }
        drop(st);
        let mut index = 0;
        self.producers.retain(|_| {
            let keep = !finished.iter().any(|(i, _)| *i == index);
            index += 1;
            keep
        });
    }
}

impl Gathered {
    /// Adds `packet` to the batch: its whole frame into `buf`, or, for a large binary or text
    /// body on a vectored transport, its header into `buf` and its body into `bulk` uncopied.
    fn push(&mut self, packet: Packet) {
        let flags = packet.flags();
        let Packet {
            req,
            stream,
            end,
            body,
        } = packet;
        let apart = match body {
            Body::Binary(bytes) if self.vectored && bytes.len() >= BULK_BODY => bytes,
            Body::Text(text) if self.vectored && text.len() >= BULK_BODY => Bytes::from(text),
            body => {
                return encode_into(&mut self.buf, &Packet::new(req, stream, end, body));
            }
        };
        match PacketCodec::encode_header(flags, req, apart.len(), &mut self.buf) {
            Ok(()) => {
                self.bulk_len += apart.len();
                self.bulk.push((self.buf.len(), apart));
            }
            Err(e) => warn!(req, "rpc frame not sent: {e}"),
        }
    }

    /// Bytes in the batch.
    fn len(&self) -> usize {
        self.buf.len() + self.bulk_len
    }

    /// The batch's bytes in stream order: `buf` cut at each body's position, the bodies in
    /// between.
    fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        let buf = &self.buf[..];
        let tail_from = self.bulk.last().map_or(0, |(at, _)| *at);
        let mut from = 0;
        self.bulk
            .iter()
            .flat_map(move |(at, body)| {
                let head = buf.get(from..*at).unwrap_or_default();
                from = *at;
                [head, body.as_ref()]
            })
            .chain(std::iter::once(buf.get(tail_from..).unwrap_or_default()))
    }

    /// Empties the batch (keeping `buf`'s memory) and lets go of its bodies.
    fn clear(&mut self) {
        self.buf.clear();
        self.bulk.clear();
        self.bulk_len = 0;
    }
}

fn encode_into(buf: &mut BytesMut, packet: &Packet) {
    if let Err(e) = PacketCodec::encode_packet(packet, buf) {
        // Only a body above 4 GiB can fail; it is dropped rather than corrupting the stream.
        warn!(req = packet.req, "rpc frame not sent: {e}");
    }
}

/// How many pieces of a batch one vectored write hands to the transport at most.
const MAX_SLICES: usize = 64;

/// Writes a batch — `buf` with each body of `bulk` inserted at its position — and flushes.
async fn write_batch<W: AsyncWrite + Unpin>(io: &mut W, batch: &Gathered) -> std::io::Result<()> {
    let mut written = 0;
    poll_fn(|cx| poll_write_pieces(io, cx, batch, &mut written)).await?;
    io.flush().await
}

/// Writes the pieces of a batch from byte `written` on, in as few vectored writes as the
/// transport allows (one `poll_write` per piece if it takes no vectored writes). The slices are
/// built on the stack at each poll, so the task holds nothing for them between polls.
fn poll_write_pieces<W: AsyncWrite + Unpin>(
    io: &mut W,
    cx: &mut Context<'_>,
    batch: &Gathered,
    written: &mut usize,
) -> Poll<std::io::Result<()>> {
    loop {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        let mut skip = *written;
        for piece in batch.pieces() {
            if skip >= piece.len() {
                skip -= piece.len();
                continue;
            }
            let Some(slot) = slices.get_mut(count) else {
                break;
            };
            *slot = IoSlice::new(piece.get(skip..).unwrap_or_default());
            skip = 0;
            count += 1;
        }
        if count == 0 {
            return Poll::Ready(Ok(()));
        }
        let pending = slices.get(..count).unwrap_or_default();
        let n = ready!(Pin::new(&mut *io).poll_write_vectored(cx, pending))?;
        if n == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
        }
        *written += n;
    }
}

/// The text of a panic payload, for the error sent in its place.
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_owned());
    format!("method panicked: {detail}")
}
