//! The `secret-stack` binary end to end: key files, `serve` then `call`/`manifest` against it
//! (every call kind, remote errors, exit codes), network failures, and calls to the JS interop
//! peer `tests/interop/peer.js` (skipped without Node, failing under `CI=true`).
//! Servers listen on 127.0.0.1 only.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use secret_stack::keys::Keypair;
use secret_stack_tests::node::{self, temp_dir};
use serde_json::{Value, json};

mod support;

use support::{
    APP_KEY, Server, cli, expect_code, first_line, js_peer, json_lines, run, stderr, stop_js_peer,
    text, wait_output,
};

#[test]
fn keygen_writes_a_key_file_whoami_reads_it_and_keygen_never_overwrites() {
    let home = temp_dir("cli-keygen");
    let file = home.join("secret");
    let file_arg = file.to_str().expect("utf-8 path");

    let out = run(&home, &["keygen", "--keys", file_arg], "");
    let id = expect_code(&out, 0).trim().to_owned();
    assert!(id.starts_with('@') && id.ends_with(".ed25519"), "{id}");
    let written = std::fs::read_to_string(&file).expect("key file");
    assert!(written.contains(&id), "the file holds the id: {written}");

    let out = run(&home, &["whoami", "--keys", file_arg], "");
    assert_eq!(expect_code(&out, 0).trim(), id);

    let out = run(&home, &["keygen", "--keys", file_arg], "");
    expect_code(&out, 2);
    assert_eq!(std::fs::read_to_string(&file).expect("key file"), written);

    // The default place: $SECRET_STACK_KEYS.
    let out = cli(&home)
        .arg("whoami")
        .env("SECRET_STACK_KEYS", &file)
        .output()
        .expect("run whoami");
    assert_eq!(expect_code(&out, 0).trim(), id);

    let out = run(&home, &["whoami", "--keys", "/nonexistent/secret"], "");
    expect_code(&out, 2);
    assert!(
        stderr(&out).contains("/nonexistent/secret"),
        "{}",
        text(&out)
    );
}

