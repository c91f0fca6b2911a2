//! The life of an app over real sockets on 127.0.0.1: events in order with `peers()` following
//! them, idle connections dropped (but not connections to oneself), close hooks, graceful and
//! immediate close (peers see their calls end, the port is freed), drop, panicking handlers, and
//! the typed errors of a bad start.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use secret_stack::multiserver::{Scope, Ws};
use secret_stack::stack::{
    App, Builder, Config, ConnectError, DisconnectReason, Event, Peer, SecretStack, StartError,
};
use secret_stack_tests::stack_fixtures::*;
use serde_json::{Value, json};

#[tokio::test]
async fn events_come_in_order_and_peers_follow_them() {
    let b = builder();
    let server = b.build(config(20, json!({}))).unwrap();
    let mut server_events = server.events();
    assert_eq!(
        server.address(Scope::Device),
        "",
        "no address before listening"
    );
    within(server.listen()).await;
    within(server.listen()).await; // idempotent: one Listening event
    let client = b.build(config(21, json!({}))).unwrap();
    let mut client_events = client.events();
    within(client.listen()).await;

    let peer = within(client.connect(&server.address(Scope::Device)))
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut client_events).await,
        Event::Listening
    ));
    match next_event(&mut client_events).await {
        Event::Connect { peer: p, is_client } => {
            assert!(is_client);
            assert_eq!(p.connection(), peer.connection());
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(matches!(
        next_event(&mut server_events).await,
        Event::Listening
    ));
    match next_event(&mut server_events).await {
        Event::Connect { peer: p, is_client } => {
            assert!(!is_client);
            assert_eq!(p.id(), client.id());
            assert_eq!(server.peers().len(), 1);
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    assert_eq!(client.peers().len(), 1);

    within(client.close()).await;
    within(client.close()).await; // idempotent
    match next_event(&mut client_events).await {
        Event::Disconnect {
            id,
            is_client,
            reason,
            ..
        } => {
            assert_eq!(id, server.id());
            assert!(is_client);
            assert!(
                matches!(reason, DisconnectReason::Ended(ref e) if e.is_clean()),
                "{reason:?}"
            );
        }
        other => panic!("expected Disconnect, got {other:?}"),
    }
    assert!(matches!(next_event(&mut client_events).await, Event::Close));
    match next_event(&mut server_events).await {
        Event::Disconnect { id, is_client, .. } => {
            assert_eq!(id, client.id());
            assert!(!is_client);
        }
        other => panic!("expected Disconnect, got {other:?}"),
    }
    assert!(server.peers().is_empty() && client.peers().is_empty());
    let refused = within(client.connect(&server.address(Scope::Device))).await;
    assert!(matches!(refused, Err(ConnectError::Closed)), "{refused:?}");
    within(server.close()).await;
    assert!(matches!(next_event(&mut server_events).await, Event::Close));
}

#[tokio::test]
async fn idle_connections_are_dropped_but_not_self_connections() {
    let b = builder();
    // Generous times: a loaded test machine may sleep well past a short interval, and a gap longer
    // than the timeout would (rightly) drop the connection while the test still uses it.
    let server = start(&b, config(30, json!({"timers": {"inactivity": 1500}}))).await;
    let client = start(&b, config(31, json!({"timers": {"inactivity": 0}}))).await;
    let mut server_events = server.events();
    let address = server.address(Scope::Device);
    let peer = within(client.connect(&address)).await.unwrap();
    let me = within(server.connect(&address)).await.unwrap();
    let started = tokio::time::Instant::now();
    // Traffic keeps it alive past the timeout.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let _: String = peer.rpc().call(&["hello"], vec![json!("x")]).await.unwrap();
    }
    let reason = within(async {
        loop {
            if let Event::Disconnect { id, reason, .. } = next_event(&mut server_events).await {
                assert_eq!(id, client.id());
                return reason;
            }
        }
    })
    .await;
    assert!(matches!(reason, DisconnectReason::Inactive), "{reason:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    // The client sees the connection end without a goodbye.
    assert!(!within(peer.closed()).await.is_clean());
    // The self-connection (both ends of it) outlived the timeout.
    assert_eq!(server.peers().len(), 2);
    let secret: String = me.rpc().call(&["adminOnly"], vec![]).await.unwrap();
    assert_eq!(secret, "admin secret");
    within(server.close()).await;
    within(client.close()).await;
}

#[tokio::test]
async fn close_runs_hooks_ends_calls_and_frees_the_port() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let (o1, o2) = (Arc::clone(&order), Arc::clone(&order));
    let b = builder()
        .close_hook(move |app| {
            let order = Arc::clone(&o1);
            async move {
                assert!(app.is_closed());
                order.lock().unwrap().push("builder");
            }
        })
        .plugin_with("closer", move |init| {
            let order = Arc::clone(&o2);
            init.close_hook(move |_| {
                let order = Arc::clone(&order);
                async move { order.lock().unwrap().push("plugin") }
            });
            Ok::<_, std::io::Error>(HandPlugin {
                name: "closer".into(),
                needs: vec![],
                methods: vec![],
                anonymous: vec![],
            })
        });
    let server = start(&b, config(40, json!({}))).await;
    let client = start(
        &SecretStack::builder()
            .plugin(live_plugin())
            .plugin(demo_plugin()),
        config(41, json!({})),
    )
    .await;
    let address = server.address(Scope::Device);
    let peer = within(client.connect(&address)).await.unwrap();

    // Graceful close waits for the outstanding call; a never-ending stream is cut at the deadline.
    let slow = peer
        .rpc()
        .call::<String>(&["demoKit", "slow"], vec![json!(200)]);
    let mut forever = peer.rpc().source(&["demoKit", "forever"], vec![]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let closing = tokio::spawn({
        let server = server.clone();
        async move { server.close().await }
    });
    assert_eq!(within(slow).await.unwrap(), "done");
    assert!(within(forever.next()).await.expect("an end").is_err());
    within(closing).await.unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        ["plugin", "builder"],
        "newest hook first"
    );
    assert!(server.peers().is_empty());
    assert!(
        tokio::net::TcpStream::connect(
            address
                .split('~')
                .next()
                .unwrap()
                .trim_start_matches("net:")
        )
        .await
        .is_err()
    );
    assert_eq!(
        server.address(Scope::Device),
        "",
        "nothing serves the old address"
    );
    within(client.close()).await;
}

#[tokio::test]
async fn close_now_ends_the_peers_calls_at_once() {
    let b = builder();
    let server = start(&b, config(42, json!({}))).await;
    let client = start(&b, config(43, json!({}))).await;
    let peer = within(client.connect(&server.address(Scope::Device)))
        .await
        .unwrap();
    let mut forever = peer.rpc().source(&["demoKit", "forever"], vec![]);
    let slow = peer
        .rpc()
        .call::<String>(&["demoKit", "slow"], vec![json!(60_000)]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = tokio::time::Instant::now();
    within(server.close_now()).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(within(forever.next()).await.expect("an end").is_err());
    assert!(within(slow).await.is_err());
    within(client.close()).await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_app() {
    let b = builder();
    let server = start(&b, config(44, json!({}))).await;
    let client = start(&b, config(45, json!({}))).await;
    let address = server.address(Scope::Device);
    let peer = within(client.connect(&address)).await.unwrap();
    drop(server);
    // The connection ends (forced: the engine still says goodbye when it can).
    within(peer.closed()).await;
    let host = address
        .split('~')
        .next()
        .unwrap()
        .trim_start_matches("net:")
        .to_owned();
    within(async {
        while tokio::net::TcpStream::connect(&host).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    within(client.close()).await;
}

/// The futures of the public API can be spawned.
#[allow(dead_code)]
fn futures_are_send(builder: &Builder, app: &App, peer: &Peer) {
    fn is_send<T: Send>(_: T) {}
    is_send(builder.start(config(0, json!({}))));
    is_send(app.listen());
    is_send(app.connect(""));
    is_send(app.close());
    is_send(app.close_now());
    is_send(app.auth(app.id()));
    is_send(peer.close());
}

#[tokio::test]
async fn a_panicking_handler_does_not_kill_the_app() {
    let b = builder();
    let server = start(&b, config(50, json!({}))).await;
    let client = start(&b, config(51, json!({}))).await;
    let peer = within(client.connect(&server.address(Scope::Device)))
        .await
        .unwrap();
    let message = err_text(peer.rpc().call::<Value>(&["demoKit", "boom"], vec![]).await);
    assert!(
        message.contains("panicked") && message.contains("plugin bug"),
        "{message}"
    );
    let hello: String = peer
        .rpc()
        .call(&["hello"], vec![json!("again")])
        .await
        .unwrap();
    assert_eq!(hello, "hello again");
    close_both(&client, &server).await;
}

#[test]
fn startup_errors_are_typed_and_say_what_failed() {
    let build = |b: Builder| b.build(config(60, json!({}))).map(|_| ()).unwrap_err();
    let e = build(SecretStack::builder().plugin(named("friends", vec!["graph"], &[])));
    assert!(matches!(e, StartError::MissingNeed { .. }));
    assert_eq!(
        e.to_string(),
        "secret-stack plugin \"friends\" needs plugin \"graph\" but not found"
    );
    let e = build(
        SecretStack::builder()
            .plugin(named("a", vec![], &[]))
            .plugin(named("a", vec![], &[])),
    );
    assert_eq!(e.to_string(), "plugin named:a is already loaded");
    let e = build(SecretStack::builder().plugin(named("global", vec![], &[])));
    assert_eq!(e.to_string(), "plugin named \"global\" is reserved");
    let e = build(SecretStack::builder().plugin(named("", vec![], &["manifest"])));
    assert!(
        matches!(e, StartError::ManifestClash { ref path, .. } if path == "manifest"),
        "{e}"
    );
    let e = build(
        SecretStack::builder()
            .plugin(named("foo-bar", vec![], &["x"]))
            .plugin(named("fooBar", vec![], &["x"])),
    );
    assert!(
        matches!(e, StartError::ManifestClash { ref path, .. } if path == "fooBar.x"),
        "{e}"
    );
    let e = build(SecretStack::builder().plugin_with("x", |_| Err::<HandPlugin, _>("no database")));
    assert_eq!(
        e.to_string(),
        "plugin \"x\" failed to initialise: no database"
    );
    let e = build(
        SecretStack::builder()
            .plugin_with("x", |_| Ok::<_, std::io::Error>(named("y", vec![], &[]))),
    );
    assert!(matches!(e, StartError::PluginNameMismatch { .. }));
    let e = SecretStack::builder()
        .build(Config::from_json(json!({"global": {"seed": seed(1)}})).unwrap())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "secret-stack/plugins/shs must have caps.shs configured"
    );
    let e = build(SecretStack::builder().transport(Ws).transport(Ws));
    assert!(matches!(e, StartError::Registry(_)));
    // `needs` ignores order, and a satisfied one builds.
    SecretStack::builder()
        .plugin(named("friends", vec!["graph"], &[]))
        .plugin(named("graph", vec![], &[]))
        .build(config(60, json!({})))
        .expect("needs satisfied in any order");
}
