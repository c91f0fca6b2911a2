//! A tunnel's byte stream under pressure and at its edges, on bare engines joined by small
//! in-memory pipes (client ↔ portal ↔ endpoint, the portal forwarding with [`forward`]): a
//! writer whose reader at the far end stops is held back after a bounded amount, nothing is
//! lost once the reader goes on, a zero-length write sends no item, and an item that is not
//! binary is a typed read error.

use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream};
use secret_stack::rpc::{Body, CallKind, MethodInput, Permissions, Reply, RpcConfig, RpcHandle};
use secret_stack::tunnel::{DuplexBytes, DuplexBytesError, forward};
use secret_stack_tests::engine::{method, start, table};
use secret_stack_tests::stack_fixtures::within;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use tokio::sync::mpsc;

/// Each pipe between two engines holds this much.
const PIPE: usize = 16 * 1024;
/// The size of each write.
const CHUNK: usize = 4 * 1024;
/// What the writer tries to send in all.
const TOTAL: usize = 16 << 20;
/// What may be in flight when the far reader stops: per hop the writer's batch (64 KiB), the
/// pipe (16 KiB) and the receiver's queue (4 items), about 200 KiB for both hops; 1 MiB leaves a
/// wide margin and is still 16 times less than what an unbounded portal would take in.
const BOUND: usize = 1 << 20;
/// A write that makes no progress for this long counts as held back.
const STALL: Duration = Duration::from_secs(1);

fn config() -> RpcConfig {
    RpcConfig {
        stream_buffer: 4,
        ..RpcConfig::default()
    }
}

/// The engine of an endpoint whose `tunnel.connect` answers with `answer(input)`.
fn endpoint(
    io: tokio::io::DuplexStream,
    answer: impl Fn(MethodInput) -> Reply + Send + Sync + 'static,
) -> RpcHandle {
    let connect = method("tunnel.connect", CallKind::Duplex, move |_, input| {
        answer(input.expect("a duplex has input"))
    });
    start(io, table(vec![connect]), Permissions::full(), config())
}

/// A client engine joined to a portal engine that forwards `tunnel.connect` to `endpoint`'s
/// engine; returns the client's engine (the other engines run on by themselves).
fn through_portal(answer: impl Fn(MethodInput) -> Reply + Send + Sync + 'static) -> RpcHandle {
    let (portal_side, endpoint_side) = duplex(PIPE);
    let onward = start(portal_side, table(vec![]), Permissions::full(), config());
    endpoint(endpoint_side, answer);
    let forwarding = method("tunnel.connect", CallKind::Duplex, move |args, input| {
        let input = input.expect("a duplex has input");
        Reply::Stream(forward(&onward, &["tunnel", "connect"], args, input))
    });
    let (client_side, portal_side) = duplex(PIPE);
    start(
        portal_side,
        table(vec![forwarding]),
        Permissions::full(),
        config(),
    );
    start(client_side, table(vec![]), Permissions::full(), config())
}

/// A client engine and the byte streams arriving at the endpoint.
fn tunnel_to_byte_endpoint() -> (RpcHandle, mpsc::UnboundedReceiver<DuplexBytes>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = through_portal(move |input| {
        let (bytes, output) = DuplexBytes::answer(input);
        let _ = tx.send(bytes);
        Reply::Stream(output)
    });
    (client, rx)
}

fn byte_at(offset: usize) -> u8 {
    (offset % 251) as u8
}

