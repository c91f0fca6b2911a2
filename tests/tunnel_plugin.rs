//! The `tunnel` plugin between three apps on 127.0.0.1: a portal, an endpoint that announces
//! itself there, and a client that reaches the endpoint through the portal by dialling its
//! `tunnel:` address with `App::connect` and calls the endpoint's `test` plugin end to end.
//! Closing: when the endpoint's connection to the portal goes, the client's inner connection
//! ends; the endpoint then announces again and can be reached again; when the client's connection
//! to the portal goes, the endpoint's inner connection ends. Cap: the portal refuses a
//! tunnel over `tunnel.maxTunnelsPerEndpoint` with a clear error, and takes one again once a
//! tunnel closed. Backpressure: a client that stops reading a source through the tunnel holds
//! the endpoint's producer back after a bounded amount, and nothing is lost when it reads on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream};
use secret_stack::plugin;
use secret_stack::rpc::{Body, Caller, RpcError, Source};

use secret_stack::multiserver::Scope;
use secret_stack::stack::{App, Peer, SecretStack};
use secret_stack::tunnel::{DuplexBytes, DuplexBytesError, Tunnel};
use secret_stack_examples::test_client::TestClient;
use secret_stack_examples::test_plugin::Test;
use secret_stack_tests::stack_fixtures::{config, key, within};
use secret_stack_tests::tunnel::duplex_error_in;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORTAL: u8 = 41;
const ENDPOINT: u8 = 42;
const CLIENT: u8 = 43;

/// The size of each `flood.items` item.
const ITEM: usize = 64 * 1024;
/// How many items `flood.items` sends at most (256 MiB): far more than any bounded path holds.
const ITEMS: usize = 4096;
/// What may be in flight when the client stops reading: two loopback TCP connections (whose
/// kernel buffers grow to a few MiB each) and the engines' bounded queues on three apps.
const BOUND: usize = 32 << 20;

/// The items `flood.items` has produced (only one test calls it).
static PRODUCED: AtomicUsize = AtomicUsize::new(0);

/// `flood.items`: [`ITEMS`] binary items of [`ITEM`] bytes, counted as they are produced.
struct Flood;

#[plugin(name = "flood", version = "1.0.0", permission = "anonymous")]
impl Flood {
    fn items(&self) -> Source<Bytes> {
        Source::new(stream::iter(0..ITEMS).map(|i| {
            PRODUCED.fetch_add(1, Ordering::SeqCst);
            Bytes::from(vec![i as u8; ITEM])
        }))
    }
}

/// An app with `tunnel` and `test`, on config `extra` laid over `global` and `tunnel` as its
/// `tunnel` section.
async fn app(n: u8, extra: Value, tunnel: Value) -> App {
    let mut config = config(n, extra).to_json();
    config["tunnel"] = tunnel;
    within(
        SecretStack::builder()
            .plugin_with("tunnel", Tunnel::init)
            .plugin(Test::default())
            .plugin(Flood)
            .close_deadline(Duration::from_secs(2))
            .start(secret_stack::stack::Config::from_json(config).expect("config")),
    )
    .await
    .expect("app starts")
}

/// Portal (`tunnel` section `portal_config`), endpoint announcing there, client.
async fn apps(portal_config: Value) -> (App, App, App) {
    let portal = app(PORTAL, json!({}), portal_config).await;
    let portal_address = portal.address(Scope::Device);
    let endpoint = app(
        ENDPOINT,
        json!({"connections": {
            "incoming": {"tunnel": [{"scope": "public", "transform": "shs",
                "portal": key(PORTAL).id(), "portalAddress": portal_address}]},
            "outgoing": {"net": [{"transform": "shs"}]}
        }}),
        json!({"pingInterval": 200}),
    )
    .await;
    let client = app(
        CLIENT,
        json!({"connections": {
            "incoming": {},
            "outgoing": {"net": [{"transform": "shs"}], "tunnel": [{"transform": "shs"}]}
        }}),
        Value::Null,
    )
    .await;
    within(client.connect(&portal_address))
        .await
        .expect("client reaches the portal");
    (portal, endpoint, client)
}

