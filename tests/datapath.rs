//! The bulk data path without plaintext copies: box-stream frames sealed
//! straight from the writer's caller's buffer and opened straight into the reader's caller's
//! buffer, and large RPC bodies written from their own buffers by vectored writes.
//!
//! * Every write size from 1 to 3 × 4096 + 7 bytes, mixed with flushes, comes back whole and in
//!   order through both reader paths (tiny reads: frames opened in place; large reads: opened
//!   straight into the caller's buffer), and the wire is byte for byte what [`FrameEncoder`] seals
//!   for the same cutting — plain and vectored writes alike.
//! * Large and small RPC bodies, binary and text, interleaved with small calls, arrive intact and
//!   in order over real box streams (whose writers take vectored writes), and the same over a
//!   transport without vectored writes.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream};
use secret_stack::box_stream::{self, BoxKey, BoxReader, BoxWriter, FrameEncoder};
use secret_stack::keys::PublicKey;
use secret_stack::rpc::{
    Body, CallContext, CallKind, Method, MethodTable, Permissions, Reply, RpcConfig, RpcHandle,
};
use secret_stack_examples::test_plugin;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// The largest write size tried: three whole frames and a bit.
const MAX_WRITE: usize = 3 * 4096 + 7;

fn key() -> BoxKey {
    BoxKey {
        key: [0x42; 32],
        nonce: [0xfd; 24],
    }
}

/// Deterministic bytes, different for each write so a misplaced piece shows.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(7)) as u8)
        .collect()
}

/// Whether to flush after write number `i`: irregularly, about one write in three.
fn flush_after(i: usize) -> bool {
    (i * 2_654_435_761) % 7 < 2
}