#[test]
fn async_sync_and_source_calls_to_our_server() {
    let server = Server::start("cli-calls", &[]);
    assert!(
        server.address.starts_with("net:127.0.0.1:"),
        "{}",
        server.address
    );
    assert!(server.address.contains("~shs:"), "{}", server.address);

    let out = server.call(&["test.hello", "world"], "");
    assert_eq!(expect_code(&out, 0), "\"hello world\"\n");
    // JSON arguments are JSON; a quoted string stays a string.
    let out = server.call(&["test.hello", "\"42\""], "");
    assert_eq!(expect_code(&out, 0), "\"hello 42\"\n");

    let out = server.call(&["test.add", "40", "-2"], "");
    assert_eq!(json_lines(&out), vec![json!(38)]);
    expect_code(&out, 0);

    let out = server.call(&["test.count", "5"], "");
    expect_code(&out, 0);
    assert_eq!(
        json_lines(&out),
        (0..5).map(|i| json!(i)).collect::<Vec<_>>()
    );

    // Binary: base64 strings, with a note on stderr.
    let out = server.call(&["test.bytes", "5", "2"], "");
    expect_code(&out, 0);
    assert_eq!(
        json_lines(&out),
        vec![json!("AAE="), json!("AgM="), json!("BA==")]
    );
    assert!(stderr(&out).contains("base64"), "{}", text(&out));

    // --kind skips the manifest.
    let out = server.call(&["test.count", "2", "--kind", "source"], "");
    assert_eq!(json_lines(&out), vec![json!(0), json!(1)]);

    // A reader that stops early (`| head -2`): the call stops quietly, successfully.
    let mut child = cli(&server.home)
        .args([
            "call",
            &server.address,
            "test.count",
            "1000000",
            "--app-key",
            APP_KEY,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn call");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first: Vec<String> = lines.by_ref().take(2).map(|l| l.expect("line")).collect();
    assert_eq!(first, ["0", "1"]);
    drop(lines);
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(stderr(&out), "");

    let done = server.terminate();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    assert!(stderr(&done).contains("app closed"), "{}", text(&done));
}

#[test]
fn sinks_and_duplexes_read_stdin() {
    let server = Server::start("cli-sinks", &[]);
    let keys = server.home.join("client-secret");
    let keys = keys.to_str().expect("utf-8 path");
    // An explicit --keys must exist for `call` (it is never created there).
    let out = server.call(&["test.collected", "--keys", keys], "");
    expect_code(&out, 2);
    assert!(stderr(&out).contains("client-secret"), "{}", text(&out));
    expect_code(&run(&server.home, &["keygen", "--keys", keys], ""), 0);

    let input = "1\n\"two\"\n\n{\"three\": [3]}\nplain text\n";
    let out = server.call(&["test.collect", "--keys", keys], input);
    assert_eq!(expect_code(&out, 0), "");
    // Same identity, new connection: the node kept what this caller sent.
    let out = server.call(&["test.collected", "--keys", keys], "");
    expect_code(&out, 0);
    assert_eq!(
        json_lines(&out),
        vec![json!([1, "two", {"three": [3]}, "plain text"])]
    );
    // Another caller (a throwaway identity: no key file in HOME) has collected nothing.
    let out = server.call(&["test.collected"], "");
    assert_eq!(json_lines(&out), vec![json!([])]);

    let out = server.call(&["test.echo"], "1\n[true]\nhi\n");
    expect_code(&out, 0);
    assert_eq!(json_lines(&out), vec![json!(1), json!([true]), json!("hi")]);
}

#[test]
fn remote_errors_and_permissions_exit_1() {
    let server = Server::start("cli-errors", &[]);

    let out = server.call(&["test.fail"], "");
    assert_eq!(expect_code(&out, 1), "");
    assert!(
        stderr(&out).contains("Error: test.fail: intentional failure"),
        "{}",
        text(&out)
    );

    // A source that fails before its first item.
    let out = server.call(&["test.count", "-1"], "");
    expect_code(&out, 1);

    // Master-only: refused to a stranger, answered to the node's own key.
    let out = server.call(&["test.secret"], "");
    expect_code(&out, 1);
    assert!(
        stderr(&out).contains(
            "permission denied: `test.secret` is not among the methods this connection may call"
        ),
        "{}",
        text(&out)
    );
    let own = server.keys.to_str().expect("utf-8 path");
    let out = server.call(&["test.secret", "--keys", own], "");
    assert_eq!(expect_code(&out, 0), "\"the secret is 42\"\n");

    // Not in the manifest: usage error without --kind; with it, the remote refuses.
    let out = server.call(&["test.nope"], "");
    expect_code(&out, 2);
    assert!(
        stderr(&out).contains("no method test.nope"),
        "{}",
        text(&out)
    );
    let out = server.call(&["test.nope", "--kind", "async"], "");
    expect_code(&out, 1);
}

#[test]
fn manifest_prints_the_remote_manifest() {
    let server = Server::start("cli-manifest", &[]);
    let out = run(
        &server.home,
        &["manifest", &server.address, "--app-key", APP_KEY],
        "",
    );
    let printed = expect_code(&out, 0);
    assert!(printed.lines().count() > 10, "pretty-printed: {printed}");
    let manifest: Value = serde_json::from_str(&printed).expect("JSON");
    assert_eq!(
        manifest["test"],
        json!({
            "hello": "async", "add": "sync", "fail": "async", "count": "source",
            "bytes": "source", "collect": "sink", "collected": "async", "echo": "duplex",
            "secret": "async"
        })
    );
    assert_eq!(manifest["manifest"], json!("sync"));
}

#[test]
fn serve_reads_a_toml_config_and_flags_override_it() {
    let home = temp_dir("cli-config");
    let config = home.join("node.toml");
    // The config: host, identity seed, an app key and a port; --app-key and --port override
    // the last two.
    let other_key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let seed = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    std::fs::write(
        &config,
        format!(
            "[global]\nhost = \"127.0.0.1\"\nport = 1\nseed = \"{seed}\"\n\
             [global.caps]\nshs = \"{other_key}\"\n"
        ),
    )
    .expect("write config");
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut child = cli(&home)
        .args([
            "serve",
            "--app-key",
            APP_KEY,
            "--port",
            &port.to_string(),
            "--config",
        ])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let address = first_line(
        child.stdout.take().expect("stdout"),
        Duration::from_secs(20),
    );
    let Some(address) = address else {
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        panic!("no address: {}", text(&out));
    };
    // The key of the seed [1; 32] (no key file is written), on the port of the flag.
    let id = Keypair::from_seed(&[1; 32]).id();
    let key = id.trim_start_matches('@').trim_end_matches(".ed25519");
    assert_eq!(address, format!("net:127.0.0.1:{port}~shs:{key}"));
    assert!(!home.join(".secret-stack").exists(), "no key file created");
    // The node is on the network of --app-key.
    let out = run(
        &home,
        &["call", &address, "test.hello", "toml", "--app-key", APP_KEY],
        "",
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(expect_code(&out, 0), "\"hello toml\"\n");
}

#[test]
fn serve_and_call_over_unix_and_ws_from_a_json_config() {
    let home = temp_dir("cli-transports");
    let config = home.join("node.json");
    let value = json!({"global": {"caps": {"shs": APP_KEY}, "connections": {"incoming": {
        "unix": [{"scope": "device", "transform": "shs", "path": home}],
        "ws": [{"scope": "device", "transform": "shs", "host": "127.0.0.1"}]
    }}}});
    std::fs::write(&config, value.to_string()).expect("write config");
    let mut child = cli(&home)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let address = first_line(
        child.stdout.take().expect("stdout"),
        Duration::from_secs(20),
    );
    let Some(address) = address else {
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        panic!("no address: {}", text(&out));
    };
    let addresses: Vec<&str> = address.split(';').collect();
    assert_eq!(addresses.len(), 2, "{address}");
    for (prefix, one) in ["unix:", "ws://127.0.0.1:"].iter().zip(&addresses) {
        assert!(one.starts_with(prefix), "{one}");
        let out = run(
            &home,
            &["call", one, "test.count", "2", "--app-key", APP_KEY],
            "",
        );
        assert_eq!(json_lines(&out), vec![json!(0), json!(1)], "{}", text(&out));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn serve_rejects_flags_that_a_config_with_connections_would_ignore() {
    let home = temp_dir("cli-config-conflict");
    let config = home.join("node.json");
    let value = json!({"global": {"caps": {"shs": APP_KEY}, "connections": {
        "incoming": {"net": [{"scope": "device", "transform": "shs", "host": "127.0.0.1"}]}
    }}});
    std::fs::write(&config, value.to_string()).expect("write config");
    let config = config.to_str().expect("utf-8 path");
    let out = run(&home, &["serve", "--config", config, "--port", "9"], "");
    expect_code(&out, 2);
    assert!(
        stderr(&out).contains("global.connections"),
        "{}",
        text(&out)
    );
    let out = run(&home, &["serve", "--config", "/nonexistent.json"], "");
    expect_code(&out, 2);
}

#[test]
fn usage_and_network_failures_have_their_own_exit_codes() {
    let home = temp_dir("cli-failures");

    // No app key anywhere.
    let out = run(&home, &["serve", "--host", "127.0.0.1"], "");
    expect_code(&out, 2);
    assert!(stderr(&out).contains("--app-key"), "{}", text(&out));
    let out = run(
        &home,
        &["call", "net:127.0.0.1:1~shs:AAAA", "test.hello"],
        "",
    );
    expect_code(&out, 2);

    let server = Server::start("cli-failures-server", &[]);
    // A wrong app key: the handshake fails.
    let other = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let out = run(
        &home,
        &[
            "call",
            &server.address,
            "test.hello",
            "x",
            "--app-key",
            other,
        ],
        "",
    );
    expect_code(&out, 3);

    // Nobody listening.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let key = server.address.rsplit("~shs:").next().expect("key");
    let closed = format!("net:127.0.0.1:{port}~shs:{key}");
    let out = run(
        &home,
        &["call", &closed, "test.hello", "--app-key", APP_KEY],
        "",
    );
    expect_code(&out, 3);

    // A listener that never answers the handshake: --timeout.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let address = format!("net:127.0.0.1:{port}~shs:{key}");
    let started = Instant::now();
    let out = run(
        &home,
        &[
            "call",
            &address,
            "test.hello",
            "--app-key",
            APP_KEY,
            "--timeout",
            "0.5",
        ],
        "",
    );
    expect_code(&out, 4);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);

    // Not an address (a first word with a `:`), not a method; without a `:` the first word is
    // the method, and with no ~/.ssb there is nothing to dial.
    let out = run(
        &home,
        &["call", "non:sense", "test.hello", "--app-key", APP_KEY],
        "",
    );
    expect_code(&out, 2);
    assert!(stderr(&out).contains("only know:net~shs"), "{}", text(&out));
    let out = run(&home, &["call", "nonsense", "test.hello"], "");
    expect_code(&out, 2);
    assert!(stderr(&out).contains("no ADDRESS given"), "{}", text(&out));
    let out = run(
        &home,
        &["call", &server.address, "test..x", "--app-key", APP_KEY],
        "",
    );
    expect_code(&out, 2);
}

/// `call` against the JS interop peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_the_js_peer() {
    let Some(node) = node::setup() else { return };
    let (peer, address) = js_peer(&node, &[]).await;
    let home = temp_dir("cli-js");

    let calls = tokio::task::spawn_blocking(move || {
        let call = |args: &[&str], input: &str| {
            let mut all = vec!["call", address.as_str()];
            all.extend_from_slice(args);
            all.extend_from_slice(&["--app-key", APP_KEY]);
            run(&home, &all, input)
        };
        (
            call(&["test.hello", "world"], ""),
            call(&["test.count", "5"], ""),
            call(&["test.fail"], ""),
            call(&["test.echo"], "1\n\"x\"\n{\"y\":null}\n"),
        )
    })
    .await
    .expect("calls");
    let (hello_out, count_out, fail_out, echo_out) = calls;
    assert_eq!(expect_code(&hello_out, 0), "\"hello world\"\n");
    expect_code(&count_out, 0);
    assert_eq!(
        json_lines(&count_out),
        (0..5).map(|i| json!(i)).collect::<Vec<_>>()
    );
    expect_code(&fail_out, 1);
    assert!(
        stderr(&fail_out).contains("test.fail: intentional failure"),
        "{}",
        text(&fail_out)
    );
    expect_code(&echo_out, 0);
    assert_eq!(
        json_lines(&echo_out),
        vec![json!(1), json!("x"), json!({"y": null})]
    );
    stop_js_peer(peer).await;
}
