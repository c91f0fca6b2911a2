//! [`RpcHandle`]: the caller's side of a connection, and its controls (close, wait for the end).
//!
//! It implements [`Caller`] with raw [`Body`] values; its inherent methods add typed conveniences
//! (`call::<T>`), sinks and duplexes fed through a [`BodySink`], and per-handle deadlines. Because
//! the inherent `source`/`sink`/`duplex` take precedence over the trait's methods of the same names,
//! the stream-taking forms are reached as `Caller::sink(&handle, ...)` or [`RpcHandle::sink_from`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug};

use super::callee::Callee;
use super::caller_handle::CallerHandle;
use super::config::RpcConfig;
use super::end::SessionEnd;
use super::reader::Reader;
use super::recv_stream::RecvStream;
use super::state::{Shared, StreamEntry};
use super::writer::{Producer, Writer};
use crate::rpc::body::Body;
use crate::rpc::caller::Caller;
use crate::rpc::context::CallContext;
use crate::rpc::dispatch::MethodTable;
use crate::rpc::error::RpcError;
use crate::rpc::manifest::CallKind;

/// The sending half of a sink or duplex call made with [`RpcHandle::sink`] or
/// [`RpcHandle::duplex`]: a [`futures::Sink`] of bodies. Closing it (`SinkExt::close`, or dropping
/// it) sends our end. A send fails once the stream is over.
pub type BodySink = futures::channel::mpsc::Sender<Body>;

/// A handle on a live RPC connection: place calls, close it, wait for its end. Cheap to clone;
/// every clone drives the same connection.
///
/// Dropping every handle does not close the connection: it keeps serving the peer until either side
/// closes it or the transport ends.
#[derive(Clone)]
pub struct RpcHandle {
    shared: Arc<Shared>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for RpcHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcHandle")
            .field("timeout", &self.timeout)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The answer to our async call `req`, taken from the connection's table of calls when it
/// arrives. Dropping it first (deadline passed, caller gave up) removes the call, so a graceful
/// close does not wait for it; a late reply is then ignored.
struct Answer {
    shared: Arc<Shared>,
    req: i32,
}

impl Future for Answer {
    type Output = Result<Body, RpcError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.shared.lock().calls.poll(self.req, cx)
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.calls.remove(self.req) {
            self.shared.maybe_goodbye(&mut st);
        }
    }
}

