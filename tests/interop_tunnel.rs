//! Tunnels with JavaScript ssb-tunnel 2.0.0 on secret-stack 8.1.0, on 127.0.0.1, before the
//! Rust `tunnel` plugin exists: the Rust roles are the test code of `support/tunnel.rs` over
//! [`DuplexBytes`](secret_stack::tunnel::DuplexBytes) and [`forward`](secret_stack::tunnel::forward).
//!
//! Every pairing runs the interop checks through the tunnel (anonymous): JS endpoint and JS
//! client through a JS portal (the reference), a Rust client through a JS portal, a JS client
//! through a JS portal to a Rust endpoint, and JS endpoint and client through a Rust portal.
//! The JS side is `peer.js --serve-portal` (portal), `peer.js --portal ADDRESS` (endpoint) and
//! `client.js TUNNEL_ADDRESS --portal ADDRESS` (client).

use std::convert::Infallible;
use std::time::Duration;

use secret_stack::keys::{AppKey, PublicKey};
use secret_stack::multiserver::{Address, Scope, ShsAddress};
use secret_stack::stack::{App, SecretStack};
use secret_stack::tunnel::TunnelAddress;
use secret_stack_examples::checks::run_checks;
use secret_stack_tests::engine::assert_all_pass;
use secret_stack_tests::node::{self, JsProcess, Node};
use secret_stack_tests::stack_fixtures::{config, start, within};
use secret_stack_tests::tunnel::{
    dial_inner, endpoint_plugin, keys, open, portal_plugin, serve_inner,
};
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_secs(120);
/// The interop suite's default app key.
const APP_KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";

const RUST_PORTAL: u8 = 11;
const RUST_ENDPOINT: u8 = 12;
const RUST_CLIENT: u8 = 13;

fn app_key() -> AppKey {
    APP_KEY.parse().expect("app key")
}

/// A Rust app seeded with `n`s in the interop network; JS idles out nobody for 10 minutes, nor
/// does this.
async fn rust_app(n: u8, builder: secret_stack::stack::Builder) -> App {
    let extra = json!({"caps": {"shs": APP_KEY}, "timers": {"inactivity": 600_000}});
    start(&builder, config(n, extra)).await
}

/// Starts `peer.js` with `args`; returns it with its JSON line.
async fn js_peer(node: &Node, args: &[&str]) -> (JsProcess, Value) {
    let mut peer = node
        .spawn("peer.js", args)
        .unwrap_or_else(|e| panic!("{e}"));
    let line = peer
        .first_json_line(START)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (peer, line)
}

