//! The callee side of the engine: reading a peer's request, checking it the way JS muxrpc 8 does,
//! calling the method through [`MethodTable::dispatch`], and wiring its [`Reply`] to the wire.
//!
//! The request's shape is checked first (`callee_request.rs`), then permissions, the manifest
//! entry and its kind (inside `dispatch`), with JS's error messages. Beyond
//! [`max_incoming_streams`](super::RpcConfig::max_incoming_streams) a stream is refused at once.
//! A method that panics, at once or while its future or stream is polled, answers with an error;
//! the connection keeps serving.
//!
//! Each call is dispatched inside a `call` span (method, kind, request number), which also covers
//! an async answer computed on a task of its own, so its log lines can be told apart.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures::FutureExt;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{Instrument, Span, debug, debug_span, trace, warn};

use super::callee_request::{PeerRequest, parse_stream};
use super::recv_stream::RecvStream;
use super::state::{Shared, StreamEntry, StreamId};
use super::writer::{WriterCmd, panic_message};
use crate::rpc::body::Body;
use crate::rpc::context::CallContext;
use crate::rpc::dispatch::{MethodInput, MethodTable, Reply};
use crate::rpc::error::RemoteError;
use crate::rpc::manifest::CallKind;
use crate::rpc::packet::{Packet, error_json};

/// What the engine needs to answer the peer's calls.
pub(super) struct Callee {
    methods: Arc<MethodTable>,
    ctx: CallContext,
    permits: Arc<Semaphore>,
}

impl Callee {
    pub fn new(methods: Arc<MethodTable>, ctx: CallContext, max_calls: usize) -> Self {
        Callee {
            methods,
            ctx,
            permits: Arc::new(Semaphore::new(max_calls.max(1))),
        }
    }

    /// The call slots: one is held by each of the peer's calls from its request until its reply
    /// is written (the reader waits for one before routing a request).
    pub fn slots(&self) -> Arc<Semaphore> {
        Arc::clone(&self.permits)
    }

    /// An async/sync request `req` (read, or refused for its shape), holding call slot `permit`.
    pub fn request(
        &self,
        shared: &Arc<Shared>,
        req: i32,
        request: Result<PeerRequest, RemoteError>,
        permit: OwnedSemaphorePermit,
    ) {
        let (span, reply) = match request {
            Ok(PeerRequest { name, args }) => name.with_path(|path| {
                trace!(req, ?path, "incoming call");
                self.invoke(req, path, CallKind::Async, args, None)
            }),
            Err(e) => (Span::none(), Err(e)),
        };
        let future = match reply {
            Ok(Reply::Value(future)) => future,
            Ok(_) => {
                let e = RemoteError::new("method answered an async call with a stream");
                return answer_now(shared, req, Err(e), permit);
            }
            Err(e) => return answer_now(shared, req, Err(e), permit),
        };
        // Most methods answer at once (sync methods always do): try once before paying for a task.
        // Polling with a no-op waker is fine: if it is pending, the task polls it again with its
        // own waker.
        let mut future = AssertUnwindSafe(future).catch_unwind();
        if let Some(outcome) = (&mut future).now_or_never() {
            return answer_now(shared, req, answer_of(req, outcome), permit);
        }
        shared.lock().owed += 1;
        let shared = Arc::clone(shared);
        let task = async move {
            let outcome = tokio::select! {
                biased;
                r = future => r,
                _ = shared.shutdown.cancelled() => return,
            };
            let result = answer_of(req, outcome);
            let mut st = shared.lock();
            st.owed = st.owed.saturating_sub(1);
            shared.send_reply(&st, reply_packet(req, result), permit);
            shared.maybe_goodbye(&mut st);
        };
        tokio::spawn(task.instrument(span));
    }

    /// True when the peer has as many streams open as it may: a new one is refused.
    pub fn streams_full(&self, shared: &Shared) -> bool {
        shared.lock().incoming_streams >= shared.config.max_incoming_streams
    }

    /// Refuses stream `id` (too many open), holding call slot `permit` until the refusal is
    /// written. No entry is made: the peer's answering end, if any, is ignored.
    pub fn refuse_stream(&self, shared: &Shared, id: StreamId, permit: OwnedSemaphorePermit) {
        debug!(req = id.num, "too many open streams: refusing a new one");
        let error = RemoteError::new(format!(
            "too many open streams: at most {} at once",
            shared.config.max_incoming_streams
        ));
        let st = shared.lock();
        shared.send_reply(&st, Packet::stream_end(id.wire_req(), Some(&error)), permit);
    }

