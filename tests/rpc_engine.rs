//! The muxrpc engine over in-memory pipes (`tokio::io::duplex`): every call kind in both directions,
//! concurrency, aborts, panics, errors, closing (graceful, forced, peer vanishing), malformed input.
//! Backpressure and peers that vanish while the engine waits are in `rpc_engine_backpressure.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt, stream};
use secret_stack::rpc::{
    Body, CallKind, Caller, Frame, Packet, Permissions, RemoteError, Reply, RpcConfig, RpcError,
    SessionEnd,
};
use secret_stack_examples::checks::run_checks;
use secret_stack_examples::test_plugin;
use secret_stack_tests::engine::*;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

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
