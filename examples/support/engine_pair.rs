//! Two muxrpc engines in one process, joined by an in-memory pipe: a caller serving nothing and a
//! callee serving the interop [`test`](crate::test_plugin) plugin, with plaintext between them or a
//! box stream each way. The allocation counters (`examples/alloc_count.rs`,
//! `tests/alloc_budget.rs`) measure the RPC path on these, without sockets or a handshake.

use std::sync::Arc;

use secret_stack::box_stream::{self, BoxKey};
use secret_stack::keys::PublicKey;
use secret_stack::rpc::{CallContext, MethodTable, Permissions, RpcConfig, RpcHandle};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};

/// Room in each direction of the in-memory pipe.
const PIPE: usize = 1 << 20;

/// `(caller, callee)` over a plaintext pipe. Must be called within a tokio runtime.
pub fn plain() -> (RpcHandle, RpcHandle) {
    let (a, b) = tokio::io::duplex(PIPE);
    engines(tokio::io::split(a), tokio::io::split(b))
}

/// `(caller, callee)` with a box stream in each direction (fixed keys). Must be called within a
/// tokio runtime.
pub fn boxed() -> (RpcHandle, RpcHandle) {
    let up = BoxKey {
        key: [1; 32],
        nonce: [2; 24],
    };
    let down = BoxKey {
        key: [3; 32],
        nonce: [4; 24],
    };
    let (a, b): (DuplexStream, DuplexStream) = tokio::io::duplex(PIPE);
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let a = box_stream::pair(ar, aw, up.clone(), down.clone());
    let b = box_stream::pair(br, bw, down, up);
    engines(a, b)
}

fn ctx() -> CallContext {
    CallContext::new(PublicKey([7; 32]), Permissions::full(), 1)
}

/// A caller engine over `a` and a callee engine serving the `test` plugin over `b`.
fn engines<R1, W1, R2, W2>(a: (R1, W1), b: (R2, W2)) -> (RpcHandle, RpcHandle)
where
    R1: AsyncRead + Unpin + Send + 'static,
    W1: AsyncWrite + Unpin + Send + 'static,
    R2: AsyncRead + Unpin + Send + 'static,
    W2: AsyncWrite + Unpin + Send + 'static,
{
    let mut table = MethodTable::new();
    for method in crate::test_plugin::methods() {
        if table.insert(method).is_err() {
            unreachable!("the test plugin has no duplicate names");
        }
    }
    let callee = RpcHandle::start(b.0, b.1, Arc::new(table), ctx(), RpcConfig::default());
    let caller = RpcHandle::start(
        a.0,
        a.1,
        Arc::new(MethodTable::new()),
        ctx(),
        RpcConfig::default(),
    );
    (caller, callee)
}
