//! A whole inner connection through a portal, without the tunnel plugin: three apps on
//! 127.0.0.1, a client, a portal and an endpoint. The endpoint keeps a connection to the portal;
//! the client opens `tunnel.connect` on the portal, whose method forwards it over the endpoint's
//! connection to the endpoint's own `tunnel.connect` ([`forward`]). The duplex's binary items
//! then carry a secret handshake, box stream and muxrpc between client and endpoint
//! ([`DuplexBytes`] on both ends), and the interop checks run through it. Closing and errors:
//! either end's shutdown reaches the other as EOF, the endpoint's lost portal connection reaches
//! the client as `unexpected hangup`, an unknown target as the portal's error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, stream};
use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack::multiserver::{Scope, Shs, ShsAddress, Transform};
use secret_stack::rpc::{
    CallContext, CallKind, MethodInput, MethodTable, Permissions, RemoteError, Reply, RpcConfig,
    RpcError, RpcHandle,
};
use secret_stack::stack::{App, Peer};
use secret_stack::tunnel::{DuplexBytes, DuplexBytesError, HANGUP, TunnelAddress, forward};
use secret_stack_examples::checks::run_checks;
use secret_stack_examples::test_plugin;
use secret_stack_tests::engine::assert_all_pass;
use secret_stack_tests::stack_fixtures::{APP_KEY, HandPlugin, config, method, start, within};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const PORTAL: u8 = 1;
const ENDPOINT: u8 = 2;
const CLIENT: u8 = 3;

fn app_key() -> AppKey {
    APP_KEY.parse().expect("app key")
}

fn keys(n: u8) -> Keypair {
    Keypair::from_seed(&[n; 32])
}

/// An error-ended duplex answer with `message`, as a JS portal gives for an unknown target.
fn refuse(message: String) -> Reply {
    Reply::Stream(stream::iter([Err(RemoteError::new(message))]).boxed())
}

/// The portal's `tunnel.connect`: forwards to the endpoint connection in `endpoint` once there
/// is one.
fn portal_plugin(endpoint: Arc<Mutex<Option<Peer>>>) -> HandPlugin {
    let connect = method(
        "connect",
        CallKind::Duplex,
        Arc::new(move |_ctx, args: Vec<Value>, input: Option<MethodInput>| {
            let target = args.first().and_then(|a| a["target"].as_str()).unwrap_or("");
            let onward = endpoint.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match (onward, input) {
                (Some(peer), Some(input)) if peer.id().id() == target => {
                    Reply::Stream(forward(&peer, &["tunnel", "connect"], args, input))
                }
                _ => refuse(format!("could not connect to:{target}")),
            }
        }),
    );
    tunnel_plugin(connect)
}

/// The endpoint's `tunnel.connect`: hands each incoming duplex, as bytes, to the test.
fn endpoint_plugin(incoming: mpsc::UnboundedSender<DuplexBytes>) -> HandPlugin {
    let connect = method(
        "connect",
        CallKind::Duplex,
        Arc::new(move |_ctx, _args, input: Option<MethodInput>| {
            let Some(input) = input else {
                return refuse("a duplex needs its input".into());
            };
            let (bytes, output) = DuplexBytes::answer(input);
            let _ = incoming.send(bytes);
            Reply::Stream(output)
        }),
    );
    tunnel_plugin(connect)
}

fn tunnel_plugin(connect: secret_stack::rpc::Method) -> HandPlugin {
    HandPlugin {
        name: "tunnel".into(),
        needs: vec![],
        methods: vec![connect],
        anonymous: vec!["connect"],
    }
}