impl RpcHandle {
    /// Runs muxrpc over `reader`/`writer` (the plaintext streams of one connection), answering the
    /// peer's calls from `methods` with `callee_ctx` as every call's context, its
    /// [`caller`](CallContext::caller) set to this connection. Spawns the reader and writer tasks,
    /// so it must be called from within a tokio runtime; returns the handle for our own calls.
    pub fn start<R, W>(
        reader: R,
        writer: W,
        methods: Arc<MethodTable>,
        mut callee_ctx: CallContext,
        config: RpcConfig,
    ) -> RpcHandle
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let max_calls = config.max_incoming_calls;
        let shared = Arc::new(Shared::new(config, tx));
        debug!("rpc session starts");
        // The tasks log inside the caller's span (the stack's `connection` span), if any.
        let span = tracing::Span::current();
        let writer = Writer::new(writer, rx, Arc::clone(&shared)).run();
        tokio::spawn(writer.instrument(span.clone()));
        callee_ctx.set_caller(CallerHandle::new(&shared));
        let callee = Callee::new(methods, callee_ctx, max_calls);
        tokio::spawn(
            Reader::new(reader, Arc::clone(&shared), callee)
                .run()
                .instrument(span),
        );
        RpcHandle::from_shared(shared)
    }

    pub(super) fn from_shared(shared: Arc<Shared>) -> Self {
        let timeout = shared.config.call_timeout;
        RpcHandle { shared, timeout }
    }

    /// A handle whose async calls fail with [`RpcError::Timeout`] after `timeout`.
    pub fn with_timeout(&self, timeout: Duration) -> RpcHandle {
        RpcHandle {
            shared: Arc::clone(&self.shared),
            timeout: Some(timeout),
        }
    }

    /// A handle to the same connection that does not keep its state alive: calls on it fail with
    /// [`RpcError::Closed`] once the session has ended. What a handler receives as
    /// [`CallContext::caller`], for plugins that remember a peer without owning it.
    pub fn downgrade(&self) -> CallerHandle {
        CallerHandle::new(&self.shared)
    }

    /// A handle whose async calls wait for ever (the JS behaviour).
    pub fn without_timeout(&self) -> RpcHandle {
        RpcHandle {
            shared: Arc::clone(&self.shared),
            timeout: None,
        }
    }

    /// An async (or sync) call, decoding the answer into `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        path: &[&str],
        args: Vec<Value>,
    ) -> Result<T, RpcError> {
        let body = self.request(path, args).await?;
        body.decode()
            .map_err(|e| RpcError::InvalidValue(format!("cannot decode the answer: {e}")))
    }

    /// An async (or sync) call answering the raw body. The request is queued at once; the future
    /// only waits for the answer.
    pub fn request(
        &self,
        path: &[&str],
        args: Vec<Value>,
    ) -> impl Future<Output = Result<Body, RpcError>> + Send + 'static {
        let queued = {
            let mut st = self.shared.lock();
            self.shared.allocate(&mut st).and_then(|req| {
                let frame = st.request_frames.encode(req, path, &args, None)?;
                st.calls.insert(req);
                self.shared.send_request(&st, req, frame);
                Ok(req)
            })
        };
        // Made now, not when the future is first polled: a future dropped unpolled forgets its
        // call too.
        let answer = queued.map(|req| Answer {
            shared: Arc::clone(&self.shared),
            req,
        });
        let timeout = self.timeout;
        async move {
            let answer = answer?;
            match timeout {
                Some(d) => tokio::time::timeout(d, answer)
                    .await
                    .map_err(|_| RpcError::Timeout)?,
                None => answer.await,
            }
        }
    }

    /// A source call: the callee's values, then `None` or one error. Dropping the stream before its
    /// end aborts the call (the callee is told to stop).
    pub fn source(&self, path: &[&str], args: Vec<Value>) -> RecvStream {
        self.open(path, args, CallKind::Source, None).1
    }

    /// A sink call: returns the [`BodySink`] to feed and a future resolving with the callee's end.
    /// The sink has room for one value: sending waits while the connection has no room
    /// (backpressure).
    pub fn sink(
        &self,
        path: &[&str],
        args: Vec<Value>,
    ) -> (BodySink, BoxFuture<'static, Result<(), RpcError>>) {
        let (tx, rx) = futures::channel::mpsc::channel(0);
        (tx, self.sink_from(path, args, rx))
    }

    /// A sink call fed from `items`, polled only when the connection has room to send.
    pub fn sink_from(
        &self,
        path: &[&str],
        args: Vec<Value>,
        items: impl Stream<Item = Body> + Send + 'static,
    ) -> BoxFuture<'static, Result<(), RpcError>> {
        let producer: Producer = items.map(Ok).boxed();
        let (done, _) = self.open(path, args, CallKind::Sink, Some(producer));
        async move {
            match done {
                Some(rx) => rx.await.unwrap_or(Err(RpcError::ConnectionLost)),
                None => Err(RpcError::Closed),
            }
        }
        .boxed()
    }

    /// A duplex call: the [`BodySink`] to feed and the stream of the callee's values.
    pub fn duplex(&self, path: &[&str], args: Vec<Value>) -> (BodySink, RecvStream) {
        let (tx, rx) = futures::channel::mpsc::channel(0);
        (tx, self.duplex_with(path, args, rx))
    }

    /// A duplex call fed from `items`; returns the callee's values. Dropping the returned stream
    /// before its end ends our half too.
    pub fn duplex_with(
        &self,
        path: &[&str],
        args: Vec<Value>,
        items: impl Stream<Item = Body> + Send + 'static,
    ) -> RecvStream {
        let producer: Producer = items.map(Ok).boxed();
        self.open(path, args, CallKind::Duplex, Some(producer)).1
    }

    /// Opens a stream of `kind`: registers it, queues the request and our producer.
    fn open(
        &self,
        path: &[&str],
        args: Vec<Value>,
        kind: CallKind,
        producer: Option<Producer>,
    ) -> (Option<oneshot::Receiver<Result<(), RpcError>>>, RecvStream) {
        let (tx, slot, stream) = RecvStream::channel(self.shared.config.stream_buffer);
        let mut st = self.shared.lock();
        let req = match self.shared.allocate(&mut st) {
            Ok(req) => req,
            Err(e) => {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                drop(tx);
                return (None, stream);
            }
        };
        let request = match st.request_frames.encode(req, path, &args, Some(kind)) {
            Ok(frame) => frame,
            Err(e) => {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                drop(tx);
                return (None, stream);
            }
        };
        let (done_tx, done_rx) = oneshot::channel();
        let receives = kind != CallKind::Sink;
        let entry = StreamEntry {
            kind,
            inbound: receives.then_some(tx),
            outcome: receives.then(|| Arc::clone(&slot)),
            sink_done: (kind == CallKind::Sink).then_some(done_tx),
            we_ended: false,
            peer_ended: false,
        };
        let id = self
            .shared
            .open_stream(&mut st, entry, req, request, producer);
        debug!(req, %kind, "opened stream");
        drop(st);
        // A sink's end comes from its items; only a stream we read from aborts when dropped.
        let stream = if receives {
            stream.abort_on_drop(&self.shared, id)
        } else {
            stream
        };
        (Some(done_rx), stream)
    }

    /// Closes gracefully: takes no new calls, waits for our outstanding calls, all open streams
    /// and the replies we owe, then sends the goodbye. Resolves with how the session ended.
    /// Idempotent.
    pub async fn close(&self) -> SessionEnd {
        {
            let mut st = self.shared.lock();
            if st.end.is_none() && !st.closing {
                debug!("rpc: closing gracefully");
                st.closing = true;
                self.shared.maybe_goodbye(&mut st);
            }
        }
        self.closed().await
    }

    /// Closes at once (a forced close): every outstanding call and stream fails
    /// locally with `error`, no stream end packets are sent, and the goodbye is still sent unless
    /// a write was in progress and had to be abandoned.
    pub fn close_now(&self, error: RpcError) {
        let mut st = self.shared.lock();
        if st.goodbye_queued {
            return;
        }
        self.shared.terminate(&mut st, SessionEnd::Forced(error));
        self.shared.force.cancel();
    }

    /// Resolves when the session is over, with the reason.
    pub fn closed(&self) -> impl Future<Output = SessionEnd> + Send + 'static {
        let mut rx = self.shared.ended.subscribe();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(end) => end.clone().unwrap_or(SessionEnd::ConnectionLost),
                Err(_) => SessionEnd::ConnectionLost,
            }
        }
    }

    /// True once the connection takes no new calls (closing, or over).
    pub fn is_closed(&self) -> bool {
        let st = self.shared.lock();
        st.closing || st.goodbye_queued || st.end.is_some()
    }

    /// Why the session ended, once it has ended (or started to end).
    pub fn end_reason(&self) -> Option<SessionEnd> {
        self.shared.lock().end.clone()
    }
}

impl Caller for RpcHandle {
    fn call(&self, path: &[&str], args: Vec<Value>) -> BoxFuture<'static, Result<Body, RpcError>> {
        self.request(path, args).boxed()
    }

    fn source(
        &self,
        path: &[&str],
        args: Vec<Value>,
    ) -> BoxStream<'static, Result<Body, RpcError>> {
        RpcHandle::source(self, path, args).boxed()
    }

    fn sink(
        &self,
        path: &[&str],
        args: Vec<Value>,
        items: BoxStream<'static, Body>,
    ) -> BoxFuture<'static, Result<(), RpcError>> {
        self.sink_from(path, args, items)
    }

    fn duplex(
        &self,
        path: &[&str],
        args: Vec<Value>,
        items: BoxStream<'static, Body>,
    ) -> BoxStream<'static, Result<Body, RpcError>> {
        self.duplex_with(path, args, items).boxed()
    }
}
