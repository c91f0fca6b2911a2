//! The muxrpc engine over in-memory pipes (`tokio::io::duplex`): every call kind in both directions,
//! concurrency, aborts, panics, errors, closing (graceful, forced, peer vanishing), malformed input,
//! and backpressure (a fast source against a slow reader stays bounded on both sides while other
//! calls keep completing).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{FutureExt, SinkExt, StreamExt, stream};
use secret_stack::keys::PublicKey;
use secret_stack::rpc::codec::PacketCodec;
use secret_stack::rpc::{
    Body, CallContext, CallKind, Caller, Connection, Frame, Method, MethodTable, OverflowPolicy,
    Packet, Permissions, RemoteError, Reply, RpcConfig, RpcError, RpcHandle, SessionEnd,
};
use secret_stack_examples::checks::run_checks;
use secret_stack_examples::test_plugin;
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio_util::codec::FramedRead;

const WAIT: Duration = Duration::from_secs(10);

fn ctx(permissions: Permissions) -> CallContext {
    CallContext {
        remote: PublicKey([1; 32]),
        permissions: Arc::new(permissions),
        connection: 1,
    }
}

fn table(extra: Vec<Method>) -> Arc<MethodTable> {
    let mut t = MethodTable::new();
    for m in test_plugin::methods().into_iter().chain(extra) {
        t.insert(m).unwrap();
    }
    Arc::new(t)
}

fn start(
    io: DuplexStream,
    methods: Arc<MethodTable>,
    perms: Permissions,
    config: RpcConfig,
) -> RpcHandle {
    let (r, w) = tokio::io::split(io);
    Connection::start(r, w, methods, ctx(perms), config)
}

