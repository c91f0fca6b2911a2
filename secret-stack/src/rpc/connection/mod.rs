//! The muxrpc engine: many concurrent calls and streams over one plaintext byte stream, in both
//! directions.
//!
//! [`RpcHandle::start`] spawns two tasks on the current tokio runtime: the reader (`reader.rs`)
//! decodes frames and routes them (answers to our calls, the peer's requests, stream values), and the
//! writer (`writer.rs`) is the only code that writes, batching frames and polling stream producers
//! only when it has room (backpressure). Shared bookkeeping lives in `state.rs`, our calls waiting
//! for their answers in `caller_calls.rs`. The peer's requests are read by `peer_frames.rs` and
//! `callee_request.rs` and answered by `callee.rs` through a [`MethodTable`](crate::rpc::MethodTable); our calls go through the [`RpcHandle`],
//! their requests encoded by `caller_request.rs`. Each call's context carries a weak
//! [`CallerHandle`] to its connection (`caller_handle.rs`), so a handler can call the peer back.
//! Placing or answering an async call allocates only the values handed over: the method's arguments and the caller's answer (see
//! `tests/alloc_budget.rs`).
//!
//! Session end: a graceful [`RpcHandle::close`] waits for everything outstanding then sends
//! the goodbye; receiving the peer's goodbye fails our outstanding calls with
//! [`RpcError::ConnectionLost`](crate::rpc::RpcError::ConnectionLost) and answers with our goodbye;
//! EOF after the goodbye is normal, EOF without it fails everything the same way.

mod callee;
mod callee_request;
mod caller_calls;
mod caller_handle;
mod caller_request;
mod config;
mod end;
mod handle;
mod peer_frames;
mod reader;
mod recv_stream;
mod state;
mod writer;

pub use caller_handle::CallerHandle;
pub use config::{OverflowPolicy, RpcConfig};
pub use end::SessionEnd;
pub use handle::{BodySink, RpcHandle};
pub use recv_stream::RecvStream;
