//! The muxrpc engine's test fixtures: two engines (or an engine and a bare byte-level peer) joined
//! by an in-memory pipe, serving the interop `test` plugin plus whatever methods a test adds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{FutureExt, StreamExt, stream};
use secret_stack::keys::PublicKey;
use secret_stack::rpc::PacketCodec;
use secret_stack::rpc::{
    Body, CallContext, CallKind, Frame, Method, MethodInput, MethodTable, Packet, Permissions,
    Reply, RpcConfig, RpcHandle,
};
use secret_stack_examples::checks::CheckResult;
use secret_stack_examples::test_plugin;
use serde_json::Value;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio_util::codec::FramedRead;

/// How long a test waits for anything before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// The call context of every call: a fixed peer key, `permissions`.
pub fn ctx(permissions: Permissions) -> CallContext {
    CallContext::new(PublicKey([1; 32]), permissions, 1)
}

/// The `test` plugin plus `extra`.
pub fn table(extra: Vec<Method>) -> Arc<MethodTable> {
    let mut t = MethodTable::new();
    for m in test_plugin::methods().into_iter().chain(extra) {
        t.insert(m).unwrap();
    }
    Arc::new(t)
}

/// Starts an engine on `io`.
pub fn start(
    io: DuplexStream,
    methods: Arc<MethodTable>,
    perms: Permissions,
    config: RpcConfig,
) -> RpcHandle {
    let (r, w) = tokio::io::split(io);
    RpcHandle::start(r, w, methods, ctx(perms), config)
}

/// Two engines talking to each other, each serving the test plugin (plus `extra` on B).
pub fn pair_with(
    extra_b: Vec<Method>,
    perms_b: Permissions,
    config: RpcConfig,
    pipe: usize,
) -> (RpcHandle, RpcHandle) {
    let (x, y) = tokio::io::duplex(pipe);
    let a = start(x, table(vec![]), Permissions::full(), config.clone());
    let b = start(y, table(extra_b), perms_b, config);
    (a, b)
}

/// Two engines with full permissions, default settings and a 64 KiB pipe.
pub fn pair() -> (RpcHandle, RpcHandle) {
    pair_with(vec![], Permissions::full(), RpcConfig::default(), 64 * 1024)
}

/// A method at dotted `path` of `kind`, answering with `f(args, input)`.
pub fn method(
    path: &str,
    kind: CallKind,
    f: impl Fn(Vec<Value>, Option<MethodInput>) -> Reply + Send + Sync + 'static,
) -> Method {
    Method {
        path: path.split('.').map(str::to_owned).collect(),
        kind,
        groups: Vec::new(),
        handler: Arc::new(move |_, args, input| f(args, input)),
    }
}

/// Asserts that every check of the shared suite passed (and that it ran them all).
pub fn assert_all_pass(results: &[CheckResult]) {
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "failed checks: {failed:#?}");
    assert!(results.len() >= 13);
}

/// A bare peer on the other end of the pipe, for byte-level scripts.
pub struct Raw {
    /// Frames the engine wrote.
    pub frames: FramedRead<tokio::io::ReadHalf<DuplexStream>, PacketCodec>,
    /// Where bytes for the engine go.
    pub out: tokio::io::WriteHalf<DuplexStream>,
}

impl Raw {
    /// The next frame the engine wrote (fails the test after [`WAIT`]).
    pub async fn next(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, self.frames.next())
            .await
            .expect("frame in time")
            .map(|f| f.unwrap())
    }
    /// Sends one packet to the engine.
    pub async fn send(&mut self, p: Packet) {
        let mut buf = BytesMut::new();
        PacketCodec::encode_packet(&p, &mut buf).unwrap();
        self.out.write_all(&buf).await.unwrap();
    }
}

/// An engine serving the `test` plugin, and a bare peer.
pub fn raw_pair(config: RpcConfig) -> (RpcHandle, Raw) {
    let (x, y) = tokio::io::duplex(1 << 16);
    let a = start(x, table(vec![]), Permissions::full(), config);
    let (r, w) = tokio::io::split(y);
    (
        a,
        Raw {
            frames: FramedRead::new(r, PacketCodec::default()),
            out: w,
        },
    )
}

/// `bulk`: a source of endless 1 KiB binary values, counting what it produced.
pub fn bulk_source(produced: Arc<AtomicUsize>) -> Method {
    method("bulk", CallKind::Source, move |_, _| {
        let p = Arc::clone(&produced);
        Reply::Stream(
            stream::iter(0u64..)
                .map(move |_| {
                    p.fetch_add(1, Ordering::SeqCst);
                    Ok(Body::Binary(Bytes::from(vec![7u8; 1024])))
                })
                .boxed(),
        )
    })
}

/// A method of any kind that never answers (its sink input, if any, is never read).
pub fn never(path: &str, kind: CallKind) -> Method {
    method(path, kind, move |_, input| match kind {
        CallKind::Sink => Reply::Done(
            async move {
                let _unread = input;
                futures::future::pending::<()>().await;
                Ok(())
            }
            .boxed(),
        ),
        _ => Reply::Value(futures::future::pending().boxed()),
    })
}

/// Starts an engine serving `extra` on one end of a pipe; the other end is a bare peer.
pub fn raw_serving(extra: Vec<Method>, config: RpcConfig) -> (RpcHandle, Raw) {
    let (x, y) = tokio::io::duplex(1 << 16);
    let a = start(x, table(extra), Permissions::full(), config);
    let (r, w) = tokio::io::split(y);
    let frames = FramedRead::new(r, PacketCodec::default());
    (a, Raw { frames, out: w })
}
