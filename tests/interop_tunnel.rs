//! Tunnels with JavaScript ssb-tunnel 2.0.0 on secret-stack 8.1.0, on 127.0.0.1: the full matrix
//! of portal, endpoint and client, each JS or Rust (the `tunnel` plugin), eight pairings. Each
//! runs every interop check through the tunnel (anonymous), every call kind, and the graceful
//! close. The JS side is `peer.js --serve-portal` (portal), `peer.js --portal ADDRESS`
//! (endpoint) and `client.js TUNNEL_ADDRESS --portal ADDRESS` (client); the Rust side is the
//! interop peer and client (`interop_peer --serve-portal`, `interop_peer --portal ADDRESS`,
//! `interop_client TUNNEL_ADDRESS --portal ADDRESS`), run in-process. A Rust client asking a JS
//! portal for an endpoint it does not know gets the portal's refusal.

use std::time::Duration;

use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack::multiserver::{Address, IncomingLimits, ShsAddress};
use secret_stack::rpc::RpcError;
use secret_stack::tunnel::{DuplexBytesError, TunnelAddress};
use secret_stack_examples::client::{ClientConfig, run_through, tunnel_client};
use secret_stack_examples::peer::{HANDSHAKE_TIMEOUT, Peer, PeerConfig, TunnelRoles};
use secret_stack_tests::node::{self, JsProcess, Node};
use secret_stack_tests::stack_fixtures::within;
use secret_stack_tests::tunnel::duplex_error_in;
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

/// Which implementation takes a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Js,
    Rust,
}

/// A running portal or endpoint.
enum Running {
    Js(Box<JsProcess>),
    Rust(Peer),
}

impl Running {
    /// Stops it: a Rust peer closes gracefully, a JS process is killed.
    async fn stop(self) {
        match self {
            Running::Js(process) => drop(process),
            Running::Rust(peer) => {
                within(peer.close()).await;
            }
        }
    }
}

/// Starts the Rust interop peer seeded with `n`s taking `roles`; returns it with the JSON line
/// `interop_peer` prints.
async fn rust_peer(n: u8, roles: TunnelRoles) -> (Running, Value) {
    let config = PeerConfig {
        keys: Keypair::from_seed(&[n; 32]),
        app_key: app_key(),
        port: None,
        masters: Vec::new(),
        handshake_timeout: HANDSHAKE_TIMEOUT,
    };
    let peer = within(Peer::start_with(config, IncomingLimits::default(), roles))
        .await
        .expect("the Rust peer starts");
    let mut line = json!({"address": peer.address(), "id": peer.id()});
    if let Some(tunnel) = peer.tunnel() {
        line["tunnel"] = tunnel.into();
    }
    (Running::Rust(peer), line)
}
/// Starts `peer.js` with `args`; returns it with its JSON line.
async fn js_peer(node: &Node, args: &[&str]) -> (Running, Value) {
    let mut peer = node
        .spawn("peer.js", args)
        .unwrap_or_else(|e| panic!("{e}"));
    let line = peer
        .first_json_line(START)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (Running::Js(Box::new(peer)), line)
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

fn client_config() -> ClientConfig {
    ClientConfig {
        keys: Keypair::from_seed(&[RUST_CLIENT; 32]),
        app_key: app_key(),
        master: false,
    }
}

/// Runs the Rust interop client through the portal at `portal` to `tunnel` and asserts every
/// check passed.
async fn rust_client_through(tunnel: &TunnelAddress, portal: &str) {
    let address = tunnel.to_address();
    let results = tokio::time::timeout(RUN, run_through(&address, Some(portal), &client_config()))
        .await
        .expect("the Rust client finishes")
        .unwrap_or_else(|e| panic!("the Rust client through {portal} to {address}: {e}"));
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {}", r.name, r.detail))
        .collect();
    assert!(failed.is_empty(), "failed checks: {failed:#?}");
    assert!(results.len() >= 16, "only {} checks ran", results.len());
}

/// Starts the portal and the endpoint, then runs the client through them: every check passes.
async fn matrix(portal: Side, endpoint: Side, client: Side) {
    let Some(node) = node::setup() else { return };
    let (portal_run, portal_line) = match portal {
        Side::Js => js_peer(&node, &["--serve-portal"]).await,
        Side::Rust => {
            let roles = TunnelRoles {
                serve_portal: true,
                ..TunnelRoles::default()
            };
            rust_peer(RUST_PORTAL, roles).await
        }
    };
    let portal_address = text(&portal_line, "address");
    let (endpoint_run, endpoint_line) = match endpoint {
        Side::Js => js_peer(&node, &["--portal", &portal_address]).await,
        Side::Rust => {
            let roles = TunnelRoles {
                portal: Some(portal_address.clone()),
                ..TunnelRoles::default()
            };
            rust_peer(RUST_ENDPOINT, roles).await
        }
    };
    let tunnel = printed_tunnel(&endpoint_line, &text(&portal_line, "id"));
    match client {
        Side::Js => js_client_through(&node, &tunnel, &portal_address).await,
        Side::Rust => rust_client_through(&tunnel, &portal_address).await,
    }
    endpoint_run.stop().await;
    portal_run.stop().await;
}

/// One test per pairing: `name => portal, endpoint, client`.
macro_rules! pairings {
    ($($name:ident => $portal:ident, $endpoint:ident, $client:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            matrix(Side::$portal, Side::$endpoint, Side::$client).await;
        }
    )*};
}

pairings! {
    js_portal_js_endpoint_js_client => Js, Js, Js;
    js_portal_js_endpoint_rust_client => Js, Js, Rust;
    js_portal_rust_endpoint_js_client => Js, Rust, Js;
    js_portal_rust_endpoint_rust_client => Js, Rust, Rust;
    rust_portal_js_endpoint_js_client => Rust, Js, Js;
    rust_portal_js_endpoint_rust_client => Rust, Js, Rust;
    rust_portal_rust_endpoint_js_client => Rust, Rust, Js;
    rust_portal_rust_endpoint_rust_client => Rust, Rust, Rust;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_portal_refuses_an_unknown_target_to_a_rust_client() {
    let Some(node) = node::setup() else { return };
    let (portal, portal_line) = js_peer(&node, &["--serve-portal"]).await;
    let portal_address = text(&portal_line, "address");
    let portal_id: PublicKey = text(&portal_line, "id").parse().expect("portal id");
    let stranger = TunnelAddress::new(portal_id, Keypair::from_seed(&[99; 32]).public());
    let app = within(tunnel_client(&portal_address, &client_config()))
        .await
        .expect("the Rust client reaches the JS portal");
    let refused = within(app.connect(&stranger.to_address()))
        .await
        .expect_err("the portal does not know the target");
    // The portal's error end reaches the dial, whether it comes before or after the client's
    // first handshake message.
    let reason =
        duplex_error_in(&refused).unwrap_or_else(|| panic!("no duplex error in {refused:?}"));
    assert!(
        matches!(reason, DuplexBytesError::Ended(RpcError::Remote(_)))
            && reason
                .to_string()
                .contains(&format!("could not connect to:{}", stranger.target.id())),
        "{reason}"
    );
    within(app.close()).await;
    portal.stop().await;
}
