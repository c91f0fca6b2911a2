//! A whole inner connection through a portal, without the tunnel plugin: three apps on
//! 127.0.0.1, a client, a portal and an endpoint. The endpoint keeps a connection to the portal;
//! the client opens `tunnel.connect` on the portal, whose method forwards it over the endpoint's
//! connection to the endpoint's own `tunnel.connect` ([`forward`]). The duplex's binary items
//! then carry a secret handshake, box stream and muxrpc between client and endpoint
//! ([`DuplexBytes`] on both ends), and the interop checks run through it. Closing and errors:
//! either end's shutdown reaches the other as EOF, the endpoint's lost portal connection reaches
//! the client as `unexpected hangup`, an unknown target as the portal's error.

use std::convert::Infallible;

use secret_stack::keys::AppKey;
use secret_stack::multiserver::Scope;
use secret_stack::rpc::RpcError;
use secret_stack::stack::{App, Peer, SecretStack};
use secret_stack::tunnel::{DuplexBytes, DuplexBytesError, HANGUP, TunnelAddress};
use secret_stack_examples::checks::run_checks;
use secret_stack_tests::engine::assert_all_pass;
use secret_stack_tests::stack_fixtures::{APP_KEY, config, start, within};
use secret_stack_tests::tunnel::{
    dial_inner, endpoint_plugin, keys, open, portal_plugin, serve_inner,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const PORTAL: u8 = 1;
const ENDPOINT: u8 = 2;
const CLIENT: u8 = 3;

fn app_key() -> AppKey {
    APP_KEY.parse().expect("app key")
}

/// The endpoint reached through the portal.
fn endpoint_address() -> TunnelAddress {
    TunnelAddress::new(keys(PORTAL).public(), keys(ENDPOINT).public())
}

/// The three apps, the endpoint announced to the portal, the client connected to the portal.
struct Nodes {
    portal: App,
    endpoint: App,
    client: App,
    /// The client's connection to the portal.
    to_portal: Peer,
    /// The duplexes arriving at the endpoint.
    incoming: mpsc::UnboundedReceiver<DuplexBytes>,
}

impl Nodes {
    async fn start() -> Nodes {
        let builder = SecretStack::builder().plugin_with("tunnel", |init| {
            Ok::<_, Infallible>(portal_plugin(init.app()))
        });
        let portal = start(&builder, config(PORTAL, json!({}))).await;
        let (tx, incoming) = mpsc::unbounded_channel();
        let accept = move |bytes| {
            let _ = tx.send(bytes);
        };
        let builder =
            SecretStack::builder().plugin(endpoint_plugin(keys(ENDPOINT).public(), accept));
        let endpoint = start(&builder, config(ENDPOINT, json!({}))).await;
        let client = start(&SecretStack::builder(), config(CLIENT, json!({}))).await;
        let portal_address = portal.address(Scope::Device);
        let announced = within(async {
            let peer = endpoint.connect(&portal_address).await?;
            peer.rpc()
                .call::<Value>(&["tunnel", "announce"], vec![Value::Null])
                .await?;
            Ok::<_, Box<dyn std::error::Error>>(())
        });
        announced
            .await
            .expect("the endpoint announces itself to the portal");
        let to_portal = within(client.connect(&portal_address))
            .await
            .expect("client reaches the portal");
        Nodes {
            portal,
            endpoint,
            client,
            to_portal,
            incoming,
        }
    }

    /// Opens a tunnel to `target` from the client; returns the client's and the endpoint's ends.
    async fn open(&mut self) -> (DuplexBytes, DuplexBytes) {
        let client_end = open(&self.to_portal, endpoint_address());
        let endpoint_end = within(self.incoming.recv())
            .await
            .expect("a tunnel arrives");
        (client_end, endpoint_end)
    }

    /// The inner connection over a new tunnel: the endpoint's session and the client's.
    async fn inner(&mut self) -> (secret_stack::rpc::RpcHandle, secret_stack::rpc::RpcHandle) {
        let (client_end, endpoint_end) = self.open().await;
        tokio::join!(
            serve_inner(endpoint_end, keys(ENDPOINT), app_key()),
            dial_inner(client_end, keys(CLIENT), app_key(), endpoint_address())
        )
    }

    async fn close(self) {
        for app in [&self.client, &self.endpoint, &self.portal] {
            within(app.close()).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_connection_runs_through_a_forwarding_portal() {
    let mut nodes = Nodes::start().await;
    let (inner_server, inner_client) = nodes.inner().await;
    let results = run_checks(&inner_client, false).await;
    assert_all_pass(&results);

    // A graceful close of the inner session reaches the endpoint through the portal.
    let end = within(inner_client.close()).await;
    assert!(end.is_clean(), "inner session ended {end:?}");
    let end = within(inner_server.closed()).await;
    assert!(end.is_clean(), "endpoint's inner session ended {end:?}");

    // The outer connections carried on; a second tunnel works as the first.
    let (_server, inner_client) = nodes.inner().await;
    let hello: String = within(inner_client.call(&["test", "hello"], vec![json!("tunnel")]))
        .await
        .expect("hello through the second tunnel");
    assert_eq!(hello, "hello tunnel");
    nodes.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_arrive_in_order_and_shutdown_reaches_the_other_end_both_ways() {
    let mut nodes = Nodes::start().await;
    for client_first in [true, false] {
        let (mut client_end, mut endpoint_end) = nodes.open().await;
        // Writes larger than one item are cut, and read back as one stream of bytes.
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut got = vec![0; sent.len()];
        let (written, read) = tokio::join!(
            client_end.write_all(&sent),
            endpoint_end.read_exact(&mut got)
        );
        written.expect("write through the tunnel");
        read.expect("read through the tunnel");
        assert!(got == sent, "bytes changed on the way");
        within(endpoint_end.write_all(b"back")).await.unwrap();
        let mut back = [0; 4];
        within(client_end.read_exact(&mut back)).await.unwrap();
        assert_eq!(&back, b"back");

        let (first, second) = if client_first {
            (&mut client_end, &mut endpoint_end)
        } else {
            (&mut endpoint_end, &mut client_end)
        };
        within(first.shutdown()).await.unwrap();
        let mut rest = Vec::new();
        let n = within(second.read_to_end(&mut rest)).await.expect("EOF");
        assert_eq!(n, 0, "nothing after the end");
        within(second.shutdown()).await.unwrap();
        let n = within(first.read_to_end(&mut rest)).await.expect("EOF");
        assert_eq!(n, 0, "nothing after the end");
    }
    nodes.close().await;
}

/// The error a read failed with, as the tunnel reported it.
async fn read_error(end: &mut DuplexBytes) -> DuplexBytesError {
    let mut buf = [0; 16];
    let error = within(end.read(&mut buf)).await.expect_err("read fails");
    error
        .get_ref()
        .and_then(|e| e.downcast_ref::<DuplexBytesError>())
        .cloned()
        .unwrap_or_else(|| panic!("not a tunnel error: {error:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_going_away_ends_the_clients_tunnel_with_unexpected_hangup() {
    let mut nodes = Nodes::start().await;
    let (mut client_end, endpoint_end) = nodes.open().await;
    within(client_end.write_all(b"ping")).await.unwrap();
    // The endpoint's connection to the portal dies (no goodbye, no stream ends).
    for peer in nodes.endpoint.peers() {
        peer.close_now(RpcError::ConnectionLost);
    }
    match read_error(&mut client_end).await {
        DuplexBytesError::Ended(RpcError::Remote(e)) => assert_eq!(e.message, HANGUP),
        other => panic!("expected the portal's hangup error, got {other:?}"),
    }
    drop(endpoint_end);
    // A write after the end fails instead of waiting for ever, with the same reason.
    let written = within(async {
        loop {
            if let Err(e) = client_end.write_all(&[1; 1024]).await {
                break e;
            }
        }
    })
    .await;
    assert_eq!(written.kind(), std::io::ErrorKind::ConnectionReset);
    match written
        .get_ref()
        .and_then(|e| e.downcast_ref::<DuplexBytesError>())
    {
        Some(DuplexBytesError::Ended(RpcError::Remote(e))) => assert_eq!(e.message, HANGUP),
        other => panic!("expected the hangup error on writing, got {other:?}"),
    }
    nodes.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_going_away_ends_the_endpoints_side() {
    let mut nodes = Nodes::start().await;
    let (client_end, mut endpoint_end) = nodes.open().await;
    drop(client_end);
    within(nodes.client.close_now()).await;
    let mut rest = Vec::new();
    // However it ends (the portal passes the end on), the endpoint's read does not hang.
    let outcome = within(endpoint_end.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "no bytes were sent, got {outcome:?}");
    nodes.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_target_is_the_portals_error() {
    let mut nodes = Nodes::start().await;
    let stranger = keys(9).public();
    let mut end = open(
        &nodes.to_portal,
        TunnelAddress::new(keys(PORTAL).public(), stranger),
    );
    match read_error(&mut end).await {
        DuplexBytesError::Ended(RpcError::Remote(e)) => {
            assert_eq!(e.message, format!("could not connect to:{}", stranger.id()))
        }
        other => panic!("expected the portal's refusal, got {other:?}"),
    }
    assert!(
        nodes.incoming.try_recv().is_err(),
        "nothing reached the endpoint"
    );
    nodes.close().await;
}
