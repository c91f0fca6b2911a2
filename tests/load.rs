//! Load and faults: many connections making many calls at once, peers killed mid-stream (FIN,
//! RST, half-close) and a graceful shutdown under load. Every answer is checked and counted;
//! nothing may be lost, nothing may leak (sockets, tasks, sessions), nothing may panic.
//!
//! The default sizes run in CI in a few seconds each; the `#[ignore]`d variants are the long runs
//! (`cargo test -p secret-stack-tests --test load -- --ignored`).

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use secret_stack::keys::Keypair;
use secret_stack::rpc::{Body, RpcError, RpcHandle};
use secret_stack_tests::hostile::{
    self, Counter, Fault, Proxy, REACT, alive_tasks, assert_serves, connect_client, fd_limit,
    isolated, open_fds, peak_rss_kib, rss_kib, start_node,
};
use serde_json::json;

/// One connection's work: `calls` rounds of an async call, a sync call and a short source,
/// each checked. Returns the number of answers received (values and stream items).
async fn work(handle: &RpcHandle, conn: usize, calls: usize) -> Result<usize, String> {
    let mut answers = 0;
    for i in 0..calls {
        let name = format!("c{conn}-{i}");
        let hello = handle.request(&["test", "hello"], vec![json!(name)]).await;
        match hello {
            Ok(Body::Text(t)) if t == format!("hello {name}") => answers += 1,
            other => return Err(format!("hello {name}: {other:?}")),
        }
        let sum = handle
            .request(&["test", "add"], vec![json!(conn), json!(i)])
            .await;
        match sum.map(Body::into_json) {
            Ok(v) if v == json!(conn + i) => answers += 1,
            other => return Err(format!("add({conn}, {i}): {other:?}")),
        }
        let n = i % 5 + 1;
        let items: Vec<_> = handle
            .source(&["test", "count"], vec![json!(n)])
            .collect()
            .await;
        let got: Result<Vec<_>, _> = items.into_iter().map(|r| r.map(Body::into_json)).collect();
        match got {
            Ok(v) if v == (0..n).map(|k| json!(k)).collect::<Vec<_>>() => answers += n,
            other => return Err(format!("count({n}): {other:?}")),
        }
    }
    Ok(answers)
}

async fn many_connections(n: usize, m: usize) {
    if let Some(limit) = fd_limit() {
        // Each connection is two sockets in this process (client and node side).
        assert!(
            limit as usize > 2 * n + 100,
            "RLIMIT_NOFILE soft limit {limit} is too low for {n} connections"
        );
    }
    // The JS default handshake timeout: hundreds of handshakes at once on a small machine (and in
    // a debug build) take longer than the short one of the attack tests.
    let node = hostile::start_node_with(Duration::from_secs(15)).await;
    let fds = open_fds();
    let rss_before = rss_kib();
    let start = Instant::now();
    let address = node.address.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for conn in 0..n {
        let address = address.clone();
        tasks.spawn(async move {
            let handle = connect_client(&address, &Keypair::generate()).await?;
            let answers = work(&handle, conn, m).await?;
            let end = handle.close().await;
            if !end.is_clean() {
                return Err(format!("connection {conn} ended badly: {end:?}"));
            }
            Ok::<_, String>(answers)
        });
    }
    let held = hostile::wait_until(Duration::from_secs(60), || node.open_connections() >= n).await;
    let peak = node.open_connections();
    let mut answers = 0;
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(a)) => answers += a,
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("task: {e}")),
        }
    }
    let took = start.elapsed();
    let rss_peak = rss_kib();
    assert!(
        failures.is_empty(),
        "{} connections failed, first: {:?}",
        failures.len(),
        failures.first()
    );
    // hello + add + count(1..=5) per round.
    let per_round: usize = (0..m).map(|i| 2 + i % 5 + 1).sum();
    assert_eq!(answers, n * per_round, "answers lost");
    assert!(
        node.settle_connections(0, REACT).await,
        "sessions left open"
    );
    assert!(
        hostile::wait_until(REACT, || open_fds() <= fds).await,
        "sockets leaked: {} > {fds}",
        open_fds()
    );
    let incoming = node.handle.app().incoming_stats();
    eprintln!(
        "{n} connections x {m} rounds: {answers} answers ({} calls), all correct, in {took:?}; \
         {peak} sessions open at once (all {n}: {held}); RSS {rss_before} -> {rss_peak} KiB, \
         process peak (VmHWM) {} KiB; at most {} handshakes at once, {} waited for a slot, \
         {} refused",
        n * m * 3,
        peak_rss_kib(),
        incoming.peak_handshakes,
        incoming.deferred,
        incoming.refused
    );
}

