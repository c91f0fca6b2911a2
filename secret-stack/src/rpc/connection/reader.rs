//! The reader task: decodes frames and routes each one.
//!
//! | stream | req | meaning                                                        |
//! |--------|-----|----------------------------------------------------------------|
//! | no     | > 0 | the peer calls one of our async/sync methods                   |
//! | no     | < 0 | the reply to our call `-req` (unknown numbers are ignored)     |
//! | yes    | > 0 | a stream the peer opened: the first packet is its request      |
//! | yes    | < 0 | a stream we opened (unknown numbers are ignored)               |
//! | any    | 0   | a one-way message: ignored, as muxrpc 8 does                   |
//!
//! A full receive buffer either pauses this task (so TCP pushback reaches the peer) or ends that
//! stream, per [`OverflowPolicy`](super::OverflowPolicy); too many calls in flight pause it too.
//! A pause still ends with the session: every wait other than the transport races our end and
//! reads the transport one packet ahead, so a peer that vanishes while we are paused is noticed.
//! Nothing a peer sends can panic here: a malformed frame ends the session with
//! [`SessionEnd::Protocol`].

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use tokio::io::AsyncRead;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::codec::FramedRead;
use tracing::{debug, trace};

use super::callee::Callee;
use super::callee_request::parse_async;
use super::config::OverflowPolicy;
use super::end::SessionEnd;
use super::peer_frames::{PeerFrame, PeerFrames};
use super::state::{Shared, StreamId};
use crate::rpc::body::Body;
use crate::rpc::codec::CodecError;
use crate::rpc::error::{RemoteError, RpcError};
use crate::rpc::manifest::CallKind;
use crate::rpc::packet::{Packet, is_normal_end, parse_error};

/// The initial size of the packet buffer: room for the calls and replies of ordinary traffic (a
/// connection that only ever sees those keeps this little), and the codec makes room for a larger
/// frame once its header has arrived.
const READ_BUFFER_START: usize = 512;

pub(super) struct Reader<R> {
    frames: FramedRead<R, PeerFrames>,
    shared: Arc<Shared>,
    callee: Callee,
    /// A packet or call read while routing was paused (see [`Reader::wait`]), routed next.
    ahead: Option<PeerFrame>,
}

