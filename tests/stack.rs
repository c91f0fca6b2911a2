//! The stack over real sockets (TCP on 127.0.0.1, Unix sockets in a temporary directory, WebSocket
//! on 127.0.0.1): apps built with the builder call each other with every call kind, permissions
//! and auth hooks decide what peers may do (with JS's exact error texts from the `live` vectors),
//! events come in order, idle connections are dropped, and closing leaves nothing behind.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::{FutureExt, StreamExt, stream};
use secret_stack::Plugin;
use secret_stack::keys::{Keypair, PublicKey};
use secret_stack::multiserver::{NoAuth, Scope, Unix, Ws};
use secret_stack::rpc::{
    Body, CallContext, CallKind, Caller, Incoming, Manifest, Method, Permissions, RemoteError,
    Reply, RpcError,
};
use secret_stack::stack::{
    App, AuthDecision, Builder, Config, ConnectError, DisconnectReason, Event, Peer, SecretStack,
    StartError,
};
use secret_stack_tests::vectors;
use serde_json::{Value, json};
use tokio::sync::broadcast;

const APP_KEY: &str = "PZLl2y3wexwd7Tp7hwd0hfJoW2lbbebYp+lqb4LtZnw=";

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

fn seed(n: u8) -> String {
    STANDARD.encode([n; 32])
}

fn key(n: u8) -> PublicKey {
    Keypair::from_seed(&[n; 32]).public()
}

/// A config listening on 127.0.0.1 with `net~shs` (unless `extra` has `connections`, which then
/// replace these), with `extra` laid over `global`.
fn config(n: u8, extra: Value) -> Config {
    let mut global = json!({"caps": {"shs": APP_KEY}, "seed": seed(n)});
    if extra.get("connections").is_none() {
        global["connections"] = json!({
            "incoming": {"net": [{"scope": "device", "transform": "shs", "host": "127.0.0.1"}]},
            "outgoing": {"net": [{"transform": "shs"}]}
        });
    }
    secret_stack::stack::merge::deep_merge(&mut global, &extra);
    Config::from_json(json!({ "global": global })).expect("config")
}

/// A plugin written by hand against the `Plugin` trait.
struct HandPlugin {
    name: String,
    needs: Vec<&'static str>,
    methods: Vec<Method>,
    anonymous: Vec<&'static str>,
}

impl Plugin for HandPlugin {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> &str {
        "1.0.0"
    }
    fn needs(&self) -> &[&str] {
        &self.needs
    }
    fn manifest(&self) -> Manifest {
        let mut m = Manifest::new();
        for method in &self.methods {
            m.insert(&method.path, method.kind);
        }
        m
    }
    fn permissions(&self) -> BTreeMap<String, Permissions> {
        BTreeMap::from([(
            "anonymous".into(),
            Permissions::allow(self.anonymous.clone()),
        )])
    }
    fn methods(self: Arc<Self>) -> Vec<Method> {
        self.methods.clone()
    }
}

type Handler = Arc<dyn Fn(CallContext, Vec<Value>, Option<Incoming>) -> Reply + Send + Sync>;

fn method(path: &str, kind: CallKind, handler: Handler) -> Method {
    Method {
        path: path.split('.').map(str::to_owned).collect(),
        kind,
        handler,
    }
}

fn value(v: Value) -> Reply {
    Reply::Value(futures::future::ready(Ok(Body::from_json(v))).boxed())
}

/// The unnamed plugin of the JS `live` run: `hello`, `adminOnly`, `count`.
fn live_plugin() -> HandPlugin {
    HandPlugin {
        name: String::new(),
        needs: vec![],
        anonymous: vec!["hello", "count"],
        methods: vec![
            method(
                "hello",
                CallKind::Async,
                Arc::new(|_, args, _| {
                    let name = args.first().and_then(Value::as_str).unwrap_or("");
                    value(json!(format!("hello {name}")))
                }),
            ),
            method(
                "adminOnly",
                CallKind::Sync,
                Arc::new(|_, _, _| value(json!("admin secret"))),
            ),
            method(
                "count",
                CallKind::Source,
                Arc::new(|_, args, _| {
                    let n = args.first().and_then(Value::as_u64).unwrap_or(0);
                    Reply::Stream(
                        stream::iter(1..=n)
                            .map(|i| Ok(Body::from_json(json!(i))))
                            .boxed(),
                    )
                }),
            ),
        ],
    }
}

