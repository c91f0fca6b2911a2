//! The muxrpc engine under pressure: a fast source against a slow reader stays bounded on both
//! sides while other calls keep completing, full receive queues end or pause as configured, and a
//! peer that vanishes while the engine waits (call slots full, a queue full) ends the session at
//! once; refused streams and a call dropped before it is polled leave nothing behind. Fixtures in
//! `support/engine.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use futures::{FutureExt, SinkExt, StreamExt, stream};
use secret_stack::rpc::PacketCodec;
use secret_stack::rpc::{
    Body, CallKind, Caller, OverflowPolicy, Packet, Permissions, RemoteError, Reply, RpcConfig,
    RpcError, RpcHandle, SessionEnd,
};
use secret_stack_examples::test_plugin;
use secret_stack_tests::engine::*;
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, DuplexStream};

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
            let a = RpcHandle::start(
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
