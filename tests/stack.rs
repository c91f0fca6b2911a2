//! The stack over real sockets (TCP on 127.0.0.1, Unix sockets in a temporary directory, WebSocket
//! on 127.0.0.1): apps built with the builder call each other with every call kind over each
//! transport, listeners start independently, and permissions and auth hooks decide what peers may
//! do, with JS's exact error texts from the `live` vectors. Lifecycle (events, inactivity, close)
//! is in `stack_lifecycle.rs`.

use std::time::Duration;

use futures::{StreamExt, stream};
use secret_stack::multiserver::{NoAuth, Scope, Unix, Ws};
use secret_stack::rpc::{Body, Caller, Permissions};
use secret_stack::stack::{App, AuthDecision, Builder, Event, Peer, SecretStack};
use secret_stack_tests::stack_fixtures::*;
use serde_json::{Value, json};

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
    assert_eq!(manifest, server.manifest().to_json());

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
