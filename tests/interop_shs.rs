//! Handshake + box-stream interop with JavaScript secret-handshake 1.1.21 and pull-box-stream
//! 1.0.13 (`tests/interop/shs-server.js`, `shs-client.js`).
//!
//! The JS↔JS runs prove the scripts and the harness; the Rust client and server are checked
//! against the same scripts.

use std::time::Duration;

use secret_stack_tests::node;

const START: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_secs(60);
const SERVER_SEED: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const CLIENT_SEED: &str = "2222222222222222222222222222222222222222222222222222222222222222";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_shs_client_against_js_shs_server() {
    let Some(node) = node::setup() else { return };
    let mut server = node
        .spawn("shs-server.js", ["--seed", SERVER_SEED])
        .unwrap_or_else(|e| panic!("{e}"));
    let hello = server
        .first_json_line(START)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = hello["port"].as_u64().unwrap_or_default().to_string();
    let id = hello["id"].as_str().unwrap_or_default().to_owned();
    assert!(
        port != "0" && id.ends_with(".ed25519"),
        "shs-server.js printed {hello}"
    );

    let out = node
        .spawn(
            "shs-client.js",
            [
                "--port",
                &port,
                "--server-id",
                &id,
                "--seed",
                CLIENT_SEED,
                "text:hello",
                "bytes:70000",
                "hex:00ff00",
                "text:bye",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    out.assert_all_passed();

    // A client with another app key must be turned away.
    let other_app_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let rejected = node
        .spawn(
            "shs-client.js",
            [
                "--port",
                &port,
                "--server-id",
                &id,
                "--app-key",
                other_app_key,
                "--expect-reject",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rejected.assert_all_passed();

    let server_out = server
        .stop(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(server_out.status.success(), "{server_out}");
    assert!(
        server_out
            .stderr
            .contains("70011 bytes echoed; input ended with goodbye"),
        "{server_out}"
    );
}