    /// The first packet of a stream the peer opens (below the limit on open streams).
    pub fn stream_request(&self, shared: &Arc<Shared>, id: StreamId, body: Body) {
        let parsed = parse_stream(body);
        let kind = parsed.as_ref().map(|p| p.0).unwrap_or(CallKind::Source);
        let wants_input = matches!(kind, CallKind::Sink | CallKind::Duplex) && parsed.is_ok();
        let (inbound, outcome, incoming) = if wants_input {
            let (tx, slot, rx) = RecvStream::channel(shared.config.stream_buffer);
            (Some(tx), Some(slot), Some(Box::pin(rx) as MethodInput))
        } else {
            (None, None, None)
        };
        let mut st = shared.lock();
        st.incoming_streams += 1;
        st.streams.insert(
            id,
            StreamEntry {
                kind,
                inbound,
                outcome,
                sink_done: None,
                we_ended: false,
                peer_ended: false,
            },
        );
        drop(st);
        let (span, reply) = match parsed {
            Ok((kind, PeerRequest { name, args })) => name.with_path(|path| {
                trace!(req = id.num, ?path, %kind, "incoming stream");
                self.invoke(id.num, path, kind, args, incoming)
            }),
            Err(e) => (Span::none(), Err(e)),
        };
        match (kind, reply) {
            (CallKind::Source | CallKind::Duplex, Ok(Reply::Stream(producer))) => {
                shared.push(WriterCmd::Produce { id, producer });
            }
            (CallKind::Sink, Ok(Reply::Done(future))) => {
                let shared = Arc::clone(shared);
                let task = async move {
                    let outcome = tokio::select! {
                        biased;
                        r = AssertUnwindSafe(future).catch_unwind() => r,
                        _ = shared.shutdown.cancelled() => return,
                    };
                    let error = match outcome {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(e),
                        Err(panic) => Some(RemoteError::new(panic_message(panic.as_ref()))),
                    };
                    let mut st = shared.lock();
                    shared.end_ours(&mut st, id, error);
                };
                tokio::spawn(task.instrument(span));
            }
            (_, reply) => {
                let error = match reply {
                    Err(e) => e,
                    Ok(_) => RemoteError::new(format!("method answered a {kind} call wrongly")),
                };
                let mut st = shared.lock();
                if let Some(entry) = st.streams.get_mut(&id) {
                    entry.inbound = None;
                    entry.outcome = None;
                }
                shared.end_ours(&mut st, id, Some(error));
            }
        }
    }

    /// Calls `dispatch` for request `req` inside the call's span (returned, for the rest of the
    /// call), turning a panic into an error reply. The span costs nothing unless `debug` events of
    /// this crate are enabled.
    fn invoke(
        &self,
        req: i32,
        path: &[&str],
        kind: CallKind,
        args: Vec<Value>,
        input: Option<MethodInput>,
    ) -> (Span, Result<Reply, RemoteError>) {
        let span = debug_span!("call", method = %DottedPath(path), %kind, req);
        let ctx = self.ctx.clone();
        let reply = span.in_scope(|| {
            catch_unwind(AssertUnwindSafe(|| {
                self.methods.dispatch(ctx, path, kind, args, input)
            }))
            .unwrap_or_else(|panic| {
                let message = panic_message(panic.as_ref());
                warn!(path = ?path, "{message}");
                Err(RemoteError::new(message))
            })
        });
        (span, reply)
    }
}

/// A method path as JS users write it, `a.b.c`, formatted only when a span or event is logged.
struct DottedPath<'a>(&'a [&'a str]);

impl std::fmt::Display for DottedPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(segment)?;
        }
        Ok(())
    }
}

/// Queues the answer to call `req` at once, holding its slot until the answer is written.
fn answer_now(
    shared: &Shared,
    req: i32,
    result: Result<Body, RemoteError>,
    permit: OwnedSemaphorePermit,
) {
    let st = shared.lock();
    shared.send_reply(&st, reply_packet(req, result), permit);
}

/// What a method's future produced, a panic turned into an error.
fn answer_of(
    req: i32,
    outcome: Result<Result<Body, RemoteError>, Box<dyn std::any::Any + Send>>,
) -> Result<Body, RemoteError> {
    outcome.unwrap_or_else(|panic| {
        let message = panic_message(panic.as_ref());
        warn!(req, "{message}");
        Err(RemoteError::new(message))
    })
}

/// The reply packet to an async call: the value, or the error with the end flag.
fn reply_packet(req: i32, result: Result<Body, RemoteError>) -> Packet {
    match result {
        Ok(body) => Packet::new(-req, false, false, body),
        Err(e) => Packet::new(-req, false, true, Body::Json(error_json(&e))),
    }
}