impl<R: AsyncRead + Unpin + Send + 'static> Reader<R> {
    pub fn new(io: R, shared: Arc<Shared>, callee: Callee) -> Self {
        let codec = PeerFrames::new(shared.config.max_body);
        Reader {
            frames: FramedRead::with_capacity(io, codec, READ_BUFFER_START),
            shared,
            callee,
            ahead: None,
        }
    }

    /// Reads until the peer's goodbye, the end of the transport, a protocol error, or our own end.
    pub async fn run(mut self) {
        loop {
            let next = match self.ahead.take() {
                Some(item) => Some(Ok(item)),
                None => tokio::select! {
                    biased;
                    () = self.shared.shutdown.cancelled() => return,
                    next = self.frames.next() => next,
                },
            };
            match next {
                Some(Ok(PeerFrame::Packet(packet))) => self.route(packet).await,
                Some(Ok(PeerFrame::Call(req, request))) => {
                    trace!(req, "received call");
                    if let Some(slot) = self.call_slot().await {
                        self.callee.request(&self.shared, req, Ok(request), slot);
                    }
                }
                other => return self.end(other),
            }
        }
    }

    /// Ends the session on what the transport gave instead of a packet.
    fn end(&self, next: Option<Result<PeerFrame, CodecError>>) {
        let reason = match next {
            Some(Ok(PeerFrame::Packet(_) | PeerFrame::Call(..))) => return,
            Some(Ok(PeerFrame::Goodbye)) => {
                debug!("rpc: peer said goodbye");
                SessionEnd::PeerGoodbye
            }
            None => {
                debug!("rpc: transport ended without a goodbye");
                SessionEnd::ConnectionLost
            }
            Some(Err(CodecError::Io(e))) => {
                debug!("rpc: read failed: {e}");
                SessionEnd::ConnectionLost
            }
            Some(Err(e)) => {
                debug!("rpc: peer broke the protocol: {e}");
                SessionEnd::Protocol(e.to_string())
            }
        };
        let clean = reason.is_clean();
        // The reason is recorded before the writer is told: it publishes the end as soon as it
        // stops.
        let mut st = self.shared.lock();
        self.shared.terminate(&mut st, reason);
        drop(st);
        if !clean {
            // The peer is gone or hostile: do not wait on a write it may never read.
            self.shared.force.cancel();
        }
    }

    /// Waits for `until` (a free call slot, room in a stream's queue) while routing is paused,
    /// and still notices the end of the session: ours (`shutdown`, which every ending cancels,
    /// a failed write included) and the peer's. For the latter the transport is read one packet
    /// ahead: a packet is kept for later and reading stops there (so pushback still reaches the
    /// peer), while an end of input, a read error, a goodbye or a malformed frame ends the
    /// session at once. `None` if the session ended first.
    async fn wait<F: Future>(&mut self, until: F) -> Option<F::Output> {
        let mut until = std::pin::pin!(until);
        loop {
            let next = tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => return None,
                out = &mut until => return Some(out),
                next = self.frames.next(), if self.ahead.is_none() => next,
            };
            match next {
                Some(Ok(item @ (PeerFrame::Packet(_) | PeerFrame::Call(..)))) => {
                    trace!("routing paused: packet kept for later");
                    self.ahead = Some(item);
                }
                other => {
                    self.end(other);
                    return None;
                }
            }
        }
    }

    /// A call slot for one of the peer's requests; `None` if the session ended first.
    async fn call_slot(&mut self) -> Option<OwnedSemaphorePermit> {
        if self.shared.shutdown.is_cancelled() {
            return None;
        }
        let slots = self.callee.slots();
        if let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
            return Some(slot);
        }
        // Every slot is taken: pause. The wait is boxed because it is rare, and kept inline it
        // would make every connection's reader task larger for good.
        Box::pin(self.wait(slots.acquire_owned())).await?.ok()
    }

    async fn route(&mut self, packet: Packet) {
        let Packet {
            req,
            stream,
            end,
            body,
        } = packet;
        trace!(req, stream, end, "received frame");
        if req == 0 {
            trace!("ignoring one-way message (req 0)");
            return;
        }
        if !stream {
            if req > 0 {
                // Waits (pausing the reader) while too many calls are running or unwritten.
                if let Some(slot) = self.call_slot().await {
                    self.callee
                        .request(&self.shared, req, parse_async(body), slot);
                }
            } else if let Some(num) = req.checked_neg() {
                self.reply(num, end, body);
            }
            return;
        }
        let id = if req > 0 {
            StreamId {
                ours: false,
                num: req,
            }
        } else {
            let Some(num) = req.checked_neg() else {
                return;
            };
            StreamId { ours: true, num }
        };
        let live = self.shared.lock().streams.contains_key(&id);
        if !live {
            if !id.ours && !end {
                if self.callee.streams_full(&self.shared) {
                    // The refusal holds a call slot until written, so refusals the peer does not
                    // read pause the reader like unread replies do.
                    if let Some(slot) = self.call_slot().await {
                        self.callee.refuse_stream(&self.shared, id, slot);
                    }
                } else {
                    self.callee.stream_request(&self.shared, id, body);
                }
            } else {
                trace!(req, "ignoring packet of an unknown stream");
            }
            return;
        }
        if end {
            self.peer_end(id, &body);
        } else {
            self.deliver(id, body).await;
        }
    }

    /// A value on stream `id`: into its bounded queue.
    async fn deliver(&mut self, id: StreamId, body: Body) {
        let tx = {
            let st = self.shared.lock();
            match st.streams.get(&id) {
                Some(entry) if !entry.peer_ended => entry.inbound.clone(),
                _ => None,
            }
        };
        let Some(tx) = tx else {
            trace!(req = id.wire_req(), "dropping a value nobody reads");
            return;
        };
        match self.shared.config.overflow {
            OverflowPolicy::PauseReading => {
                if self.shared.shutdown.is_cancelled() {
                    return;
                }
                match tx.try_send(body) {
                    // A closed queue means the consumer went away: the value is dropped.
                    Ok(()) | Err(TrySendError::Closed(_)) => {}
                    // The queue is full: pause (boxed, as in `call_slot`).
                    Err(TrySendError::Full(body)) => {
                        let _ = Box::pin(self.wait(tx.send(body))).await;
                    }
                }
            }
            OverflowPolicy::EndStream => match tx.try_send(body) {
                Ok(()) | Err(TrySendError::Closed(_)) => {}
                Err(TrySendError::Full(_)) => {
                    drop(tx);
                    overflow(&self.shared, id);
                }
            },
        }
    }

    /// The answer to our async call `num`.
    fn reply(&self, num: i32, end: bool, body: Body) {
        let result = if end {
            Err(RpcError::Remote(parse_error(&body)))
        } else {
            Ok(body)
        };
        let mut st = self.shared.lock();
        if !st.calls.answer(num, result) {
            trace!(req = num, "ignoring reply to an unknown request");
            return;
        }
        self.shared.maybe_goodbye(&mut st);
    }

    /// The peer ended its half of stream `id`.
    fn peer_end(&self, id: StreamId, body: &Body) {
        let error = (!is_normal_end(body)).then(|| parse_error(body));
        let mut st = self.shared.lock();
        let Some(entry) = st.streams.get_mut(&id) else {
            return;
        };
        if entry.peer_ended {
            return;
        }
        entry.peer_ended = true;
        if let (Some(slot), Some(e)) = (&entry.outcome, &error) {
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(RpcError::Remote(e.clone()));
        }
        entry.inbound = None;
        if let Some(tx) = entry.sink_done.take() {
            let _ = tx.send(match &error {
                None => Ok(()),
                Some(e) => Err(RpcError::Remote(e.clone())),
            });
        }
        // Answer with our own end where the peer's end means the stream is over: an error is echoed
        // (as JS does); a normal end finishes a source (either side) and a sink we were feeding.
        // A sink method ends when its future resolves; a duplex half-closes: our side goes on until
        // our producer ends.
        let answer = if error.is_some() {
            Some(error)
        } else {
            match (entry.kind, id.ours) {
                (CallKind::Source, _) | (CallKind::Sink, true) => Some(None),
                _ => None,
            }
        };
        if let Some(answer) = answer {
            self.shared.end_ours(&mut st, id, answer);
        }
        self.shared.maybe_finish(&mut st, id);
    }
}

/// Ends stream `id` because its consumer fell behind ([`OverflowPolicy::EndStream`]).
fn overflow(shared: &Shared, id: StreamId) {
    let req = if id.ours { id.num } else { -id.num };
    debug!(req, "receive buffer full: ending the stream");
    let mut st = shared.lock();
    if let Some(entry) = st.streams.get_mut(&id) {
        if let Some(slot) = &entry.outcome {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert(RpcError::ReceiveBufferFull { req: id.num });
        }
        entry.inbound = None;
        shared.end_ours(
            &mut st,
            id,
            Some(RemoteError::new(format!(
                "receive buffer of stream {} is full: its consumer fell behind",
                id.num
            ))),
        );
    }
}
