//! The bookkeeping shared by the reader, the writer, handler tasks and handles: outstanding calls,
//! open streams with the state of each half, and the session's closing state.
//!
//! Everything here runs under one short-held `std` mutex; nothing awaits while holding it. PeerFrames
//! leave through the writer's command queue, which is the only path to the socket, so the order in
//! which they are queued here is the order on the wire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, trace};

use super::caller_calls::PendingCalls;
use super::caller_request::RequestEncoder;
use super::config::RpcConfig;
use super::end::SessionEnd;
use super::writer::{Producer, WriterCmd};
use crate::rpc::body::Body;
use crate::rpc::error::{RemoteError, RpcError};
use crate::rpc::manifest::CallKind;
use crate::rpc::packet::Packet;

/// A stream on this connection: who opened it and its (positive) number in the opener's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct StreamId {
    /// True if we opened it.
    pub ours: bool,
    /// The opener's request number (> 0).
    pub num: i32,
}

impl StreamId {
    /// The request number we write on this stream's packets.
    pub fn wire_req(self) -> i32 {
        if self.ours { self.num } else { -self.num }
    }
}

/// Where a received stream's final outcome is left for its consumer before the queue closes.
pub(super) type OutcomeSlot = Arc<Mutex<Option<RpcError>>>;

/// One open stream.
pub(super) struct StreamEntry {
    pub kind: CallKind,
    /// Where the peer's values go; `None` when we expect none or no longer want them.
    pub inbound: Option<mpsc::Sender<Body>>,
    /// The consumer's outcome slot (set before `inbound` is dropped).
    pub outcome: Option<OutcomeSlot>,
    /// For a sink we called: resolves with the callee's end.
    pub sink_done: Option<oneshot::Sender<Result<(), RpcError>>>,
    /// We have queued our end packet.
    pub we_ended: bool,
    /// We have received the peer's end packet.
    pub peer_ended: bool,
}

/// The mutable state of a session.
pub(super) struct State {
    next_req: i32,
    /// Our outstanding async calls, by request number.
    pub calls: PendingCalls,
    /// Where our requests are encoded.
    pub request_frames: RequestEncoder,
    /// Open streams in both directions.
    pub streams: HashMap<StreamId, StreamEntry>,
    /// How many of `streams` the peer opened.
    pub incoming_streams: usize,
    /// Replies we still owe to the peer's async calls.
    pub owed: usize,
    /// A graceful close was asked for: no new calls.
    pub closing: bool,
    /// Our goodbye is queued: nothing more is sent or read.
    pub goodbye_queued: bool,
    /// Why the session ended, once it has.
    pub end: Option<SessionEnd>,
}

/// What every part of a connection shares.
pub(super) struct Shared {
    state: Mutex<State>,
    cmds: mpsc::UnboundedSender<WriterCmd>,
    pub config: RpcConfig,
    /// Cancelled once our goodbye is queued: the reader and handler tasks stop.
    pub shutdown: CancellationToken,
    /// Cancelled when the transport is not worth waiting for (forced close, lost connection): the
    /// writer abandons a write in progress.
    pub force: CancellationToken,
    /// Published by the writer when the session is over.
    pub ended: watch::Sender<Option<SessionEnd>>,
}

impl Shared {
    pub fn new(config: RpcConfig, cmds: mpsc::UnboundedSender<WriterCmd>) -> Self {
        Shared {
            state: Mutex::new(State {
                next_req: 1,
                calls: PendingCalls::default(),
                request_frames: RequestEncoder::default(),
                streams: HashMap::new(),
                incoming_streams: 0,
                owed: 0,
                closing: false,
                goodbye_queued: false,
                end: None,
            }),
            cmds,
            config,
            shutdown: CancellationToken::new(),
            force: CancellationToken::new(),
            ended: watch::Sender::new(None),
        }
    }

    /// Locks the state. A poisoned lock is recovered: the state is kept consistent by every holder
    /// before anything that could panic.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a command for the writer.
    pub fn push(&self, cmd: WriterCmd) {
        // The writer only goes away once the session is over; late frames are moot then.
        let _ = self.cmds.send(cmd);
    }

    /// Queues the encoded frame of our request `req` unless the session is over.
    pub fn send_request(&self, st: &State, req: i32, frame: BytesMut) {
        if !st.goodbye_queued {
            trace!(req, "queue request");
            self.push(WriterCmd::Encoded(frame));
        }
    }

    /// Queues the reply to one of the peer's calls with the call's slot, which the writer releases
    /// once the reply is in a batch; unless the session is over (the slot is released then).
    pub fn send_reply(&self, st: &State, packet: Packet, permit: OwnedSemaphorePermit) {
        if !st.goodbye_queued {
            trace!(req = packet.req, end = packet.end, "queue reply");
            self.push(WriterCmd::Reply(packet, permit));
        }
    }