/// Dials `address` until the endpoint has announced itself (the portal refuses before).
async fn tunnel_to(client: &App, address: &str) -> Peer {
    within(async {
        loop {
            match client.connect(address).await {
                Ok(peer) => return peer,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
}

/// Closes the apps, one after the other.
async fn close_all(apps: [App; 3]) {
    for app in apps {
        within(app.close()).await;
    }
}

/// Drops `app`'s connections to the app seeded with `n`s at once, as a lost network would.
fn drop_links(app: &App, n: u8) {
    for link in app.peers_with(&key(n)) {
        link.close_now(RpcError::ConnectionLost);
    }
}

#[tokio::test]
async fn a_client_calls_an_endpoint_through_the_portal() {
    let (portal, endpoint, client) = apps(Value::Null).await;
    let address = endpoint.address(Scope::Public);
    let expected = format!(
        "tunnel:{}:{}:0~shs:{}",
        key(PORTAL).id(),
        key(ENDPOINT).id(),
        key(ENDPOINT)
            .id()
            .trim_start_matches('@')
            .trim_end_matches(".ed25519")
    );
    assert_eq!(address, expected, "the endpoint's public address");
    assert!(
        !endpoint.address(Scope::Device).contains("tunnel:"),
        "the tunnel serves the public scope only"
    );
    let peer = tunnel_to(&client, &address).await;
    assert_eq!(peer.id(), key(ENDPOINT));
    assert_eq!(peer.transport(), "tunnel");
    let answer = within(TestClient::new(peer.clone()).hello("tunnel".into()))
        .await
        .expect("test.hello through the tunnel");
    assert_eq!(answer, "hello tunnel");
    within(peer.close()).await;
    close_all([client, endpoint, portal]).await;
}

#[tokio::test]
async fn losing_the_portal_ends_the_tunnel_and_the_endpoint_announces_again() {
    let (portal, endpoint, client) = apps(Value::Null).await;
    let address = endpoint.address(Scope::Public);
    let peer = tunnel_to(&client, &address).await;
    // The portal drops the endpoint's connection.
    drop_links(&portal, ENDPOINT);
    within(peer.closed()).await;
    assert!(
        peer.is_closed(),
        "the inner connection ended with the portal's"
    );
    // The endpoint reconnects and announces again: a new tunnel works.
    let again = tunnel_to(&client, &address).await;
    let answer = within(TestClient::new(again).hello("again".into()))
        .await
        .expect("test.hello through the new tunnel");
    assert_eq!(answer, "hello again");
    close_all([client, endpoint, portal]).await;
}

#[tokio::test]
async fn the_portal_caps_tunnels_per_endpoint() {
    let (portal, endpoint, client) = apps(json!({"maxTunnelsPerEndpoint": 1})).await;
    let address = endpoint.address(Scope::Public);
    let first = tunnel_to(&client, &address).await;
    let refused = within(client.connect(&address))
        .await
        .expect_err("a second tunnel is over the cap");
    // The portal's error end reaches the dial, however early it comes: as the reason the
    // tunnel's byte stream failed, not a bare "closed".
    let reason =
        duplex_error_in(&refused).unwrap_or_else(|| panic!("no duplex error in {refused:?}"));
    assert!(
        matches!(reason, DuplexBytesError::Ended(RpcError::Remote(_)))
            && reason.to_string().contains("tunnel.maxTunnelsPerEndpoint"),
        "the refusal names the cap: {reason}"
    );
    within(first.close()).await;
    let second = tunnel_to(&client, &address).await;
    assert_eq!(
        within(TestClient::new(second).hello("second".into()))
            .await
            .expect("a tunnel once the first closed"),
        "hello second"
    );
    close_all([client, endpoint, portal]).await;
}

#[tokio::test]
async fn writing_to_a_refused_tunnel_fails_with_the_portals_reason() {
    let (portal, endpoint, client) = apps(Value::Null).await;
    let to_portal = client.peers_with(&key(PORTAL)).pop().expect("the portal");
    let stranger = key(99).id();
    let mut refused = DuplexBytes::call(
        &to_portal,
        &["tunnel", "connect"],
        vec![json!({"target": stranger, "instance": 0})],
    );
    // Nothing is read: the writer alone finds out, once the refusal has closed our half.
    let written = within(async {
        loop {
            if let Err(e) = refused.write_all(b"hello").await {
                break e;
            }
        }
    })
    .await;
    let expected = format!("could not connect to:{stranger}");
    for (half, error) in [
        ("write", written),
        ("read", {
            let read = within(refused.read(&mut [0; 8])).await;
            read.expect_err("the duplex ended with an error")
        }),
    ] {
        match error
            .get_ref()
            .and_then(|e| e.downcast_ref::<DuplexBytesError>())
        {
            Some(DuplexBytesError::Ended(RpcError::Remote(e))) => {
                assert!(e.message.contains(&expected), "{half}: {e}");
            }
            other => panic!("{half}: expected the portal's refusal, got {other:?}"),
        }
    }
    close_all([client, endpoint, portal]).await;
}

#[tokio::test]
async fn losing_the_client_ends_the_endpoints_inner_connection() {
    let (portal, endpoint, client) = apps(Value::Null).await;
    let peer = tunnel_to(&client, &endpoint.address(Scope::Public)).await;
    within(TestClient::new(peer).hello("up".into()))
        .await
        .expect("the tunnel is up");
    let inner = endpoint.peers_with(&key(CLIENT));
    assert_eq!(
        inner.len(),
        1,
        "the endpoint sees the client through the tunnel"
    );
    assert_eq!(inner[0].transport(), "tunnel");
    // The client's connection to the portal goes away; the tunnel inside it goes with it.
    drop_links(&client, PORTAL);
    within(inner[0].closed()).await;
    assert!(inner[0].is_closed());
    close_all([client, endpoint, portal]).await;
}

#[tokio::test]
async fn a_slow_reader_holds_the_endpoint_back() {
    let (portal, endpoint, client) = apps(Value::Null).await;
    let peer = tunnel_to(&client, &endpoint.address(Scope::Public)).await;
    let mut items = peer.source(&["flood", "items"], Vec::new());
    let first = within(items.next()).await.expect("an item").expect("ok");
    assert!(
        matches!(&first, Body::Binary(b) if b.len() == ITEM),
        "{first:?}"
    );
    // The client reads no more: wait until the producer stops (or passes the bound).
    let mut last = PRODUCED.load(Ordering::SeqCst);
    within(async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = PRODUCED.load(Ordering::SeqCst);
            if now == last || now * ITEM > BOUND {
                break;
            }
            last = now;
        }
    })
    .await;
    let held = PRODUCED.load(Ordering::SeqCst);
    assert!(
        held * ITEM <= BOUND && held < ITEMS,
        "the endpoint produced {held} items of {ITEM} bytes while the client read one"
    );
    eprintln!("the endpoint was held back after {held} items of {ITEM} bytes");
    // Reading on, every item arrives in order.
    let mut next = 1usize;
    while let Some(item) = within(items.next()).await {
        let Body::Binary(bytes) = item.expect("an item") else {
            panic!("item {next} is not binary");
        };
        assert_eq!((bytes.len(), bytes[0]), (ITEM, next as u8), "item {next}");
        next += 1;
        if next == held + 64 {
            break;
        }
    }
    assert_eq!(next, held + 64, "the source went on past the pause");
    drop(items);
    close_all([client, endpoint, portal]).await;
}