/// The three apps, the endpoint connected to the portal, the client to the portal.
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
        let slot = Arc::new(Mutex::new(None));
        let builder =
            secret_stack::stack::SecretStack::builder().plugin(portal_plugin(Arc::clone(&slot)));
        let portal = start(&builder, config(PORTAL, json!({}))).await;
        let (tx, incoming) = mpsc::unbounded_channel();
        let builder = secret_stack::stack::SecretStack::builder().plugin(endpoint_plugin(tx));
        let endpoint = start(&builder, config(ENDPOINT, json!({}))).await;
        let client = start(
            &secret_stack::stack::SecretStack::builder(),
            config(CLIENT, json!({})),
        )
        .await;
        let portal_address = portal.address(Scope::Device);
        within(endpoint.connect(&portal_address))
            .await
            .expect("endpoint reaches the portal");
        // The portal's side of that connection is what it forwards over.
        let onward = within(async {
            loop {
                if let Some(peer) = portal.peers_with(&endpoint.id()).into_iter().next() {
                    break peer;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        *slot.lock().unwrap() = Some(onward);
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
    async fn open(&mut self, target: PublicKey) -> (DuplexBytes, DuplexBytes) {
        let args = vec![json!({"target": target.id(), "instance": 0})];
        let client_end = DuplexBytes::call(&self.to_portal, &["tunnel", "connect"], args);
        let endpoint_end = within(self.incoming.recv()).await.expect("a tunnel arrives");
        (client_end, endpoint_end)
    }

    async fn close(self) {
        for app in [&self.client, &self.endpoint, &self.portal] {
            within(app.close()).await;
        }
    }
}

/// Runs the secret handshake and muxrpc over `bytes` as the endpoint: serves the `test` plugin.
async fn serve_inner(bytes: DuplexBytes) -> RpcHandle {
    let shs = Shs::new(keys(ENDPOINT), app_key());
    let stream = bytes.into_byte_stream("tunnel:inner", "tunnel");
    let (stream, info) = within(shs.server(stream)).await.expect("inner handshake");
    assert_eq!(info.remote, keys(CLIENT).public());
    let mut table = MethodTable::new();
    for m in test_plugin::methods() {
        table.insert(m).expect("test methods");
    }
    let ctx = CallContext::new(
        info.remote,
        test_plugin::permissions(false),
        CallContext::next_connection_id(),
    );
    RpcHandle::start(
        stream.reader,
        stream.writer,
        Arc::new(table),
        ctx,
        RpcConfig::default(),
    )
}

/// Runs the secret handshake and muxrpc over `bytes` as the client, dialling the endpoint.
async fn dial_inner(bytes: DuplexBytes) -> RpcHandle {
    let shs = Shs::new(keys(CLIENT), app_key());
    let target = ShsAddress::new(keys(ENDPOINT).public());
    let address = TunnelAddress::new(keys(PORTAL).public(), target.key).to_address();
    let stream = bytes.into_byte_stream(address, "tunnel");
    let (stream, info) = within(shs.client(stream, &target))
        .await
        .expect("inner handshake");
    assert_eq!(info.remote, keys(ENDPOINT).public());
    let ctx = CallContext::new(info.remote, Permissions::full(), 0);
    RpcHandle::start(
        stream.reader,
        stream.writer,
        Arc::new(MethodTable::new()),
        ctx,
        RpcConfig::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_connection_runs_through_a_forwarding_portal() {
    let mut nodes = Nodes::start().await;
    let (client_end, endpoint_end) = nodes.open(nodes.endpoint.id()).await;
    let (inner_server, inner_client) =
        tokio::join!(serve_inner(endpoint_end), dial_inner(client_end));
    let results = run_checks(&inner_client, false).await;
    assert_all_pass(&results);

    // A graceful close of the inner session reaches the endpoint through the portal.
    let end = within(inner_client.close()).await;
    assert!(end.is_clean(), "inner session ended {end:?}");
    let end = within(inner_server.closed()).await;
    assert!(end.is_clean(), "endpoint's inner session ended {end:?}");

    // The outer connections carried on; a second tunnel works as the first.
    let (client_end, endpoint_end) = nodes.open(nodes.endpoint.id()).await;
    let (_server, inner_client) = tokio::join!(serve_inner(endpoint_end), dial_inner(client_end));
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
        let (mut client_end, mut endpoint_end) = nodes.open(nodes.endpoint.id()).await;
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
    let (mut client_end, endpoint_end) = nodes.open(nodes.endpoint.id()).await;
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
    // A write after the end fails instead of waiting for ever.
    let written = within(async {
        loop {
            if let Err(e) = client_end.write_all(&[1; 1024]).await {
                break e;
            }
        }
    })
    .await;
    assert_eq!(written.kind(), std::io::ErrorKind::BrokenPipe);
    nodes.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_going_away_ends_the_endpoints_side() {
    let mut nodes = Nodes::start().await;
    let (client_end, mut endpoint_end) = nodes.open(nodes.endpoint.id()).await;
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
    let args = vec![json!({"target": stranger.id(), "instance": 0})];
    let mut end = DuplexBytes::call(&nodes.to_portal, &["tunnel", "connect"], args);
    match read_error(&mut end).await {
        DuplexBytesError::Ended(RpcError::Remote(e)) => {
            assert_eq!(e.message, format!("could not connect to:{}", stranger.id()))
        }
        other => panic!("expected the portal's refusal, got {other:?}"),
    }
    assert!(nodes.incoming.try_recv().is_err(), "nothing reached the endpoint");
    nodes.close().await;
}
