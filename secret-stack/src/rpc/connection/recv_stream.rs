//! The receiving half of a stream as the local side sees it: a bounded queue of the peer's values,
//! then the end or one error.
//!
//! The same type is the [`MethodInput`](crate::rpc::MethodInput) of a sink or duplex method and
//! the stream returned to a caller of a source or duplex. A caller dropping it before the end
//! aborts the stream: the engine sends our end (`true`) so the peer stops producing.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use super::state::{OutcomeSlot, Shared, StreamId};
use crate::rpc::body::Body;
use crate::rpc::error::RpcError;

/// A stream of the peer's values on one muxrpc stream, ending with `None` after a normal end or
/// with one `Err` (the peer's error, or the connection's end).
pub struct RecvStream {
    rx: mpsc::Receiver<Body>,
    outcome: OutcomeSlot,
    finished: bool,
    /// Set for the streams a local caller holds: dropping them early aborts the stream.
    abort_on_drop: Option<(Weak<Shared>, StreamId)>,
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl RecvStream {
    /// A new queue of `capacity` values; returns the engine's sender, the slot for the final
    /// outcome and the consumer's stream.
    pub(super) fn channel(capacity: usize) -> (mpsc::Sender<Body>, OutcomeSlot, RecvStream) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let outcome = OutcomeSlot::default();
        let stream = RecvStream {
            rx,
            outcome: Arc::clone(&outcome),
            finished: false,
            abort_on_drop: None,
        };
        (tx, outcome, stream)
    }

    /// Makes dropping this stream before its end abort stream `id`.
    pub(super) fn abort_on_drop(mut self, shared: &Arc<Shared>, id: StreamId) -> Self {
        self.abort_on_drop = Some((Arc::downgrade(shared), id));
        self
    }
}

impl Stream for RecvStream {
    type Item = Result<Body, RpcError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(body)) => Poll::Ready(Some(Ok(body))),
            Poll::Ready(None) => {
                self.finished = true;
                let outcome = self
                    .outcome
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                Poll::Ready(outcome.map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        let Some((shared, id)) = self.abort_on_drop.take() else {
            return;
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let mut st = shared.lock();
        if let Some(entry) = st.streams.get_mut(&id) {
            // We no longer want the peer's values; say so unless our half already ended.
            entry.inbound = None;
            entry.outcome = None;
            shared.end_ours(&mut st, id, None);
        }
    }
}