/// `demo-kit` (mounted at `demoKit`): sink, duplex, caller context, a panic, a slow call, a
/// stream that never ends.
fn demo_plugin() -> HandPlugin {
    let store: Arc<Mutex<Vec<Value>>> = Arc::default();
    let collect_store = Arc::clone(&store);
    HandPlugin {
        name: "demo-kit".into(),
        needs: vec![],
        anonymous: vec![
            "collect",
            "collected",
            "echo",
            "whoami",
            "boom",
            "slow",
            "forever",
        ],
        methods: vec![
            method(
                "collect",
                CallKind::Sink,
                Arc::new(move |_, _, input| {
                    let store = Arc::clone(&collect_store);
                    let mut input = input.expect("a sink gets input");
                    Reply::Done(
                        async move {
                            while let Some(item) = input.next().await {
                                store.lock().unwrap().push(item?.into_json());
                            }
                            Ok(())
                        }
                        .boxed(),
                    )
                }),
            ),
            method(
                "collected",
                CallKind::Async,
                Arc::new(move |_, _, _| value(Value::Array(store.lock().unwrap().clone()))),
            ),
            method(
                "echo",
                CallKind::Duplex,
                Arc::new(|_, _, input| {
                    let input = input.expect("a duplex gets input");
                    Reply::Stream(input.map(|r| r.map_err(RemoteError::from)).boxed())
                }),
            ),
            method(
                "whoami",
                CallKind::Sync,
                Arc::new(|ctx, _, _| value(json!([ctx.remote.id(), ctx.connection]))),
            ),
            method(
                "boom",
                CallKind::Async,
                Arc::new(|_, _, _| panic!("plugin bug")),
            ),
            method(
                "slow",
                CallKind::Async,
                Arc::new(|_, args, _| {
                    let ms = args.first().and_then(Value::as_u64).unwrap_or(0);
                    Reply::Value(
                        async move {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            Ok(Body::from_json(json!("done")))
                        }
                        .boxed(),
                    )
                }),
            ),
            method(
                "forever",
                CallKind::Source,
                Arc::new(|_, _, _| Reply::Stream(stream::pending().boxed())),
            ),
        ],
    }
}

fn builder() -> Builder {
    SecretStack::builder()
        .plugin(live_plugin())
        .plugin(demo_plugin())
        .close_deadline(Duration::from_secs(2))
}

async fn start(builder: &Builder, config: Config) -> App {
    within(builder.start(config)).await.expect("app starts")
}

fn err_text(result: Result<impl std::fmt::Debug, RpcError>) -> String {
    match result {
        Err(RpcError::Remote(e)) => e.message,
        other => panic!("expected a remote error, got {other:?}"),
    }
}

fn live() -> Value {
    vectors::load("secret-stack-behaviour.json")["live"].clone()
}

/// Every call kind over `peer` (dialled by `client`), then a call back from `server` over the same
/// connection, where the client gives the server anonymous permissions.
async fn exercise(client: &App, peer: &Peer, server: &App) {
    let rpc = peer.rpc();
    let hello: String = rpc.call(&["hello"], vec![json!("anon")]).await.unwrap();
    assert_eq!(hello, "hello anon");
    let counted: Vec<Value> = rpc
        .source(&["count"], vec![json!(3)])
        .map(|b| b.unwrap().into_json())
        .collect()
        .await;
    assert_eq!(counted, [json!(1), json!(2), json!(3)]);
    let items = stream::iter([json!("a"), json!({"b": 1})].map(Body::from_json)).boxed();
    Caller::sink(peer, &["demoKit", "collect"], vec![], items)
        .await
        .unwrap();
    let collected: Value = rpc.call(&["demoKit", "collected"], vec![]).await.unwrap();
    assert_eq!(collected, json!(["a", {"b": 1}]));
    let numbers = stream::iter((0..5).map(|i| Body::from_json(json!(i))));
    let echoed: Vec<Value> = rpc
        .duplex_with(&["demoKit", "echo"], vec![], numbers)
        .map(|b| b.unwrap().into_json())
        .collect()
        .await;
    assert_eq!(echoed, (0..5).map(|i| json!(i)).collect::<Vec<_>>());

    let back = server.peers_with(&client.id());
    let [back] = back.as_slice() else {
        panic!("the server should have one connection from the client, has {back:?}");
    };
    assert!(!back.is_client());
    let hello: String = back
        .rpc()
        .call(&["hello"], vec![json!("from server")])
        .await
        .unwrap();
    assert_eq!(
        hello,
        live()["server_calls_back_over_client_connection_allowed"]["value"]
    );
    assert_eq!(
        err_text(back.rpc().call::<Value>(&["adminOnly"], vec![]).await),
        live()["server_calls_back_over_client_connection_denied"]["err"]
    );
}

