//! The muxrpc engine: many concurrent calls and streams over one plaintext byte stream, in both
//! directions (PROTOCOL.md §5).
//!
//! [`Connection::start`] spawns two tasks on the current tokio runtime: the reader (`reader.rs`)
//! decodes frames and routes them (answers to our calls, the peer's requests, stream values), and the
//! writer (`writer.rs`) is the only code that writes, batching frames and polling stream producers
//! only when it has room (backpressure). Shared bookkeeping lives in `state.rs`, our calls waiting
//! for their answers in `calls.rs`. The peer's requests are read by `frames.rs` and `request.rs` and
//! answered by `incoming.rs` through a [`MethodTable`]; our calls go through the [`RpcHandle`],
//! their requests encoded by `request_frame.rs`. Placing or answering an async call allocates only
//! the values handed over: the method's arguments and the caller's answer (see
//! `tests/alloc_budget.rs`).
//!
//! Session end (§5.7): a graceful [`RpcHandle::close`] waits for everything outstanding then sends
//! the goodbye; receiving the peer's goodbye fails our outstanding calls with
//! [`RpcError::ConnectionLost`](crate::rpc::RpcError::ConnectionLost) and answers with our goodbye;
//! EOF after the goodbye is normal, EOF without it fails everything the same way.

mod calls;
mod config;
mod end;
mod frames;
mod handle;
mod inbound;
mod incoming;
mod reader;
mod request;
mod request_frame;
mod state;
mod writer;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tracing::debug;

pub use config::{OverflowPolicy, RpcConfig};
pub use end::SessionEnd;
pub use handle::{BodySink, RpcHandle};
pub use inbound::InboundStream;

use super::dispatch::{CallContext, MethodTable};
use incoming::Callee;
use reader::Reader;
use state::Shared;
use writer::Writer;

/// Starts RPC sessions.
#[derive(Debug)]
pub struct Connection;

impl Connection {
    /// Runs muxrpc over `reader`/`writer` (the plaintext streams of one connection), answering the
    /// peer's calls from `methods` with `callee_ctx` as every call's context. Must be called from
    /// within a tokio runtime; returns the handle for our own calls.
    pub fn start<R, W>(
        reader: R,
        writer: W,
        methods: Arc<MethodTable>,
        callee_ctx: CallContext,
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
        tokio::spawn(Writer::new(writer, rx, Arc::clone(&shared)).run());
        let callee = Callee::new(methods, callee_ctx, max_calls);
        tokio::spawn(Reader::new(reader, Arc::clone(&shared), callee).run());
        RpcHandle::new(shared)
    }
}
