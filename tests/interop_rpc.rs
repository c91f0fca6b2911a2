//! RPC-level interop with JavaScript secret-stack 8.1.0 (`tests/interop/peer.js`, `client.js`).
//!
//! The JS↔JS runs prove the scripts and the harness themselves: the same `client.js` checks are
//! later run against the Rust peer, and `peer.js` serves the Rust client.

use std::time::Duration;

use secret_stack_tests::node::{self, Node};

const START: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_secs(120);

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