fn chunk_at(offset: usize) -> Vec<u8> {
    (offset..offset + CHUNK).map(byte_at).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_reader_holds_the_writer_back_through_the_portal() {
    let (client, mut incoming) = tunnel_to_byte_endpoint();
    let mut writer = DuplexBytes::call(&client, &["tunnel", "connect"], vec![json!({})]);
    let mut reader = within(incoming.recv()).await.expect("the tunnel arrives");

    // The endpoint reads nothing: writing must stop making progress well before TOTAL.
    let mut written = 0;
    while let Ok(result) = tokio::time::timeout(STALL, writer.write(&chunk_at(written))).await {
        assert_eq!(result.expect("write"), CHUNK, "a write is one whole item");
        written += CHUNK;
        assert!(
            written <= BOUND,
            "{written} bytes taken in while nobody reads: something buffers without bound"
        );
    }

    // Once the endpoint reads, everything arrives, in order, and the writer finishes.
    let read_all = tokio::spawn(async move {
        let mut got = vec![0; TOTAL];
        reader.read_exact(&mut got).await.expect("read");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.expect("EOF");
        (got, rest)
    });
    while written < TOTAL {
        within(writer.write_all(&chunk_at(written))).await.unwrap();
        written += CHUNK;
    }
    within(writer.shutdown()).await.unwrap();
    let (got, rest) = within(read_all).await.unwrap();
    let first_bad = got.iter().enumerate().position(|(i, &b)| b != byte_at(i));
    assert_eq!(first_bad, None, "bytes changed on the way");
    assert!(
        rest.is_empty(),
        "{} bytes more than were written",
        rest.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_length_write_sends_no_item() {
    let (tx, mut items) = mpsc::unbounded_channel();
    let client = through_portal(move |input| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let got: Vec<_> = input.collect().await;
            let _ = tx.send(got);
        });
        Reply::Stream(stream::empty().boxed())
    });
    let mut writer = DuplexBytes::call(&client, &["tunnel", "connect"], vec![json!({})]);
    assert_eq!(within(writer.write(&[])).await.unwrap(), 0);
    within(writer.write_all(b"x")).await.unwrap();
    assert_eq!(within(writer.write(&[])).await.unwrap(), 0);
    within(writer.shutdown()).await.unwrap();
    let got = within(items.recv()).await.expect("the endpoint's items");
    assert_eq!(got, vec![Ok(Body::Binary(Bytes::from_static(b"x")))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_that_is_not_binary_is_a_typed_read_error() {
    for (item, kind) in [
        (Body::Text("hi".into()), "text"),
        (Body::Json(json!(1)), "json"),
    ] {
        let client = through_portal(move |_| {
            let items = [
                Ok(Body::Binary(Bytes::from_static(b"ok"))),
                Ok(item.clone()),
            ];
            Reply::Stream(stream::iter(items).boxed())
        });
        let mut reader = DuplexBytes::call(&client, &["tunnel", "connect"], vec![json!({})]);
        let mut buf = [0; 8];
        assert_eq!(within(reader.read(&mut buf)).await.unwrap(), 2);
        let error = within(reader.read(&mut buf)).await.expect_err("not binary");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        let inner = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<DuplexBytesError>());
        assert_eq!(inner, Some(&DuplexBytesError::NotBinary { kind }));
        assert!(error.to_string().contains("only binary items"), "{error}");
        // The error stays: a later read fails the same way.
        let again = within(reader.read(&mut buf))
            .await
            .expect_err("still failed");
        assert_eq!(again.kind(), std::io::ErrorKind::InvalidData);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_callers_reader_loses_none_of_its_last_writes() {
    // An inner session closing drops its reader right after its last writes: those must still
    // reach the far end (the engine ends our half at once when a caller's stream is dropped).
    let (client, mut incoming) = tunnel_to_byte_endpoint();
    for round in 0..20 {
        let DuplexBytes { reader, mut writer } =
            DuplexBytes::call(&client, &["tunnel", "connect"], vec![json!({})]);
        let mut far = within(incoming.recv()).await.expect("the tunnel arrives");
        let sent = chunk_at(round);
        within(writer.write_all(&sent)).await.unwrap();
        within(writer.write_all(&sent)).await.unwrap();
        drop(reader);
        within(writer.shutdown()).await.unwrap();
        let mut got = Vec::new();
        within(far.read_to_end(&mut got))
            .await
            .expect("EOF after the bytes");
        assert_eq!(got.len(), 2 * CHUNK, "round {round}: bytes lost");
        assert!(
            got[..CHUNK] == sent[..] && got[CHUNK..] == sent[..],
            "round {round}"
        );
    }
}
