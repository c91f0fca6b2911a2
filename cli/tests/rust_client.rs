//! `manifest --rust`: the clients generated for the JS interop peer compile in a crate of their
//! own (built against this workspace's `secret-stack` by path, edition 2021) and call the peer
//! through every kind they use; `--file` generates the same code from a saved manifest. Skipped
//! without Node, failing under `CI=true`.
//!
//! The crate is built with `cargo` in `<target>/generated-client` (kept between runs, so only the
//! first run compiles the dependencies), from this workspace's `Cargo.lock`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use secret_stack_tests::node::{self, temp_dir};
use serde_json::{Value, json};

mod support;

use support::{APP_KEY, expect_code, js_peer, run, stderr, stop_js_peer, text, wait_output};

/// The program of the crate: calls the peer at `argv[1]` through the generated clients and
/// prints what it got as one JSON line.
const MAIN: &str = r#"
mod generated;

use futures::StreamExt;
use secret_stack::keys::Keypair;
use secret_stack::stack::{Config, SecretStack};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let address = args.next().expect("the peer's address");
    let app_key = args.next().expect("the app key").parse().expect("app key");
    let config = Config::from_json(json!({
        "global": {"connections": {"outgoing": {"net": [{"transform": "shs"}]}}}
    }))
    .expect("config");
    let app = SecretStack::builder()
        .app_key(app_key)
        .keypair(Keypair::generate())
        .build(config)
        .expect("app");
    let peer = app.connect(&address).await.expect("connect");

    let test = generated::test::TestClient::new(&peer);
    let hello = test.hello(Some(json!("rust"))).await.expect("hello");
    let count: Vec<Value> = test
        .count(Some(json!(3)))
        .map(|item| item.expect("count item"))
        .collect()
        .await;
    let items = futures::stream::iter([json!(1), json!("two"), json!({"three": 3})]);
    let echo: Vec<Value> = test
        .echo(None, items)
        .map(|item| item.expect("echo item"))
        .collect()
        .await;
    let failed = test.fail(None).await.expect_err("fail fails").to_string();
    let root = generated::root::RootClient::new(&peer);
    let manifest = root.manifest(None).await.expect("manifest");
    let ms = generated::multiserver::MultiserverClient::new(&peer);
    // Master-only on peer.js: the refusal names the path the generated client called.
    let parsed = ms.parse(Some(json!(address))).await.expect_err("refused").to_string();
    println!(
        "{}",
        json!({"hello": hello, "count": count, "echo": echo, "fail": failed,
               "manifest": manifest, "parsed": parsed})
    );
    peer.close().await;
    app.close().await;
}
"#;

/// `target/` of this test (…/target/<profile>/deps/<test>).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

/// Writes the crate around `generated` into `dir`.
fn write_crate(dir: &Path, generated: &str) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    let manifest = format!(
        "[package]\nname = \"generated-client-check\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         publish = false\n\n[dependencies]\nsecret-stack = {{ path = {:?} }}\n\
         serde_json = \"1\"\nfutures = \"0.3\"\n\
         tokio = {{ version = \"1\", features = [\"rt-multi-thread\", \"macros\"] }}\n\n\
         [workspace]\n",
        workspace.join("secret-stack")
    );
    std::fs::create_dir_all(dir.join("src")).expect("create the crate");
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    std::fs::write(dir.join("src/main.rs"), MAIN).expect("main.rs");
    std::fs::write(dir.join("src/generated.rs"), generated).expect("generated.rs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_clients_of_the_js_peer_compile_and_call_it() {
    let Some(node) = node::setup() else { return };
    let (peer, address) = js_peer(&node, &[]).await;
    let home = temp_dir("cli-rust-client");

    let output = tokio::task::spawn_blocking(move || {
        let args = ["manifest", &address, "--app-key", APP_KEY];
        let json_out = run(&home, &args, "");
        let out = run(&home, &[&args[..], &["--rust"]].concat(), "");
        let generated = expect_code(&out, 0);
        // The same code from the manifest saved as a file.
        let file = home.join("manifest.json");
        std::fs::write(&file, expect_code(&json_out, 0)).expect("manifest.json");
        let file = file.to_str().expect("utf-8 path");
        let from_file = run(&home, &["manifest", "--file", file, "--rust"], "");
        assert_eq!(expect_code(&from_file, 0), generated);

        let dir = home.join("generated-client");
        write_crate(&dir, &generated);
        let child = Command::new(env!("CARGO"))
            .args(["run", "--quiet", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .args(["--", &address, APP_KEY])
            .env("CARGO_TARGET_DIR", target_dir().join("generated-client"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cargo");
        wait_output(child, Duration::from_secs(900))
    })
    .await
    .expect("generate and build");
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        !stderr(&output).contains("generated.rs"),
        "warnings in the generated code: {}",
        text(&output)
    );
    let got: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert_eq!(got["hello"], json!("hello rust"));
    assert_eq!(got["count"], json!([0, 1, 2]));
    assert_eq!(got["echo"], json!([1, "two", {"three": 3}]));
    assert!(
        got["fail"]
            .as_str()
            .is_some_and(|e| e.contains("test.fail: intentional failure")),
        "{got}"
    );
    assert_eq!(got["manifest"]["test"]["echo"], json!("duplex"));
    assert!(
        got["parsed"]
            .as_str()
            .is_some_and(|e| e.contains("`multiserver.parse` is not among the methods")),
        "{got}"
    );
    stop_js_peer(peer).await;
}