/// Two engines talking to each other, each serving the test plugin (plus `extra` on B).
fn pair_with(
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

fn pair() -> (RpcHandle, RpcHandle) {
    pair_with(vec![], Permissions::full(), RpcConfig::default(), 64 * 1024)
}

fn method(
    path: &str,
    kind: CallKind,
    f: impl Fn(Vec<Value>, Option<secret_stack::rpc::Incoming>) -> Reply + Send + Sync + 'static,
) -> Method {
    Method {
        path: path.split('.').map(str::to_owned).collect(),
        kind,
        handler: Arc::new(move |_, args, input| f(args, input)),
    }
}

fn assert_all_pass(results: &[secret_stack_examples::checks::CheckResult]) {
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "failed checks: {failed:#?}");
    assert!(results.len() >= 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_in_both_directions() {
    let (a, b) = pair();
    // A calls B as a master, B calls A: the same engine on both ends.
    assert_all_pass(&run_checks(&a, true).await);
    assert_all_pass(&run_checks(&b, true).await);
    // And through the trait object, as the stack will use it.
    let dyn_caller: &dyn Caller = &a;
    assert_all_pass(&run_checks(dyn_caller, true).await);
}

#[tokio::test]
async fn anonymous_peer_is_refused_the_secret() {
    let (a, _b) = pair_with(
        vec![],
        test_plugin::permissions(false),
        RpcConfig::default(),
        1 << 16,
    );
    let results = run_checks(&a, false).await;
    assert_all_pass(&results);
    let err = a
        .call::<String>(&["test", "secret"], vec![])
        .await
        .unwrap_err();
    match err {
        RpcError::Remote(e) => assert_eq!(
            e.message,
            "method:test,secret is on list of disallowed methods"
        ),
        other => panic!("{other:?}"),
    }
    let err = a.call::<Value>(&["nope"], vec![]).await.unwrap_err();
    assert!(
        matches!(err, RpcError::Remote(ref e) if e.message == "no async:nope"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_parallel_calls_and_streams() {
    let (a, b) = pair();
    let calls = (0..300).map(|i| {
        let a = a.clone();
        async move {
            a.call::<String>(&["test", "hello"], vec![json!(i.to_string())])
                .await
        }
    });
    let streams = (0..30u64).map(|i| {
        let b = b.clone();
        async move {
            let items: Vec<_> = b
                .source(&["test", "count"], vec![json!(i * 10)])
                .collect()
                .await;
            items
                .into_iter()
                .map(|r| r.unwrap().into_json())
                .collect::<Vec<_>>()
        }
    });
    let (answers, streamed) = tokio::time::timeout(
        WAIT,
        futures::future::join(
            futures::future::join_all(calls),
            futures::future::join_all(streams),
        ),
    )
    .await
    .expect("no hang");
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a.unwrap(), format!("hello {i}"));
    }
    for (i, s) in streamed.into_iter().enumerate() {
        let want: Vec<Value> = (0..i as u64 * 10).map(Value::from).collect();
        assert_eq!(s, want);
    }
}

#[tokio::test]
async fn bodies_keep_their_type_and_empty_values_survive() {
    let (a, _b) = pair();
    let sent = vec![
        Body::Binary(Bytes::from(vec![0u8, 159, 146, 150])), // not UTF-8
        Body::Text("héllo ☃ 🎉".into()),
        Body::Json(json!({"z": 1, "a": [true, null, 1.5], "m": {"k": "v"}})),
        Body::Text(String::new()),
    ];
    let got: Vec<Body> = Caller::duplex(
        &a,
        &["test", "echo"],
        vec![],
        stream::iter(sent.clone()).boxed(),
    )
    .map(|r| r.unwrap())
    .collect()
    .await;
    assert_eq!(&got[..3], &sent[..3]);
    // The empty string travels as JSON "" (never a zero-length body, which reads as goodbye).
    assert_eq!(got[3], Body::Json(json!("")));
    assert!(!a.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_mid_stream_stops_the_producer() {
    let produced = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&produced);
    let endless = method("endless", CallKind::Source, move |_, _| {
        let p = Arc::clone(&p);
        Reply::Stream(
            stream::iter(0u64..)
                .map(move |i| {
                    p.fetch_add(1, Ordering::SeqCst);
                    Ok(Body::Json(i.into()))
                })
                .boxed(),
        )
    });
    let (a, _b) = pair_with(
        vec![endless],
        Permissions::full(),
        RpcConfig::default(),
        1 << 16,
    );
    let mut s = a.source(&["endless"], vec![]);
    for want in 0..3u64 {
        assert_eq!(s.next().await.unwrap().unwrap(), Body::Json(want.into()));
    }
    drop(s);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_abort = produced.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        produced.load(Ordering::SeqCst),
        after_abort,
        "producer still running after abort"
    );
    // Small frames: the bound is the pipe (64 KiB ≈ 6000 ten-byte frames) plus the buffers.
    assert!(
        after_abort < 20_000,
        "producer ran far ahead: {after_abort}"
    );
    assert_eq!(
        a.call::<String>(&["test", "hello"], vec![json!("x")])
            .await
            .unwrap(),
        "hello x"
    );
    // Both ends were exchanged: a graceful close has nothing to wait for.
    assert!(matches!(
        tokio::time::timeout(WAIT, a.close()).await.unwrap(),
        SessionEnd::Closed
    ));
}

#[tokio::test]
async fn typed_error_data_crosses_the_wire() {
    let fails = method("typed.fail", CallKind::Async, |_, _| {
        let e = RemoteError::new("typed.fail: broken")
            .with_data(serde_json::json!({"Broken": {"part": 7}}));
        Reply::Value(futures::future::ready(Err(e)).boxed())
    });
    let (a, _b) = pair_with(
        vec![fails],
        Permissions::full(),
        RpcConfig::default(),
        64 * 1024,
    );
    match a.call::<Value>(&["typed", "fail"], vec![]).await {
        Err(RpcError::Remote(e)) => {
            assert_eq!(e.message, "typed.fail: broken");
            assert_eq!(
                e.data.as_deref(),
                Some(&serde_json::json!({"Broken": {"part": 7}}))
            );
        }
        other => panic!("expected the remote error with its data, got {other:?}"),
    }
}

#[tokio::test]
async fn handler_panics_become_errors() {
    let panics = vec![
        method("now", CallKind::Async, |_, _| panic!("at once")),
        method("later", CallKind::Async, |_, _| {
            Reply::Value(async { panic!("in the future") }.boxed())
        }),
        method("midstream", CallKind::Source, |_, _| {
            Reply::Stream(
                stream::iter(0..3)
                    .map(|i| {
                        if i == 2 {
                            panic!("in the stream")
                        } else {
                            Ok(Body::Json(i.into()))
                        }
                    })
                    .boxed(),
            )
        }),
        method("sinkpanic", CallKind::Sink, |_, _| {
            Reply::Done(async { panic!("in the sink") }.boxed())
        }),
    ];
    let (a, _b) = pair_with(panics, Permissions::full(), RpcConfig::default(), 1 << 16);
    for (path, text) in [("now", "at once"), ("later", "in the future")] {
        match a.call::<Value>(&[path], vec![]).await {
            Err(RpcError::Remote(e)) => assert_eq!(e.message, format!("method panicked: {text}")),
            other => panic!("{path}: {other:?}"),
        }
    }
    let items: Vec<_> = a.source(&["midstream"], vec![]).collect().await;
    assert_eq!(items.len(), 3);
    assert!(
        matches!(&items[2], Err(RpcError::Remote(e)) if e.message == "method panicked: in the stream")
    );
    let (mut tx, done) = a.sink(&["sinkpanic"], vec![]);
    let _ = tx.send(Body::from("x")).await;
    assert!(matches!(done.await, Err(RpcError::Remote(e)) if e.message.contains("in the sink")));
    assert_eq!(
        a.call::<i64>(&["test", "add"], vec![json!(1), json!(2)])
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn graceful_close_waits_for_calls_in_flight() {
    let slow = method("slow", CallKind::Async, |_, _| {
        Reply::Value(
            async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(Body::from("done"))
            }
            .boxed(),
        )
    });
    let (a, b) = pair_with(
        vec![slow],
        Permissions::full(),
        RpcConfig::default(),
        1 << 16,
    );
    let call = tokio::spawn({
        let a = a.clone();
        async move { a.call::<String>(&["slow"], vec![]).await }
    });
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let closing = tokio::spawn({
        let a = a.clone();
        async move { a.close().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(a.is_closed());
    assert!(matches!(
        a.call::<String>(&["test", "hello"], vec![json!("x")]).await,
        Err(RpcError::Closing)
    ));
    assert_eq!(call.await.unwrap().unwrap(), "done");
    assert!(matches!(closing.await.unwrap(), SessionEnd::Closed));
    assert!(matches!(
        tokio::time::timeout(WAIT, b.closed()).await.unwrap(),
        SessionEnd::PeerGoodbye
    ));
    assert!(matches!(
        a.call::<String>(&["test", "hello"], vec![json!("x")]).await,
        Err(RpcError::Closed)
    ));
    // Idempotent.
    assert!(matches!(a.close().await, SessionEnd::Closed));
}

#[tokio::test]
async fn forced_close_fails_everything_at_once() {
    let hang = method("hang", CallKind::Async, |_, _| {
        Reply::Value(futures::future::pending().boxed())
    });
    let (a, b) = pair_with(
        vec![hang],
        Permissions::full(),
        RpcConfig::default(),
        1 << 16,
    );
    let call = tokio::spawn({
        let a = a.clone();
        async move { a.call::<Value>(&["hang"], vec![]).await }
    });
    let mut live = a.source(&["test", "count"], vec![json!(1_000_000_000u64)]);
    assert!(live.next().await.unwrap().is_ok());
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.close_now(RpcError::ConnectionLost);
    let err = tokio::time::timeout(WAIT, call)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, RpcError::ConnectionLost));
    // The stream fails after whatever was already queued.
    let rest: Vec<_> = tokio::time::timeout(WAIT, live.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(matches!(rest.last(), Some(Err(RpcError::ConnectionLost))));
    assert!(matches!(
        tokio::time::timeout(WAIT, a.closed()).await.unwrap(),
        SessionEnd::Forced(_)
    ));
    let end_b = tokio::time::timeout(WAIT, b.closed()).await.unwrap();
    assert!(
        matches!(end_b, SessionEnd::PeerGoodbye | SessionEnd::ConnectionLost),
        "{end_b:?}"
    );
}

/// A bare peer on the other end of the pipe, for byte-level scripts.
struct Raw {
    frames: FramedRead<tokio::io::ReadHalf<DuplexStream>, PacketCodec>,
    out: tokio::io::WriteHalf<DuplexStream>,
}

impl Raw {
    async fn next(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, self.frames.next())
            .await
            .expect("frame in time")
            .map(|f| f.unwrap())
    }
    async fn send(&mut self, p: Packet) {
        let mut buf = BytesMut::new();
        PacketCodec::encode_packet(&p, &mut buf).unwrap();
        self.out.write_all(&buf).await.unwrap();
    }
}

fn raw_pair(config: RpcConfig) -> (RpcHandle, Raw) {
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

#[tokio::test]
async fn peer_vanishing_mid_stream_fails_promptly() {
    let (a, mut raw) = raw_pair(RpcConfig::default());
    let mut s = a.source(&["far", "away"], vec![]);
    let call = a.request(&["pending"], vec![]);
    let Some(Frame::Packet(req)) = raw.next().await else {
        panic!()
    };
    assert!(req.stream && req.req == 1);
    raw.send(Packet::new(-1, true, false, Body::from("one")))
        .await;
    assert_eq!(s.next().await.unwrap().unwrap(), Body::from("one"));
    drop(raw); // the peer vanishes: no goodbye
    let next = tokio::time::timeout(WAIT, s.next()).await.expect("prompt");
    assert!(
        matches!(next, Some(Err(RpcError::ConnectionLost))),
        "{next:?}"
    );
    assert!(matches!(
        tokio::time::timeout(WAIT, call).await.unwrap(),
        Err(RpcError::ConnectionLost)
    ));
    assert!(matches!(a.closed().await, SessionEnd::ConnectionLost));
}

#[tokio::test]
async fn peer_goodbye_fails_outstanding_calls_and_is_answered() {
    let (a, mut raw) = raw_pair(RpcConfig::default());
    let call = a.request(&["x"], vec![]);
    assert!(matches!(raw.next().await, Some(Frame::Packet(_))));
    raw.out.write_all(&[0; 9]).await.unwrap();
    assert!(matches!(call.await, Err(RpcError::ConnectionLost)));
    assert_eq!(raw.next().await, Some(Frame::Goodbye));
    assert!(matches!(a.closed().await, SessionEnd::PeerGoodbye));
}

#[tokio::test]
async fn malformed_input_ends_the_session_with_a_protocol_error() {
    let cases: [(&str, &[u8]); 3] = [
        ("type 3", b"\x03\x00\x00\x00\x02\xff\xff\xff\xff\x01\x02"),
        ("invalid json", b"\x02\x00\x00\x00\x03\x00\x00\x00\x01{{{"),
        ("oversize", b"\x02\x00\x10\x00\x00\x00\x00\x00\x01"),
    ];
    for (name, bytes) in cases {
        let config = RpcConfig {
            max_body: 1024,
            ..RpcConfig::default()
        };
        let (a, mut raw) = raw_pair(config);
        let call = a.request(&["x"], vec![]);
        assert!(matches!(raw.next().await, Some(Frame::Packet(_))));
        raw.out.write_all(bytes).await.unwrap();
        let err = tokio::time::timeout(WAIT, call).await.unwrap().unwrap_err();
        assert!(matches!(err, RpcError::Protocol(_)), "{name}: {err:?}");
        assert!(
            matches!(a.closed().await, SessionEnd::Protocol(_)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn ignored_packets_do_not_disturb_the_session() {
    let (a, mut raw) = raw_pair(RpcConfig::default());
    raw.send(Packet::new(
        0,
        false,
        false,
        Body::Json(json!(["event", 1])),
    ))
    .await;
    raw.send(Packet::new(-42, false, false, Body::from("nobody asked")))
        .await;
    raw.send(Packet::new(-43, true, true, Body::Json(json!(true))))
        .await;
    raw.send(Packet::new(i32::MIN, true, false, Body::from("min")))
        .await;
    raw.send(Packet::new(
        7,
        false,
        false,
        Body::Json(json!({"name": ["test", "add"], "args": [2, 3]})),
    ))
    .await;
    assert_eq!(
        raw.next().await,
        Some(Frame::Packet(Packet::new(
            -7,
            false,
            false,
            Body::Json(json!(5))
        )))
    );
    assert!(!a.is_closed());
}

fn bulk_source(produced: Arc<AtomicUsize>) -> Method {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_bounds_a_fast_source_and_other_calls_still_complete() {
    let produced = Arc::new(AtomicUsize::new(0));
    let config = RpcConfig {
        stream_buffer: 16,
        ..RpcConfig::default()
    };
    let (a, _b) = pair_with(
        vec![bulk_source(Arc::clone(&produced))],
        Permissions::full(),
        config,
        16 * 1024,
    );
    let mut s = a.source(&["bulk"], vec![]);
    let mut consumed = 0usize;
    let mut max_ahead = 0usize;
    // A slow reader: one item per millisecond, while async calls run on the same connection.
    let calls = tokio::spawn({
        let a = a.clone();
        async move {
            for i in 0..20 {
                let started = std::time::Instant::now();
                let r = a
                    .call::<i64>(&["test", "add"], vec![json!(i), json!(1)])
                    .await
                    .unwrap();
                assert_eq!(r, i + 1);
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "call starved by the bulk source"
                );
            }
        }
    });
    // Keep reading (slowly) until the calls are done: with the default policy a reader that stops
    // altogether pauses the whole connection, by design.
    let started = std::time::Instant::now();
    while consumed < 600 || !calls.is_finished() {
        assert!(
            started.elapsed() < WAIT,
            "calls did not complete during the bulk source"
        );
        s.next().await.unwrap().unwrap();
        consumed += 1;
        max_ahead = max_ahead.max(produced.load(Ordering::SeqCst).saturating_sub(consumed));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    calls.await.unwrap();
    // Now stop reading entirely: the producer must stall, not fill memory.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stalled = produced.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        produced.load(Ordering::SeqCst),
        stalled,
        "producer runs while nobody reads"
    );
    let ahead = stalled - consumed;
    // Bound: receive queue (16) + pipe (16 KiB = ~15 items) + read buffer + one batch (64 KiB).
    assert!(
        ahead < 200,
        "producer ran {ahead} items ahead of the reader"
    );
    assert!(
        max_ahead < 200,
        "producer ran {max_ahead} items ahead while reading"
    );
    eprintln!("backpressure: {ahead} items ahead when stalled, at most {max_ahead} while reading");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_stream_policy_ends_a_stalled_stream_only() {
    let produced = Arc::new(AtomicUsize::new(0));
    let config = RpcConfig {
        stream_buffer: 8,
        overflow: OverflowPolicy::EndStream,
        ..RpcConfig::default()
    };
    let (a, _b) = pair_with(
        vec![bulk_source(Arc::clone(&produced))],
        Permissions::full(),
        config,
        16 * 1024,
    );
    let mut s = a.source(&["bulk"], vec![]);
    assert!(s.next().await.unwrap().is_ok());
    // Nobody reads `s` now; the connection must keep serving calls.
    for i in 0..10 {
        let r = tokio::time::timeout(
            WAIT,
            a.call::<i64>(&["test", "add"], vec![json!(i), json!(0)]),
        )
        .await;
        assert_eq!(r.expect("not stalled").unwrap(), i);
    }
    let rest: Vec<_> = tokio::time::timeout(WAIT, s.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(
        rest.len() <= 9,
        "at most the buffer, then the error: {}",
        rest.len()
    );
    assert!(
        matches!(
            rest.last(),
            Some(Err(RpcError::ReceiveBufferFull { req: 1 }))
        ),
        "{:?}",
        rest.last()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = produced.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        produced.load(Ordering::SeqCst),
        stopped,
        "producer not stopped"
    );
}

#[tokio::test]
async fn sink_and_duplex_feed_with_backpressure_and_timeouts_apply() {
    let hang = method("hang", CallKind::Async, |_, _| {
        Reply::Value(futures::future::pending().boxed())
    });
    let (a, _b) = pair_with(
        vec![hang],
        Permissions::full(),
        RpcConfig::default(),
        1 << 16,
    );
    let (mut tx, done) = a.sink(&["test", "collect"], vec![]);
    for i in 0..100 {
        tx.send(Body::Json(json!(i))).await.unwrap();
    }
    tx.close().await.unwrap();
    done.await.unwrap();
    let got: Vec<i64> = a.call(&["test", "collected"], vec![]).await.unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());

    let (mut tx, mut rx) = a.duplex(&["test", "echo"], vec![]);
    for i in 0..10 {
        tx.send(Body::Json(json!(i))).await.unwrap();
        assert_eq!(rx.next().await.unwrap().unwrap(), Body::Json(json!(i)));
    }
    tx.close().await.unwrap();
    assert!(rx.next().await.is_none());

    let t = a.with_timeout(Duration::from_millis(50));
    assert!(matches!(
        t.call::<Value>(&["hang"], vec![]).await,
        Err(RpcError::Timeout)
    ));
    // A timed-out call does not hold up a graceful close.
    assert!(matches!(
        tokio::time::timeout(WAIT, a.close()).await.unwrap(),
        SessionEnd::Closed
    ));
}

#[tokio::test]
async fn a_call_dropped_before_it_is_polled_is_forgotten() {
    let hang = method("hang", CallKind::Async, |_, _| {
        Reply::Value(futures::future::pending().boxed())
    });
    let (a, _b) = pair_with(
        vec![hang],
        Permissions::full(),
        RpcConfig::default(),
        1 << 16,
    );
    // The request is sent at once; its answer will never come, and nobody waits for it.
    drop(a.request(&["hang"], vec![]));
    assert_eq!(
        a.call::<String>(&["test", "hello"], vec![json!("x")])
            .await
            .unwrap(),
        "hello x"
    );
    assert!(matches!(
        tokio::time::timeout(WAIT, a.close()).await.unwrap(),
        SessionEnd::Closed
    ));
}

#[tokio::test]
async fn refused_streams_answer_with_one_error_end() {
    let (a, _b) = pair_with(
        vec![],
        test_plugin::permissions(false),
        RpcConfig::default(),
        1 << 16,
    );
    let items: Vec<_> = a.source(&["test", "nosuch"], vec![]).collect().await;
    assert!(
        matches!(&items[..], [Err(RpcError::Remote(e))] if e.message == "no source:test,nosuch")
    );
    let r = Caller::sink(&a, &["test", "count"], vec![], stream::empty().boxed()).await;
    assert!(matches!(r, Err(RpcError::Remote(e)) if e.message == "no sink:test,count"));
    let err: RemoteError = match a.call::<Value>(&["test", "count"], vec![json!(1)]).await {
        Err(RpcError::Remote(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(err.message, "no async:test,count");
    // Everything was answered and echoed: closing has nothing to wait for.
    assert!(matches!(
        tokio::time::timeout(WAIT, a.close()).await.unwrap(),
        SessionEnd::Closed
    ));
}

/// A method of any kind that never answers (its sink input, if any, is never read).
fn never(path: &str, kind: CallKind) -> Method {
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
fn raw_serving(extra: Vec<Method>, config: RpcConfig) -> (RpcHandle, Raw) {
    let (x, y) = tokio::io::duplex(1 << 16);
    let a = start(x, table(extra), Permissions::full(), config);
    let (r, w) = tokio::io::split(y);
    let frames = FramedRead::new(r, PacketCodec::default());
    (a, Raw { frames, out: w })
}

/// A peer fills every call slot with calls that never finish (nothing to write: the writer is
/// idle), sends one more call (the reader now waits for a slot, not on the transport), then
/// vanishes. The session must still end at once.
#[tokio::test]
async fn peer_vanishing_while_the_call_slots_are_full_ends_the_session() {
    let config = RpcConfig {
        max_incoming_calls: 2,
        ..RpcConfig::default()
    };
    let (a, mut raw) = raw_serving(vec![never("slow", CallKind::Async)], config);
    for req in 1..=3 {
        raw.send(Packet::new(
            req,
            false,
            false,
            Body::Json(json!({"name": ["slow"], "args": []})),
        ))
        .await;
    }
    // Let the engine take the two slots and park on the third request.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!a.is_closed());
    drop(raw);
    let end = tokio::time::timeout(Duration::from_secs(5), a.closed())
        .await
        .expect("the session did not end while the reader waited for a call slot");
    assert!(matches!(end, SessionEnd::ConnectionLost), "{end:?}");
}

/// A peer fills a sink's receive queue (the method never reads it) so that the reader pauses on
/// its next value (`PauseReading`), then vanishes. The session must still end at once. (The
/// reader looks one packet ahead while paused: a peer that sends more before vanishing is noticed
/// only when the pause ends, or by the stack's inactivity timeout.)
#[tokio::test]
async fn peer_vanishing_while_a_stream_queue_is_full_ends_the_session() {
    let config = RpcConfig {
        stream_buffer: 1,
        overflow: OverflowPolicy::PauseReading,
        ..RpcConfig::default()
    };
    let (a, mut raw) = raw_serving(vec![never("hoard", CallKind::Sink)], config);
    let open = Body::Json(json!({"name": ["hoard"], "args": [], "type": "sink"}));
    raw.send(Packet::new(1, true, false, open)).await;
    // The first value fills the queue, the second pauses the reader.
    for k in 0..2 {
        raw.send(Packet::new(1, true, false, Body::Json(json!(k))))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!a.is_closed());
    drop(raw);
    let end = tokio::time::timeout(Duration::from_secs(5), a.closed())
        .await
        .expect("the session did not end while the reader waited for room in a stream queue");
    assert!(matches!(end, SessionEnd::ConnectionLost), "{end:?}");
}

/// A transport that takes everything and, like a socket, spends one unit of the writing task's
/// tokio budget per write. The first write that spends the last unit makes the peer vanish (the
/// engine's reader then reads EOF) and blocks until the session has recorded its end, so that the
/// end comes exactly between two of the writer's batches while its budget is spent: the state in
/// which the writer, behind an always-ready producer, used to spin for ever without seeing the
/// goodbye (and the node of the load tests kept killed sessions).
struct SpentBudgetSink {
    peer: Arc<std::sync::Mutex<Option<DuplexStream>>>,
    handle: Arc<std::sync::OnceLock<RpcHandle>>,
    /// Set once the trap went off and the session had recorded its end.
    sprung: Arc<std::sync::atomic::AtomicBool>,
}

impl tokio::io::AsyncWrite for SpentBudgetSink {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        coop.made_progress();
        // Like a transport that writes a batch in more than one piece, spend a second unit when
        // it is the task's last one: the trap below then goes off whatever the parity of the
        // writer's other budgeted steps.
        let mut spent = !tokio::task::coop::has_budget_remaining();
        if !spent && let std::task::Poll::Ready(extra) = tokio::task::coop::poll_proceed(cx) {
            spent = !tokio::task::coop::has_budget_remaining();
            if spent {
                extra.made_progress();
            }
        }
        if spent && let Some(peer) = self.peer.lock().unwrap().take() {
            // Dropped on another thread so that the reader's wake-up goes to the runtime's
            // shared queue, where the other worker takes it while this one waits here.
            std::thread::spawn(move || drop(peer)).join().unwrap();
            let handle = self.handle.get().expect("handle set");
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while handle.end_reason().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.sprung
                .store(handle.end_reason().is_some(), Ordering::SeqCst);
        }
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Regression: the peer vanished between two batches of a busy writer whose budget was spent.
/// The writer must stop and publish the end at once (it used to spin, holding a worker thread).
#[test]
fn peer_vanishing_between_two_busy_writes_ends_the_session() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let forever = method("forever", CallKind::Source, |_, _| {
        Reply::Stream(stream::repeat_with(|| Ok(Body::Json(json!(1)))).boxed())
    });
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            let (x, mut y) = tokio::io::duplex(1 << 16);
            let peer = Arc::new(std::sync::Mutex::new(None));
            let handle = Arc::new(std::sync::OnceLock::new());
            let sprung = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let sink = SpentBudgetSink {
                peer: Arc::clone(&peer),
                handle: Arc::clone(&handle),
                sprung: Arc::clone(&sprung),
            };
            let (r, _unused) = tokio::io::split(x);
            let a = Connection::start(
                r,
                sink,
                table(vec![forever]),
                ctx(Permissions::full()),
                RpcConfig::default(),
            );
            assert!(handle.set(a.clone()).is_ok());
            // Open the endless source; the trap is armed once the peer's end is in place.
            let mut request = BytesMut::new();
            let open = Body::Json(json!({"name": ["forever"], "args": [], "type": "source"}));
            PacketCodec::encode_packet(&Packet::new(1, true, false, open), &mut request).unwrap();
            y.write_all(&request).await.unwrap();
            *peer.lock().unwrap() = Some(y);
            let end = tokio::time::timeout(Duration::from_secs(5), a.closed())
                .await
                .expect("the writer never published the end of the session");
            assert!(sprung.load(Ordering::SeqCst), "the trap never went off");
            assert!(matches!(end, SessionEnd::ConnectionLost), "{end:?}");
        })
    }));
    // A spinning writer would hold a worker for ever: do not wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