fn text(line: &Value, key: &str) -> String {
    line[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .to_owned()
}

/// The tunnel address a JS endpoint printed, checked against the form ssb-tunnel produces:
/// `tunnel:@PORTAL:@ENDPOINT:0~shs:<endpoint key>`.
fn printed_tunnel(line: &Value, portal: &str) -> TunnelAddress {
    let printed = text(line, "tunnel");
    let address: Address = printed.parse().unwrap_or_else(|e| panic!("{printed}: {e}"));
    let tunnel = TunnelAddress::from_protocol(address.transport())
        .unwrap_or_else(|e| panic!("{printed}: {e}"));
    let shs = ShsAddress::from_protocol(&address.transforms()[0]).expect("shs section");
    assert_eq!(tunnel.portal.id(), portal, "{printed}");
    assert_eq!(tunnel.target.id(), text(line, "id"), "{printed}");
    assert_eq!(
        shs.key, tunnel.target,
        "the key after shs: is the target's: {printed}"
    );
    assert_eq!(tunnel.to_address(), printed, "printed as JS prints it");
    tunnel
}

/// Runs `client.js` through the portal at `portal` to `tunnel` and asserts every check passed.
async fn js_client_through(node: &Node, tunnel: &TunnelAddress, portal: &str) {
    let address = tunnel.to_address();
    let out = node
        .spawn("client.js", [address.as_str(), "--portal", portal])
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let passed = out.assert_all_passed();
    assert!(passed >= 20, "only {passed} checks ran: {out}");
}

/// A JS portal and a JS endpoint announced to it: both processes, the portal's address, and
/// the endpoint's tunnel address.
async fn js_portal_and_endpoint(node: &Node) -> ([JsProcess; 2], String, TunnelAddress) {
    let (portal, portal_line) = js_peer(node, &["--serve-portal"]).await;
    let portal_address = text(&portal_line, "address");
    let (endpoint, endpoint_line) = js_peer(node, &["--portal", &portal_address]).await;
    let tunnel = printed_tunnel(&endpoint_line, &text(&portal_line, "id"));
    ([endpoint, portal], portal_address, tunnel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_endpoint_and_js_client_through_a_js_portal() {
    let Some(node) = node::setup() else { return };
    let (js, portal_address, tunnel) = js_portal_and_endpoint(&node).await;
    js_client_through(&node, &tunnel, &portal_address).await;
    drop(js);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_through_a_js_portal_to_a_js_endpoint() {
    let Some(node) = node::setup() else { return };
    let (js, portal_address, tunnel) = js_portal_and_endpoint(&node).await;

    let client = rust_app(RUST_CLIENT, SecretStack::builder()).await;
    let to_portal = within(client.connect(&portal_address))
        .await
        .expect("the Rust client reaches the JS portal");
    let bytes = open(&to_portal, tunnel);
    let inner = dial_inner(bytes, keys(RUST_CLIENT), app_key(), tunnel).await;
    let results = run_checks(&inner, false).await;
    assert_all_pass(&results);
    let end = within(inner.close()).await;
    assert!(end.is_clean(), "inner session ended {end:?}");

    // An unknown target is the JS portal's error.
    let stranger = TunnelAddress::new(tunnel.portal, keys(99).public());
    let mut refused = open(&to_portal, stranger);
    let error = within(tokio::io::AsyncReadExt::read(&mut refused, &mut [0; 8]))
        .await
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains(&format!("could not connect to:{}", stranger.target.id())),
        "{error}"
    );
    within(client.close()).await;
    drop(js);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_through_a_js_portal_to_a_rust_endpoint() {
    let Some(node) = node::setup() else { return };
    let (portal, portal_line) = js_peer(&node, &["--serve-portal"]).await;
    let portal_address = text(&portal_line, "address");
    let portal_id: PublicKey = text(&portal_line, "id").parse().expect("portal id");

    let own = keys(RUST_ENDPOINT);
    let serve = {
        let own = own.clone();
        move |bytes| {
            tokio::spawn(serve_inner(bytes, own.clone(), app_key()));
        }
    };
    let endpoint = rust_app(
        RUST_ENDPOINT,
        SecretStack::builder().plugin(endpoint_plugin(own.public(), serve)),
    )
    .await;
    let to_portal = within(endpoint.connect(&portal_address))
        .await
        .expect("the Rust endpoint reaches the JS portal");
    let answer: Value = within(
        to_portal
            .rpc()
            .call(&["tunnel", "announce"], vec![Value::Null]),
    )
    .await
    .expect("the JS portal takes the announcement");
    assert_eq!(answer, json!(false), "what a JS portal answers to announce");

    let tunnel = TunnelAddress::new(portal_id, own.public());
    js_client_through(&node, &tunnel, &portal_address).await;
    within(endpoint.close()).await;
    drop(portal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_endpoint_and_js_client_through_a_rust_portal() {
    let Some(node) = node::setup() else { return };
    let builder = SecretStack::builder().plugin_with("tunnel", |init| {
        Ok::<_, Infallible>(portal_plugin(init.app()))
    });
    let portal = rust_app(RUST_PORTAL, builder).await;
    let portal_address = portal.address(Scope::Device);
    let (endpoint, endpoint_line) = js_peer(&node, &["--portal", &portal_address]).await;
    let tunnel = printed_tunnel(&endpoint_line, &portal.id().id());
    js_client_through(&node, &tunnel, &portal_address).await;
    drop(endpoint);
    within(portal.close()).await;
}
