//! RPC-level interop with JavaScript secret-stack 8.1.0 (`tests/interop/peer.js`, `client.js`)
//! over real TCP + secret handshake + box stream on 127.0.0.1.
//!
//! Every pairing runs the full check list, anonymous and as a master: JS client → Rust peer
//! (`secret_stack_examples::peer`), Rust client (`secret_stack_examples::client`) → JS peer, and
//! JS↔JS / Rust↔Rust as references for the scripts and the example code themselves. The Rust peer
//! is a `SecretStack` app serving the `#[plugin]` `test` plugin; the Rust client drives it through
//! the `#[remote]` typed client; both announce the same `test` manifest as `peer.js`.

use std::time::Duration;

use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack::plugin::PluginDescription;
use secret_stack::rpc::Caller;
use secret_stack_examples::checks::CheckResult;
use secret_stack_examples::client::{self, ClientConfig};
use secret_stack_examples::peer::{HANDSHAKE_TIMEOUT, Peer, PeerConfig};
use secret_stack_examples::test_client::TestClient;
use secret_stack_examples::test_plugin;
use secret_stack_tests::node::{self, Node};
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_secs(120);
/// The suite's default app key.
const APP_KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";

fn app_key() -> AppKey {
    APP_KEY
        .parse()
        .unwrap_or_else(|e| panic!("bad app key: {e}"))
}

/// Panics with every failed check unless all passed; returns how many ran.
fn assert_checks(results: &[CheckResult], what: &str) -> usize {
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "{what}: failed checks: {failed:#?}");
    assert!(
        results.len() >= 16,
        "{what}: only {} checks ran",
        results.len()
    );
    results.len()
}

/// The check named `name`, which must exist.
fn check<'a>(results: &'a [CheckResult], name: &str) -> &'a CheckResult {
    results
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no check named {name}: {results:#?}"))
}

