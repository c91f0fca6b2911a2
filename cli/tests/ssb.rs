//! `call` and `manifest` where Scuttlebutt users are: with no flags they read `~/.ssb/secret` and
//! `~/.ssb/config` (under a temporary HOME) and dial the local server — here the JS interop peer
//! `tests/interop/peer.js`, started with the same key file, which grants its own key full access.
//! Skipped without Node, failing under `CI=true`.

use std::path::Path;

use secret_stack_tests::node::{self, JsProcess, Node, temp_dir};
use serde_json::{Value, json};

mod support;

use support::{APP_KEY, expect_code, js_peer, run, stderr, stop_js_peer, text};

/// The Scuttlebutt main network's app key.
const MAIN_NETWORK: &str = "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=";

/// Starts peer.js with `secret` as its identity and returns it with the port it listens on.
async fn start_peer(node: &Node, secret: &Path, app_key: &str) -> (JsProcess, u16) {
    let secret = secret.to_str().expect("utf-8 path");
    let (peer, address) = js_peer(node, &["--keys", secret, "--app-key", app_key]).await;
    let port = address
        .strip_prefix("net:127.0.0.1:")
        .and_then(|rest| rest.split('~').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected address {address}"));
    (peer, port)
}

/// Runs the CLI with `args` under `home`, off the async runtime.
async fn cli(home: &Path, args: &[&str]) -> std::process::Output {
    let home = home.to_owned();
    let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&home, &args, "")
    })
    .await
    .expect("run the CLI")
}

fn write_config(ssb: &Path, config: Value) {
    std::fs::write(ssb.join("config"), config.to_string()).expect("write ~/.ssb/config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_flags_read_the_scuttlebutt_directory() {
    let Some(node) = node::setup() else { return };
    let home = temp_dir("cli-ssb");
    let ssb = home.join(".ssb");
    std::fs::create_dir_all(&ssb).expect("create ~/.ssb");

    // Nothing to dial yet: the error names the key file it looked for.
    let out = cli(&home, &["call", "whoami"]).await;
    expect_code(&out, 2);
    assert!(stderr(&out).contains(".ssb/secret"), "{}", text(&out));

    let secret = ssb.join("secret");
    let secret_arg = secret.to_str().expect("utf-8 path");
    let out = cli(&home, &["keygen", "--keys", secret_arg]).await;
    let id = expect_code(&out, 0).trim().to_owned();
    let (peer, port) = start_peer(&node, &secret, APP_KEY).await;

    // caps.shs, host and port at the top level.
    write_config(
        &ssb,
        json!({"caps": {"shs": APP_KEY}, "host": "127.0.0.1", "port": port}),
    );
    // Master-only: the CLI dialled with the server's own key pair.
    let out = cli(&home, &["call", "test.secret"]).await;
    assert_eq!(expect_code(&out, 0), "\"the secret is 42\"\n");
    let out = cli(&home, &["manifest"]).await;
    let manifest: Value = serde_json::from_str(&expect_code(&out, 0)).expect("JSON");
    assert_eq!(manifest["test"]["hello"], json!("async"));

    // An explicit flag wins over the config: another network fails the handshake.
    let other = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let out = cli(&home, &["call", "test.hello", "x", "--app-key", other]).await;
    expect_code(&out, 3);
    // --keys wins over ~/.ssb/secret: a stranger, refused the master-only method.
    let stranger = home.join("stranger");
    let stranger = stranger.to_str().expect("utf-8 path");
    expect_code(&cli(&home, &["keygen", "--keys", stranger]).await, 0);
    let out = cli(&home, &["call", "test.secret", "--keys", stranger]).await;
    expect_code(&out, 1);

    // The incoming net entry of `connections`, ssb-config's other shape; an ADDRESS given, the
    // identity and app key still come from ~/.ssb.
    write_config(
        &ssb,
        json!({"caps": {"shs": APP_KEY}, "port": 1,
               "connections": {"incoming": {"net": [{"host": "127.0.0.1", "port": port}]}}}),
    );
    let out = cli(&home, &["call", "test.hello", "ssb"]).await;
    assert_eq!(expect_code(&out, 0), "\"hello ssb\"\n");
    let key = id.trim_start_matches('@').trim_end_matches(".ed25519");
    let address = format!("net:127.0.0.1:{port}~shs:{key}");
    let out = cli(&home, &["call", &address, "test.secret"]).await;
    assert_eq!(expect_code(&out, 0), "\"the secret is 42\"\n");
    stop_js_peer(peer).await;

    // No caps.shs: the main network.
    let (main_peer, port) = start_peer(&node, &secret, MAIN_NETWORK).await;
    write_config(&ssb, json!({"port": port}));
    let out = cli(&home, &["call", "test.hello", "main"]).await;
    assert_eq!(expect_code(&out, 0), "\"hello main\"\n");
    stop_js_peer(main_peer).await;
}
