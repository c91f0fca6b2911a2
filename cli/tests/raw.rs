//! `call --raw`: stdin sent as binary chunks to a sink or duplex, a binary source's bytes written
//! to stdout as they are — against `secret-stack serve` and the JS interop peer (skipped without
//! Node, failing under `CI=true`).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secret_stack_tests::node::{self, temp_dir};
use serde_json::Value;

mod support;

use support::{
    APP_KEY, Server, expect_code, js_peer, json_lines, run, run_bytes, stderr, stdout,
    stop_js_peer, text,
};

/// Bytes no UTF-8 or JSON reading would keep: every byte value, over more than one chunk.
fn binary_input() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// What `test.bytes(total, chunk)` sends: the byte at offset `j` is `j % 256`.
fn expected_bytes(total: usize) -> Vec<u8> {
    (0..total).map(|j| (j % 256) as u8).collect()
}

/// `call ADDRESS args… --raw` with `input` on stdin.
fn call_raw(home: &Path, address: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut all = vec!["call", address];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--raw", "--app-key", APP_KEY]);
    run_bytes(home, &all, input)
}

/// A binary source and a binary duplex, both ways, against the peer at `address`.
fn source_and_duplex(home: &Path, address: &str) {
    let out = call_raw(home, address, &["test.bytes", "150000", "40000"], b"");
    expect_code(&out, 0);
    assert!(
        out.stdout == expected_bytes(150_000),
        "{} bytes written, not the source's: {}",
        out.stdout.len(),
        stderr(&out)
    );
    assert!(!stderr(&out).contains("base64"), "{}", text(&out));

    let input = binary_input();
    let out = call_raw(home, address, &["test.echo", "--kind", "duplex"], &input);
    expect_code(&out, 0);
    assert!(
        out.stdout == input,
        "{} bytes echoed for {} sent: {}",
        out.stdout.len(),
        input.len(),
        stderr(&out)
    );
}

#[test]
fn raw_bytes_both_ways_with_our_server() {
    let server = Server::start("cli-raw", &[]);
    source_and_duplex(&server.home, &server.address);

    // A sink gets binary items: `collected` shows them as "binary:" + base64, in order.
    let keys = server.home.join("client-secret");
    let keys = keys.to_str().expect("utf-8 path");
    expect_code(&run(&server.home, &["keygen", "--keys", keys], ""), 0);
    let input = binary_input();
    let out = call_raw(
        &server.home,
        &server.address,
        &["test.collect", "--keys", keys],
        &input,
    );
    assert_eq!(expect_code(&out, 0), "");
    let out = server.call(&["test.collected", "--keys", keys], "");
    expect_code(&out, 0);
    let lines = json_lines(&out);
    let [Value::Array(items)] = lines.as_slice() else {
        panic!("one array expected: {}", stdout(&out));
    };
    assert!(
        items.len() > 1,
        "more than one chunk: {} items",
        items.len()
    );
    let mut received = Vec::new();
    for item in items {
        let item = item.as_str().unwrap_or_default();
        let data = item
            .strip_prefix("binary:")
            .unwrap_or_else(|| panic!("not a binary item: {item:?}"));
        received.extend(STANDARD.decode(data).expect("base64"));
    }
    assert!(received == input, "{} bytes collected", received.len());

    // Without --raw the same source is base64 text, with a note pointing to --raw.
    let out = server.call(&["test.bytes", "3"], "");
    assert_eq!(expect_code(&out, 0), "\"AAEC\"\n");
    assert!(stderr(&out).contains("--raw"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bytes_both_ways_with_the_js_peer() {
    let Some(node) = node::setup() else { return };
    let (peer, address) = js_peer(&node, &[]).await;
    let home = temp_dir("cli-raw-js");
    tokio::task::spawn_blocking(move || source_and_duplex(&home, &address))
        .await
        .expect("raw calls");
    stop_js_peer(peer).await;
}