#[test]
fn two_hundred_connections_twenty_rounds_each() {
    isolated(many_connections(200, 20));
}

#[test]
#[ignore = "long: 1000 connections x 100 rounds"]
fn a_thousand_connections_a_hundred_rounds_each() {
    isolated(many_connections(1000, 100));
}

/// Opens one of each long-lived call through `handle` and returns them as futures that resolve
/// with each call's outcome once the connection breaks.
async fn open_everything(
    handle: &RpcHandle,
) -> Vec<tokio::task::JoinHandle<(String, Result<(), String>)>> {
    let mut calls = Vec::new();
    // A source read a little, then left waiting.
    let mut source = handle.source(&["test", "count"], vec![json!(1_000_000_000u64)]);
    for k in 0..3 {
        match source.next().await {
            Some(Ok(b)) if b.clone().into_json() == json!(k) => {}
            other => panic!("source item {k}: {other:?}"),
        }
    }
    calls.push(tokio::spawn(async move {
        // Drain what was in flight; it must end with an error, not a normal end.
        let outcome = loop {
            match source.next().await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => break Ok::<_, String>(e),
                None => break Err("source ended normally".to_owned()),
            }
        };
        ("source".to_owned(), outcome.map(drop))
    }));
    // A duplex with one item echoed, then left open.
    let (mut tx, mut echo) = handle.duplex(&["test", "echo"], vec![]);
    tx.send(Body::Json(json!("ping")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    match echo.next().await {
        Some(Ok(b)) if b == Body::Json(json!("ping")) => {}
        other => panic!("echo: {other:?}"),
    }
    calls.push(tokio::spawn(async move {
        let _tx = tx;
        let outcome = match echo.next().await {
            Some(Err(_)) => Ok(()),
            other => Err(format!("echo ended with {other:?}")),
        };
        ("duplex".to_owned(), outcome)
    }));
    // A sink fed one item and left open, and an async call waiting on it.
    let (mut sink, done) = handle.sink(&["test", "collect"], vec![]);
    sink.send(Body::Json(json!(1)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let collected = handle.request(&["test", "collected"], vec![]);
    calls.push(tokio::spawn(async move {
        let _sink = sink;
        let outcome = match done.await {
            Err(_) => Ok(()),
            Ok(()) => Err("sink ended normally".to_owned()),
        };
        ("sink".to_owned(), outcome)
    }));
    calls.push(tokio::spawn(async move {
        let outcome = match collected.await {
            Err(_) => Ok(()),
            Ok(b) => Err(format!("collected answered {b:?}")),
        };
        ("async".to_owned(), outcome)
    }));
    calls
}

async fn killed_mid_stream(rounds: usize, faults: &[Fault]) {
    let node = start_node().await;
    let proxy = Proxy::start(&node).await;
    let via = node.address_via(proxy.port);
    // Warm up once so lazily created things (runtime workers, allocator pools) are in the baseline.
    assert_serves(&node, "warm-up").await;
    assert!(node.settle_connections(0, REACT).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fds = open_fds();
    let tasks = alive_tasks();
    let rss_before = rss_kib();
    let ended = Counter::default();
    let mut slowest = Duration::ZERO;
    for round in 0..rounds {
        let fault = faults[round % faults.len()];
        proxy.heal();
        let handle = connect_client(&via, &Keypair::generate())
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let calls = open_everything(&handle).await;
        assert_eq!(node.open_connections(), 1);
        let killed = Instant::now();
        proxy.kill(fault);
        for (k, call) in calls.into_iter().enumerate() {
            let (kind, outcome) = tokio::time::timeout(Duration::from_secs(30), call)
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "round {round} ({fault:?}): call {k} (source, duplex, sink, async) hung \
                         after the kill; our session: {:?}; node sessions: {}",
                        handle.end_reason(),
                        node.open_connections()
                    )
                })
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            if let Err(e) = outcome {
                panic!("round {round} ({fault:?}): {kind}: {e}");
            }
            ended.bump();
        }
        let end = tokio::time::timeout(REACT, handle.closed())
            .await
            .unwrap_or_else(|_| panic!("round {round} ({fault:?}): our session never ended"));
        assert!(
            !end.is_clean() || fault == Fault::HalfCloseToNode,
            "round {round}: {end:?}"
        );
        assert!(
            node.settle_connections(0, Duration::from_secs(30)).await,
            "round {round} ({fault:?}): the node kept the session"
        );
        let took = killed.elapsed();
        if took > Duration::from_secs(1) {
            eprintln!("round {round} ({fault:?}): everything ended only after {took:?}");
        }
        slowest = slowest.max(took);
        // A new call on the dead connection fails at once.
        match handle.request(&["test", "hello"], vec![json!("x")]).await {
            Err(RpcError::Closed | RpcError::ConnectionLost) => {}
            other => panic!("round {round}: call after the kill: {other:?}"),
        }
    }
    drop(proxy);
    assert!(
        hostile::wait_until(REACT, || open_fds() <= fds).await,
        "sockets leaked: {} > {fds}",
        open_fds()
    );
    assert!(
        hostile::wait_until(REACT, || alive_tasks() <= tasks).await,
        "tasks leaked: {} > {tasks}",
        alive_tasks()
    );
    assert_serves(&node, "killed peers").await;
    eprintln!(
        "{rounds} kills ({faults:?} in turn): {} open calls ended with an error, slowest round {slowest:?}; \
         sockets {fds} -> {}, tasks {tasks} -> {}, RSS {rss_before} -> {} KiB",
        ended.get(),
        open_fds(),
        alive_tasks(),
        rss_kib()
    );
}

/// Regression for sessions the node kept after the proxy closed or reset both sockets (seen in
/// about one run of 40 rounds in three): when the reader saw the end between two batches of the
/// busy writer, the writer skipped batch after batch without ever yielding, so it never saw the
/// goodbye and never published the end. `rpc_engine.rs` reproduces that state deterministically.
#[test]
fn peers_killed_mid_stream_end_every_call_and_leak_nothing() {
    isolated(killed_mid_stream(30, &[Fault::Drop, Fault::Reset]));
}

/// The same with half-closes towards the node too (the node reads EOF while the client still
/// reads what it writes); this used to hang the client's calls for 30 s now and then, for the
/// same reason.
#[test]
#[ignore = "long: 600 kills by FIN, RST and half-close"]
fn six_hundred_kills_with_half_close() {
    isolated(killed_mid_stream(
        600,
        &[Fault::Drop, Fault::Reset, Fault::HalfCloseToNode],
    ));
}

#[test]
#[ignore = "long: 600 kills by FIN and RST"]
fn six_hundred_kills() {
    isolated(killed_mid_stream(600, &[Fault::Drop, Fault::Reset]));
}

async fn shutdown_under_load(clients: usize) {
    let node = hostile::start_node_with(Duration::from_secs(15)).await;
    let answered = Counter::default();
    let refused = Counter::default();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let address = node.address.clone();
        let (answered, refused) = (answered.clone(), refused.clone());
        tasks.spawn(async move {
            let handle = connect_client(&address, &Keypair::generate()).await?;
            for i in 0.. {
                let name = format!("{c}-{i}");
                let (hello, items) = tokio::join!(
                    handle.request(&["test", "hello"], vec![json!(name)]),
                    handle
                        .source(&["test", "count"], vec![json!(3)])
                        .collect::<Vec<_>>()
                );
                match hello {
                    Ok(Body::Text(t)) if t == format!("hello {name}") => answered.bump(),
                    Err(RpcError::ConnectionLost | RpcError::Closed | RpcError::Closing) => {
                        refused.bump();
                        return Ok(i);
                    }
                    other => return Err(format!("client {c}: hello: {other:?}")),
                }
                let mut want = 0;
                for item in items {
                    match item {
                        Ok(b) if b.clone().into_json() == json!(want) => want += 1,
                        Err(RpcError::ConnectionLost | RpcError::Closed | RpcError::Closing) => {
                            refused.bump();
                            return Ok(i);
                        }
                        other => return Err(format!("client {c}: count item {want}: {other:?}")),
                    }
                }
                if want != 3 {
                    return Err(format!(
                        "client {c}: count(3) gave {want} items without an error"
                    ));
                }
                answered.bump();
            }
            Ok(0)
        });
    }
    assert!(
        hostile::wait_until(Duration::from_secs(30), || node.open_connections()
            == clients)
        .await,
        "not every client connected"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_close = answered.get();
    let start = Instant::now();
    let ends = tokio::time::timeout(Duration::from_secs(30), node.handle.close())
        .await
        .unwrap_or_else(|_| panic!("graceful close under load did not finish in 30 s"));
    let took = start.elapsed();
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("task: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} clients saw a wrong answer or a protocol error, first {:?}",
        failures.len(),
        failures.first()
    );
    let unclean = ends.iter().filter(|e| !e.is_clean()).count();
    assert_eq!(unclean, 0, "sessions did not end cleanly: {ends:?}");
    eprintln!(
        "graceful close under load: {clients} clients, {before_close} answers before close, {} in all, \
         {} calls refused cleanly; {} sessions closed in {took:?}",
        answered.get(),
        refused.get(),
        ends.len()
    );
}

#[test]
fn graceful_shutdown_under_load_loses_nothing() {
    isolated(shutdown_under_load(50));
}