/// Starts `peer.js` with `args` and returns it with its `{"address","id"}` line.
async fn start_peer(node: &Node, args: &[&str]) -> (node::JsProcess, String, String) {
    let mut peer = node
        .spawn("peer.js", args)
        .unwrap_or_else(|e| panic!("{e}"));
    let hello = peer
        .first_json_line(START)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = hello["address"].as_str().unwrap_or_default().to_owned();
    let id = hello["id"].as_str().unwrap_or_default().to_owned();
    assert!(
        address.starts_with("net:127.0.0.1:") && address.contains("~shs:"),
        "peer.js printed {hello}"
    );
    assert!(
        id.starts_with('@') && id.ends_with(".ed25519"),
        "peer.js printed {hello}"
    );
    (peer, address, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_against_js_peer_anonymous_and_master() {
    let Some(node) = node::setup() else { return };
    let dir = node::temp_dir("rpc-js-js");
    let client_keys = dir.join("client-secret");
    let keys = node
        .keys(&client_keys)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client_id = keys["id"].as_str().unwrap_or_default().to_owned();
    assert!(client_id.starts_with('@'), "keys.js printed {keys}");

    let (peer, address, _) = start_peer(&node, &["--master", &client_id]).await;

    let anonymous = node
        .spawn("client.js", [address.as_str()])
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    anonymous.assert_all_passed();
    assert!(
        anonymous
            .stdout
            .contains("ok - secret refused for anonymous")
    );

    let keys_arg = client_keys.to_string_lossy().into_owned();
    let master = node
        .spawn(
            "client.js",
            [address.as_str(), "--keys", &keys_arg, "--master"],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    master.assert_all_passed();
    assert!(master.stdout.contains("ok - secret allowed for master"));

    let peer_out = peer
        .stop(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(peer_out.status.success(), "{peer_out}");
    assert!(
        peer_out
            .stderr
            .contains(&format!("connection from {client_id} (master)")),
        "{peer_out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_claiming_master_is_refused_the_secret() {
    let Some(node) = node::setup() else { return };
    // The peer does not know this client: `--master` is wrong, so the checks must fail.
    let (peer, address, _) = start_peer(&node, &[]).await;
    let out = node
        .spawn("client.js", [address.as_str(), "--master"])
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success(), "{out}");
    let failures = out.failures();
    assert!(
        failures
            .iter()
            .any(|l| l.starts_with("not ok - secret allowed for master")),
        "{out}"
    );
    assert_eq!(
        out.summary().map(|(_, failed)| failed),
        Some(failures.len()),
        "{out}"
    );
    drop(peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_against_rust_peer_anonymous_and_master() {
    let Some(node) = node::setup() else { return };
    let dir = node::temp_dir("rpc-js-rust");
    let client_keys = dir.join("client-secret");
    let keys = node
        .keys(&client_keys)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client_id: PublicKey = keys["id"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("keys.js printed {keys}: {e}"));

    let peer = Peer::start(PeerConfig {
        keys: Keypair::generate(),
        app_key: app_key(),
        port: None,
        masters: vec![client_id],
        handshake_timeout: HANDSHAKE_TIMEOUT,
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        peer.address().starts_with("net:127.0.0.1:"),
        "Rust peer address {}",
        peer.address()
    );

    let anonymous = node
        .spawn("client.js", [peer.address()])
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(anonymous.assert_all_passed(), 20, "{anonymous}");
    assert!(
        anonymous
            .stdout
            .contains("ok - secret refused for anonymous")
    );

    let keys_arg = client_keys.to_string_lossy().into_owned();
    let master = node
        .spawn(
            "client.js",
            [peer.address(), "--keys", &keys_arg, "--master"],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(master.assert_all_passed(), 20, "{master}");
    assert!(master.stdout.contains("ok - secret allowed for master"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_against_js_peer_anonymous_and_master() {
    let Some(node) = node::setup() else { return };
    let master_keys = Keypair::generate();
    let (peer, address, peer_id) = start_peer(&node, &["--master", &master_keys.id()]).await;
    assert!(address.contains(peer_id.trim_start_matches('@').trim_end_matches(".ed25519")));

    let anonymous = ClientConfig {
        keys: Keypair::generate(),
        app_key: app_key(),
        master: false,
    };
    let results = client::run(&address, &anonymous)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_checks(&results, "anonymous Rust client against peer.js");
    // JS sends a plain error object: the typed client reports it untyped, with JS's message.
    assert_eq!(
        check(&results, "test.fail").detail,
        "untyped error \"test.fail: intentional failure\""
    );
    assert!(
        check(&results, "test.secret")
            .detail
            .contains("not in list of allowed methods")
    );
    assert_eq!(
        check(&results, "unknown method").detail,
        "method:test,nope is not in list of allowed methods"
    );

    let master = ClientConfig {
        keys: master_keys.clone(),
        app_key: app_key(),
        master: true,
    };
    let results = client::run(&address, &master)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_checks(&results, "master Rust client against peer.js");
    assert_eq!(
        check(&results, "unknown method").detail,
        "no async:test,nope"
    );

    let out = peer
        .stop(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.stderr
            .contains(&format!("connection from {} (master)", master_keys.id())),
        "{out}"
    );
    assert!(
        out.stderr
            .contains(&format!("connection with {} closed", master_keys.id())),
        "peer.js did not see the master connection close:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_with_wrong_app_key_cannot_reach_js_peer() {
    let Some(node) = node::setup() else { return };
    let (peer, address, _) = start_peer(&node, &[]).await;
    let config = ClientConfig {
        keys: Keypair::generate(),
        app_key: AppKey([7; 32]),
        master: false,
    };
    let result = client::run(&address, &config).await;
    assert!(
        result.is_err(),
        "connected with the wrong app key: {result:?}"
    );
    drop(peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_against_rust_peer() {
    // No Node needed: the example peer and client agree with each other too.
    let master_keys = Keypair::generate();
    let peer = Peer::start(PeerConfig {
        keys: Keypair::generate(),
        app_key: app_key(),
        port: None,
        masters: vec![master_keys.public()],
        handshake_timeout: HANDSHAKE_TIMEOUT,
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for (keys, master) in [(Keypair::generate(), false), (master_keys, true)] {
        let config = ClientConfig {
            keys,
            app_key: app_key(),
            master,
        };
        let results = client::run(peer.address(), &config)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_checks(&results, if master { "master" } else { "anonymous" });
        // A Rust peer sends the error's data: the typed client gets `TestError` back.
        assert!(
            check(&results, "test.fail")
                .detail
                .starts_with("typed error TestError::Intentional"),
            "{results:#?}"
        );
        let refusal = &check(&results, "test.secret").detail;
        if !master {
            assert_eq!(
                refusal,
                "refused: method:test,secret is not in list of allowed methods"
            );
        }
    }
}

/// The answer of `manifest` from the peer at `address`.
async fn manifest_of(address: &str) -> Value {
    let config = ClientConfig {
        keys: Keypair::generate(),
        app_key: app_key(),
        master: false,
    };
    let (app, peer) = client::connect(address, &config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {address}: {e}"));
    let manifest = peer
        .call(&["manifest"], vec![])
        .await
        .unwrap_or_else(|e| panic!("manifest of {address}: {e}"))
        .into_json();
    peer.close().await;
    app.close().await;
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_peer_announces_the_test_manifest_of_peer_js() {
    let rust_peer = Peer::start(PeerConfig {
        keys: Keypair::generate(),
        app_key: app_key(),
        port: None,
        masters: vec![],
        handshake_timeout: HANDSHAKE_TIMEOUT,
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let ours = manifest_of(rust_peer.address()).await;
    // The `#[plugin]` manifest, the `#[remote]` client's and the one served all agree.
    let plugin = std::sync::Arc::new(test_plugin::Test::default())
        .manifest()
        .to_json();
    assert_eq!(ours["test"], plugin, "{ours}");
    assert_eq!(TestClient::<()>::manifest().to_json(), plugin);
    assert_eq!(ours["manifest"], json!("sync"), "{ours}");

    let Some(node) = node::setup() else { return };
    let (js_peer, address, _) = start_peer(&node, &[]).await;
    let theirs = manifest_of(&address).await;
    assert!(theirs["test"].is_object(), "peer.js manifest {theirs}");
    assert_eq!(
        ours["test"], theirs["test"],
        "ours {ours}\npeer.js {theirs}"
    );
    drop(js_peer);
}