/// An in-memory transport handing out at most `step` bytes per read.
struct Source {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl AsyncRead for Source {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self
            .step
            .min(buf.remaining())
            .min(self.data.len() - self.pos);
        let from = self.pos;
        buf.put_slice(&self.data[from..from + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// Reads a whole box stream from `wire` with reads of the sizes `read_sizes` cycles through.
async fn read_back(wire: &[u8], step: usize, read_sizes: &[usize]) -> Vec<u8> {
    let source = Source {
        data: wire.to_vec(),
        pos: 0,
        step,
    };
    let mut reader = BoxReader::new(source, &key());
    let mut got = Vec::new();
    let mut buf = vec![0u8; read_sizes.iter().copied().max().unwrap_or(1)];
    for &size in read_sizes.iter().cycle() {
        let n = reader.read(&mut buf[..size]).await.expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(reader.goodbye_received());
    got
}

/// The box stream `FrameEncoder` seals for `writes` with a flush after the writes `flush_after`
/// picks: each flushed run of bytes cut into 4096-byte frames, then the goodbye.
fn encoded(writes: &[Vec<u8>]) -> Vec<u8> {
    let mut encoder = FrameEncoder::new(&key());
    let mut wire = Vec::new();
    let mut run = Vec::new();
    for (i, chunk) in writes.iter().enumerate() {
        run.extend_from_slice(chunk);
        if flush_after(i) {
            encoder.encode_to_vec(&run, &mut wire).expect("encode");
            run.clear();
        }
    }
    encoder.encode_to_vec(&run, &mut wire).expect("encode");
    let mut goodbye = [0u8; 34];
    encoder.seal_goodbye(&mut goodbye).expect("goodbye");
    wire.extend_from_slice(&goodbye);
    wire
}

/// Every write size once, each write different.
fn every_size() -> Vec<Vec<u8>> {
    (1..=MAX_WRITE).map(|len| pattern(len, len)).collect()
}

#[tokio::test]
async fn every_write_size_round_trips_and_seals_as_the_frame_encoder_does() {
    let writes = every_size();
    let mut writer = BoxWriter::new(Vec::new(), &key());
    for (i, chunk) in writes.iter().enumerate() {
        writer.write_all(chunk).await.expect("write");
        if flush_after(i) {
            writer.flush().await.expect("flush");
        }
    }
    writer.shutdown().await.expect("shutdown");
    let wire = writer.into_inner();
    assert!(
        wire == encoded(&writes),
        "the wire differs from the encoder's frames"
    );

    let plain = writes.concat();
    let tiny = read_back(&wire, 1 << 20, &[1, 7, 4095, 13]).await;
    assert!(tiny == plain, "tiny reads (frames opened in place)");
    let large = read_back(&wire, 1 << 20, &[1 << 20]).await;
    assert!(
        large == plain,
        "large reads (frames opened into the caller's buffer)"
    );
    let trickled = read_back(&wire, 999, &[4096, 4095, 70_000]).await;
    assert!(
        trickled == plain,
        "reads at and around a frame's size, input in pieces"
    );
}

/// Writes all of `slices` with vectored writes, as the RPC writer does.
async fn write_all_vectored<W: AsyncWrite + Unpin>(writer: &mut W, slices: &[&[u8]]) {
    let mut slices: Vec<IoSlice<'_>> = slices.iter().map(|s| IoSlice::new(s)).collect();
    let mut rest = &mut slices[..];
    IoSlice::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        let n = writer.write_vectored(rest).await.expect("vectored write");
        assert!(n > 0, "a vectored write took nothing");
        IoSlice::advance_slices(&mut rest, n);
    }
}

#[tokio::test]
async fn vectored_writes_seal_as_one_write_of_their_concatenation() {
    let writes = every_size();
    let mut writer = BoxWriter::new(Vec::new(), &key());
    assert!(writer.is_write_vectored());
    for (i, chunk) in writes.iter().enumerate() {
        // Cut each write into a header-like start, the middle and the end, with empty slices
        // between, at places that move across frame boundaries from one write to the next.
        let a = (i * 9) % (chunk.len() + 1);
        let b = a + (chunk.len() - a) * (i % 3) / 3;
        let pieces: [&[u8]; 5] = [&chunk[..a], &[], &chunk[a..b], &chunk[b..], &[]];
        write_all_vectored(&mut writer, &pieces).await;
        if flush_after(i) {
            writer.flush().await.expect("flush");
        }
    }
    writer.shutdown().await.expect("shutdown");
    let wire = writer.into_inner();
    assert!(
        wire == encoded(&writes),
        "the wire differs from the encoder's frames"
    );
}

// ---------------------------------------------------------------------------------------------
// RPC bodies through the engine

/// How long any one RPC scenario may take.
const WAIT: Duration = Duration::from_secs(60);

/// Body sizes around box-stream frames, RPC batches and the 4 KiB bulk threshold.
const BODY_SIZES: [usize; 14] = [
    1,
    100,
    4095,
    4096,
    4097,
    8191,
    12_295,
    65_535,
    65_536,
    65_537,
    3,
    200_000,
    16 * 4096 + 9,
    777,
];

/// How many bodies the bulk source sends and the echo gets.
const ITEMS: usize = 3 * BODY_SIZES.len();

/// Body number `i`: binary and text in turn, each with its own bytes.
fn body(i: usize) -> Body {
    let len = BODY_SIZES[i % BODY_SIZES.len()];
    if i.is_multiple_of(2) {
        Body::Binary(Bytes::from(pattern(len, i)))
    } else {
        Body::Text(
            (0..len)
                .map(|j| char::from(b'a' + ((j + i) % 26) as u8))
                .collect(),
        )
    }
}

/// `bulk.items`: a source of the `ITEMS` bodies.
fn bulk_source() -> Method {
    Method {
        path: vec!["bulk".into(), "items".into()],
        kind: CallKind::Source,
        groups: Vec::new(),
        handler: Arc::new(|_, _, _| {
            Reply::Stream(stream::iter((0..ITEMS).map(|i| Ok(body(i)))).boxed())
        }),
    }
}

fn start<R, W>(reader: R, writer: W) -> RpcHandle
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut table = MethodTable::new();
    for method in test_plugin::methods().into_iter().chain([bulk_source()]) {
        table.insert(method).expect("no duplicate methods");
    }
    let ctx = CallContext::new(PublicKey([9; 32]), Permissions::full(), 1);
    RpcHandle::start(reader, writer, Arc::new(table), ctx, RpcConfig::default())
}

/// A writer that takes no vectored writes (the default `poll_write_vectored` writes only the
/// first slice), as some transports do.
struct Unvectored<W>(W);

impl<W: AsyncWrite + Unpin> AsyncWrite for Unvectored<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Two engines over one in-memory pipe: through box streams (whose writers take vectored
/// writes) if `boxed`, else over the pipe's halves, with vectored writes hidden.
fn engines(boxed: bool) -> (RpcHandle, RpcHandle) {
    let (x, y) = tokio::io::duplex(64 * 1024);
    let there = BoxKey {
        key: [1; 32],
        nonce: [2; 24],
    };
    let back = BoxKey {
        key: [3; 32],
        nonce: [4; 24],
    };
    let end = |io: DuplexStream, encrypt: &BoxKey, decrypt: &BoxKey| {
        let (r, w) = tokio::io::split(io);
        if boxed {
            let (r, w) = box_stream::pair(r, w, encrypt.clone(), decrypt.clone());
            assert!(w.is_write_vectored());
            start(r, w)
        } else {
            let w = Unvectored(w);
            assert!(!w.is_write_vectored());
            start(r, w)
        }
    };
    (end(x, &there, &back), end(y, &back, &there))
}

/// Checks that `items` yields exactly the `ITEMS` bodies, in order.
async fn expect_bodies(
    mut items: impl futures::Stream<Item = Result<Body, secret_stack::rpc::RpcError>> + Unpin,
    what: &str,
) {
    let mut n = 0;
    while let Some(item) = items.next().await {
        let item = item.unwrap_or_else(|e| panic!("{what}: item {n} failed: {e}"));
        assert!(
            item == body(n),
            "{what}: item {n} ({} bytes) differs",
            BODY_SIZES[n % BODY_SIZES.len()]
        );
        n += 1;
    }
    assert_eq!(n, ITEMS, "{what}: every item arrived");
}

/// Large and small bodies of a source and of an echo arrive intact and in order while small
/// calls go back and forth on the same connection.
async fn bulk_bodies_with_small_calls_between(boxed: bool) {
    let (a, b) = engines(boxed);
    let source = expect_bodies(a.source(&["bulk", "items"], vec![]), "source");
    let echo = expect_bodies(
        a.duplex_with(
            &["test", "echo"],
            vec![],
            stream::iter((0..ITEMS).map(body)),
        ),
        "echo",
    );
    let calls = async {
        for k in 0..40 {
            let who = format!("n{k}");
            let (ours, theirs) = futures::join!(
                a.request(&["test", "hello"], vec![Value::from(who.clone())]),
                b.request(&["test", "hello"], vec![Value::from(who.clone())]),
            );
            let expected = Body::Text(format!("hello {who}"));
            assert_eq!(ours.expect("call from a"), expected);
            assert_eq!(theirs.expect("call from b"), expected);
        }
    };
    let all = async { futures::join!(source, echo, calls) };
    tokio::time::timeout(WAIT, all).await.expect("in time");
    assert!(a.close().await.is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_bodies_over_box_streams_with_small_calls_between() {
    bulk_bodies_with_small_calls_between(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_bodies_over_a_transport_without_vectored_writes() {
    bulk_bodies_with_small_calls_between(false).await;
}