    /// Checks that new calls are accepted and allocates the next request number.
    pub fn allocate(&self, st: &mut State) -> Result<i32, RpcError> {
        if st.end.is_some() || st.goodbye_queued {
            return Err(RpcError::Closed);
        }
        if st.closing {
            return Err(RpcError::Closing);
        }
        let req = st.next_req;
        st.next_req = req
            .checked_add(1)
            .ok_or_else(|| RpcError::Protocol("request numbers exhausted".into()))?;
        Ok(req)
    }

    /// Registers stream `req` we open and queues its encoded request (and our producer, if any).
    pub fn open_stream(
        &self,
        st: &mut State,
        entry: StreamEntry,
        req: i32,
        request: BytesMut,
        producer: Option<Producer>,
    ) -> StreamId {
        let id = StreamId {
            ours: true,
            num: req,
        };
        st.streams.insert(id, entry);
        self.send_request(st, req, request);
        if let Some(producer) = producer {
            self.push(WriterCmd::Produce { id, producer });
        }
        id
    }

    /// Queues our end of stream `id` (once): `None` for a normal end, else the error.
    /// Drops our producer for it, if any.
    pub fn end_ours(&self, st: &mut State, id: StreamId, error: Option<RemoteError>) {
        let Some(entry) = st.streams.get_mut(&id) else {
            return;
        };
        if entry.we_ended {
            return;
        }
        entry.we_ended = true;
        if !st.goodbye_queued {
            let packet = Packet::stream_end(id.wire_req(), error.as_ref());
            trace!(
                req = packet.req,
                error = error.is_some(),
                "queue stream end"
            );
            self.push(WriterCmd::End { id, packet });
        }
        self.maybe_finish(st, id);
    }

    /// Called by the writer when a producer ended by itself: marks our end as sent if it was not.
    /// Returns true if the writer must now write the end packet.
    pub fn producer_ended(&self, st: &mut State, id: StreamId) -> bool {
        let Some(entry) = st.streams.get_mut(&id) else {
            return false;
        };
        if entry.we_ended || st.goodbye_queued {
            return false;
        }
        entry.we_ended = true;
        true
    }

    /// Removes stream `id` if both ends have been exchanged.
    pub fn maybe_finish(&self, st: &mut State, id: StreamId) {
        if st
            .streams
            .get(&id)
            .is_some_and(|e| e.we_ended && e.peer_ended)
        {
            st.streams.remove(&id);
            if !id.ours {
                st.incoming_streams = st.incoming_streams.saturating_sub(1);
            }
            trace!(req = id.wire_req(), "stream finished");
            self.maybe_goodbye(st);
        }
    }

    /// During a graceful close: queues the goodbye once nothing is outstanding.
    pub fn maybe_goodbye(&self, st: &mut State) {
        if st.closing
            && !st.goodbye_queued
            && st.calls.is_empty()
            && st.streams.is_empty()
            && st.owed == 0
        {
            debug!("rpc: nothing outstanding, sending goodbye");
            st.end.get_or_insert(SessionEnd::Closed);
            self.queue_goodbye(st);
        }
    }

    fn queue_goodbye(&self, st: &mut State) {
        if !st.goodbye_queued {
            st.goodbye_queued = true;
            self.push(WriterCmd::Goodbye);
            self.shutdown.cancel();
        }
    }

    /// Ends the session now: every outstanding call and stream fails with `reason`'s error, no
    /// per-stream end is sent, and our goodbye is queued.
    pub fn terminate(&self, st: &mut State, reason: SessionEnd) {
        if st.end.is_none() {
            debug!(?reason, "rpc session ends");
            st.end = Some(reason);
        }
        let error = st
            .end
            .as_ref()
            .map(SessionEnd::error)
            .unwrap_or(RpcError::ConnectionLost);
        st.closing = true;
        st.calls.fail_all(&error);
        for (_, entry) in st.streams.drain() {
            fail_entry(entry, &error);
        }
        st.incoming_streams = 0;
        st.owed = 0;
        self.queue_goodbye(st);
    }

    /// Publishes the end of the session (called by the writer once it has stopped).
    pub fn publish_end(&self) {
        let reason = {
            let mut st = self.lock();
            st.goodbye_queued = true;
            st.end.get_or_insert(SessionEnd::ConnectionLost).clone()
        };
        self.shutdown.cancel();
        self.ended.send_replace(Some(reason));
    }
}

/// Fails the consumer side of a stream entry with `error`.
pub(super) fn fail_entry(mut entry: StreamEntry, error: &RpcError) {
    if let Some(slot) = entry.outcome.as_ref().filter(|_| !entry.peer_ended) {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(|| error.clone());
    }
    entry.inbound = None;
    if let Some(tx) = entry.sink_done.take() {
        let _ = tx.send(Err(error.clone()));
    }
}