/// Closes `client` then `server`, checking both end with no peers.
async fn close_both(client: &App, server: &App) {
    within(client.close()).await;
    assert!(client.peers().is_empty());
    within(async {
        while !server.peers().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    within(server.close()).await;
}

#[tokio::test]
async fn net_apps_call_each_other_and_close_cleanly() {
    let b = builder();
    let server = start(&b, config(1, json!({}))).await;
    let client = start(&b, config(2, json!({}))).await;
    let address = server.address(Scope::Device);
    assert!(address.starts_with("net:127.0.0.1:"), "{address}");
    assert!(address.ends_with(&format!("~shs:{}", server.id().to_base64())));
    assert_eq!(server.multiserver_address(Scope::Public), None);
    assert_eq!(server.address(Scope::Public), "");

    let peer = within(client.connect(&address)).await.expect("connects");
    assert_eq!(peer.id(), server.id());
    assert!(peer.is_client());
    assert_eq!(peer.address(), address);
    exercise(&client, &peer, &server).await;

    // The object form and the caller context: each connection has its own number.
    let port: u16 = address
        .split(['~', ':'])
        .nth(2)
        .and_then(|p| p.parse().ok())
        .expect("port");
    let second = within(client.connect_to("127.0.0.1", port, &server.id()))
        .await
        .unwrap();
    let (id, number): (String, u64) = second
        .rpc()
        .call(&["demoKit", "whoami"], vec![])
        .await
        .unwrap();
    assert_eq!(id, client.id().id());
    let on_server: Vec<u64> = server.peers().iter().map(Peer::connection).collect();
    assert!(
        on_server.contains(&number) && number != peer.connection(),
        "{on_server:?}"
    );
    let (own, zero): (String, u64) = client
        .local()
        .call(&["demoKit", "whoami"], vec![])
        .await
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!((own, zero), (client.id().id(), 0));
    assert_eq!(client.peers().len(), 2);
    close_both(&client, &server).await;
}

async fn over(builder: Builder, transport: &str, connections: Value) {
    let extra = json!({"connections": connections});
    let server = start(&builder, config(3, extra.clone())).await;
    let client = start(&builder, config(4, extra)).await;
    let address = server.address(Scope::Device);
    assert!(!address.contains(';'), "{address}");
    let peer = within(client.connect(&address)).await.expect("connects");
    assert_eq!(peer.id(), server.id());
    assert_eq!(peer.transport(), transport);
    assert_eq!(server.peers()[0].transport(), transport);
    exercise(&client, &peer, &server).await;
    close_both(&client, &server).await;
}

#[tokio::test]
async fn unix_apps_call_each_other() {
    let dir = std::env::temp_dir().join(format!("ss-stack-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    over(
        builder().transport(Unix),
        "unix",
        json!({
            "incoming": {"unix": [{"scope": "device", "transform": "shs", "path": dir}]},
            "outgoing": {"unix": [{"transform": "shs"}]}
        }),
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn noauth_transform_grants_full_access_over_unix() {
    let dir = std::env::temp_dir().join(format!("ss-stack-noauth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let connections = json!({"connections": {
        "incoming": {"unix": [{"scope": "device", "transform": "noauth", "path": dir}]},
        "outgoing": {"unix": [{"transform": "noauth"}]}
    }});
    let with_noauth = |n| builder().transport(Unix).transform(NoAuth::new(key(n)));
    let server = start(&with_noauth(8), config(8, connections.clone())).await;
    let client = start(&with_noauth(9), config(9, connections)).await;
    let address = server.address(Scope::Device);
    assert!(
        address.starts_with("unix:") && address.ends_with("~noauth"),
        "{address}"
    );
    let peer = within(client.connect(&address)).await.unwrap();
    // As in JS, noauth reports the local key as the remote's, and grants full access.
    assert_eq!(peer.id(), client.id());
    let secret: String = peer.rpc().call(&["adminOnly"], vec![]).await.unwrap();
    assert_eq!(secret, "admin secret");
    close_both(&client, &server).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_failing_listener_does_not_stop_the_others_and_handshakes_time_out() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let entry = |port: Option<u16>| json!({"scope": "device", "transform": "shs", "host": "127.0.0.1", "port": port});
    let app = builder()
        .build(config(
            70,
            json!({
                "connections": {"incoming": {"net": [entry(Some(port)), entry(None)]}},
                "timers": {"handshake": 200}
            }),
        ))
        .unwrap();
    let mut events = app.events();
    within(app.listen()).await;
    assert!(matches!(next_event(&mut events).await, Event::Listening));
    let address = app.address(Scope::Device);
    assert!(
        !address.contains(&format!(":{port}~")) && address.starts_with("net:127.0.0.1:"),
        "{address}"
    );

    // A client that never speaks is dropped after the handshake's per-read timeout.
    let host = address
        .split('~')
        .next()
        .unwrap()
        .trim_start_matches("net:")
        .to_owned();
    let mut silent = tokio::net::TcpStream::connect(host).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut buf = [0; 64];
    let read = within(tokio::io::AsyncReadExt::read(&mut silent, &mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    within(app.close()).await;
}

#[tokio::test]
async fn ws_apps_call_each_other() {
    over(
        builder().transport(Ws),
        "ws",
        json!({
            "incoming": {"ws": [{"scope": "device", "transform": "shs", "host": "127.0.0.1"}]},
            "outgoing": {"ws": [{"transform": "shs"}]}
        }),
    )
    .await;
}

#[tokio::test]
async fn anonymous_and_master_permissions() {
    let live = live();
    let b = SecretStack::builder().plugin(live_plugin());
    let server = start(&b, config(5, json!({"master": key(7).id()}))).await;
    let anon = start(&b, config(6, json!({}))).await;
    let master = start(&b, config(7, json!({}))).await;
    let address = server.address(Scope::Device);

    let peer = within(anon.connect(&address)).await.unwrap();
    let rpc = peer.rpc();
    assert_eq!(
        rpc.call::<String>(&["hello"], vec![json!("anon")])
            .await
            .unwrap(),
        live["anonymous_allowed_call"]["value"]
    );
    assert_eq!(
        err_text(rpc.call::<Value>(&["adminOnly"], vec![]).await),
        live["anonymous_denied_call"]["err"]
    );
    assert_eq!(
        err_text(rpc.call::<Value>(&["address"], vec![]).await),
        live["anonymous_denied_core_method"]["err"]
    );
    let manifest: Value = rpc.call(&["manifest"], vec![]).await.unwrap();
    assert_eq!(manifest, live["anonymous_manifest_call"]["value"]);
    assert_eq!(&manifest, server.manifest());

    let peer = within(master.connect(&address)).await.unwrap();
    let secret: String = peer.rpc().call(&["adminOnly"], vec![]).await.unwrap();
    assert_eq!(secret, live["admin_call_with_full_permissions"]["value"]);
    let their_address: String = peer
        .rpc()
        .call(&["address"], vec![json!("device")])
        .await
        .unwrap();
    assert_eq!(their_address, address);
    let none: Value = peer
        .rpc()
        .call(&["multiserver", "address"], vec![json!("public")])
        .await
        .unwrap();
    assert_eq!(none, Value::Null);
    let parsed: Value = peer
        .rpc()
        .call(&["multiserver", "parse"], vec![json!(address)])
        .await
        .unwrap();
    assert_eq!(parsed[0][1]["name"], "shs");
    // The `auth` core method: full access for a master, null (anonymous) for others.
    let full: Value = peer
        .rpc()
        .call(&["auth"], vec![json!(key(7).id())])
        .await
        .unwrap();
    assert_eq!(full, json!({"allow": null, "deny": null}));
    let anonymous: Value = peer
        .rpc()
        .call(&["auth"], vec![json!(key(6).id())])
        .await
        .unwrap();
    assert_eq!(anonymous, Value::Null);

    // A connection to oneself has full access too.
    let me = within(server.connect(&address)).await.unwrap();
    let secret: String = me.rpc().call(&["adminOnly"], vec![]).await.unwrap();
    assert_eq!(secret, "admin secret");
    for app in [&anon, &master, &server] {
        within(app.close_now()).await;
    }
}

#[tokio::test]
async fn auth_hooks_allow_reject_and_fall_through() {
    let live = live();
    let (friend, blocked, refused, stranger) = (key(11), key(12), key(13), key(14));
    let b = SecretStack::builder()
        .plugin(live_plugin())
        .auth_hook(move |id, next| async move {
            if id == friend {
                AuthDecision::Allow(Permissions::allow(["adminOnly"]))
            } else {
                next.run(id).await
            }
        })
        // The newer hook runs first: it rejects two ids and passes the others down.
        .auth_hook(move |id, next| async move {
            if id == blocked || id == refused {
                AuthDecision::Reject(format!("{id} is not welcome"))
            } else {
                next.run(id).await
            }
        });
    let server = start(&b, config(10, json!({}))).await;
    let address = server.address(Scope::Device);
    assert_eq!(
        server.auth(friend).await,
        AuthDecision::Allow(Permissions::allow(["adminOnly"]))
    );
    assert_eq!(server.auth(stranger).await, AuthDecision::Anonymous);
    assert_eq!(
        server.auth(server.id()).await,
        AuthDecision::Allow(Permissions::full())
    );

    let plain = SecretStack::builder().plugin(live_plugin());
    let f = start(&plain, config(11, json!({}))).await;
    let peer = within(f.connect(&address)).await.unwrap();
    let secret: String = peer.rpc().call(&["adminOnly"], vec![]).await.unwrap();
    assert_eq!(secret, "admin secret");
    assert_eq!(
        err_text(peer.rpc().call::<Value>(&["hello"], vec![json!("x")]).await),
        "method:hello is not in list of allowed methods"
    );
    for (n, vector) in [(12, "auth_hook_error"), (13, "auth_hook_false")] {
        let app = start(&plain, config(n, json!({}))).await;
        let err = within(app.connect(&address)).await.unwrap_err();
        assert_js_error(&err, &live[vector]["err"]);
        within(app.close()).await;
    }
    let s = start(&plain, config(14, json!({}))).await;
    let peer = within(s.connect(&address)).await.unwrap();
    let hello: String = peer.rpc().call(&["hello"], vec![json!("s")]).await.unwrap();
    assert_eq!(hello, "hello s");

    // Handshake failures that are not auth's doing, and an address nobody understands.
    let wrong_cap = SecretStack::builder().app_key(
        "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s="
            .parse()
            .unwrap(),
    );
    let other = start(&wrong_cap, config(15, json!({}))).await;
    let err = within(other.connect(&address)).await.unwrap_err();
    assert_js_error(&err, &live["wrong_app_key"]["err"]);
    let wrong_key = address.replace(&server.id().to_base64(), &key(99).to_base64());
    let err = within(s.connect(&wrong_key)).await.unwrap_err();
    assert_js_error(&err, &live["wrong_server_key"]["err"]);
    let err = within(s.connect("bogus:address")).await.unwrap_err();
    assert_eq!(err.to_string(), live["unparseable_address"]["err"]);
    for app in [&f, &s, &other, &server] {
        within(app.close()).await;
    }
}

/// Handshake errors display JS's text followed by `: <detail>` of what happened on our side.
fn assert_js_error(err: &impl std::fmt::Display, js: &Value) {
    let js = js.as_str().expect("a JS error text");
    let text = err.to_string();
    assert!(
        text == js || text.starts_with(&format!("{js}: ")),
        "{text:?} is not {js:?}"
    );
}

async fn next_event(events: &mut broadcast::Receiver<Event>) -> Event {
    within(events.recv()).await.expect("an event")
}

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
    let server = start(&b, config(30, json!({"timers": {"inactivity": 300}}))).await;
    let client = start(&b, config(31, json!({"timers": {"inactivity": 0}}))).await;
    let mut server_events = server.events();
    let address = server.address(Scope::Device);
    let peer = within(client.connect(&address)).await.unwrap();
    let me = within(server.connect(&address)).await.unwrap();
    let started = tokio::time::Instant::now();
    // Traffic keeps it alive past the timeout.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
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
        started.elapsed() >= Duration::from_millis(900),
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

fn named(name: &str, needs: Vec<&'static str>, methods: &[&str]) -> HandPlugin {
    HandPlugin {
        name: name.into(),
        needs,
        methods: methods
            .iter()
            .map(|m| method(m, CallKind::Sync, Arc::new(|_, _, _| value(json!(1)))))
            .collect(),
        anonymous: vec![],
    }
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
