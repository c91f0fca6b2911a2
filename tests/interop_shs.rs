//! Handshake + box-stream interop with JavaScript secret-handshake 1.1.21 and pull-box-stream
//! 1.0.13 (`tests/interop/shs-server.js`, `shs-client.js`), without muxrpc.
//!
//! The Rust client (`handshake::client` + `box_stream`) talks to the JS echo server, the JS client
//! to a Rust echo server; both directions carry data (several chunks, some over the 4096-byte
//! frame limit) and end with box goodbyes. A JS↔JS run proves the scripts and the harness.

use std::time::Duration;

use secret_stack::box_stream;
use secret_stack::handshake::{self, HandshakeError};
use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack_tests::node::{self, JsProcess, Node};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const START: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_secs(60);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
const SERVER_SEED: [u8; 32] = [0x11; 32];
const CLIENT_SEED: [u8; 32] = [0x22; 32];
/// The suite's default app key (`SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=`).
const APP_KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";
const OTHER_APP_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn hex(bytes: &[u8]) -> String {
    secret_stack_tests::vectors::to_hex(bytes)
}

fn app_key(text: &str) -> AppKey {
    text.parse()
        .unwrap_or_else(|e| panic!("bad app key {text}: {e}"))
}

/// `len` bytes, the byte at offset `k` being `(k + salt) % 256`.
fn pattern(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|k| ((k + salt) % 256) as u8).collect()
}

/// Starts `shs-server.js` with `SERVER_SEED` and returns it with its port; checks that the id it
/// announces is the one Rust derives from the same seed.
async fn start_js_server(node: &Node) -> (JsProcess, u16) {
    let mut server = node
        .spawn("shs-server.js", ["--seed", &hex(&SERVER_SEED)])
        .unwrap_or_else(|e| panic!("{e}"));
    let hello = server
        .first_json_line(START)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = hello["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("shs-server.js printed {hello}"));
    assert_eq!(
        hello["id"].as_str(),
        Some(Keypair::from_seed(&SERVER_SEED).id().as_str()),
        "JS and Rust derive different ids from the same seed"
    );
    (server, port)
}

/// Handshakes with the JS server as the Rust client, sends `messages` (one write + flush each),
/// says goodbye and returns everything echoed back, requiring the server's goodbye at the end.
async fn rust_client_echo(port: u16, messages: &[Vec<u8>]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("connect to shs-server.js: {e}"));
    let server = Keypair::from_seed(&SERVER_SEED).public();
    let session = handshake::client(
        &mut tcp,
        &app_key(APP_KEY),
        &Keypair::from_seed(&CLIENT_SEED),
        &server,
        HANDSHAKE_TIMEOUT,
    )
    .await
    .unwrap_or_else(|e| panic!("handshake with shs-server.js: {e}"));
    assert_eq!(session.remote, server);

    let (read, write) = tcp.into_split();
    let (mut reader, mut writer) = box_stream::pair(read, write, session.encrypt, session.decrypt);
    // Read concurrently with writing: the echo comes back while we are still sending.
    let receive = tokio::spawn(async move {
        let mut got = Vec::new();
        let result = reader.read_to_end(&mut got).await;
        (got, result.map(|_| reader.goodbye_received()))
    });
    for message in messages {
        writer
            .write_all(message)
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
        writer
            .flush()
            .await
            .unwrap_or_else(|e| panic!("flush: {e}"));
    }
    writer
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("goodbye: {e}"));
    let (got, ended) = tokio::time::timeout(RUN, receive)
        .await
        .unwrap_or_else(|_| panic!("no end of the echo within {RUN:?}"))
        .unwrap_or_else(|e| panic!("reader task: {e}"));
    match ended {
        Ok(true) => got,
        Ok(false) => panic!("echo ended without the server's goodbye"),
        Err(e) => panic!("echo failed after {} bytes: {e}", got.len()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_against_js_shs_server() {
    let Some(node) = node::setup() else { return };
    let (server, port) = start_js_server(&node).await;

    let messages = vec![
        b"hello".to_vec(),
        pattern(5000, 0),
        vec![0x00, 0xff],
        pattern(70_000, 7),
        b"bye".to_vec(),
    ];
    let sent: Vec<u8> = messages.concat();
    let got = rust_client_echo(port, &messages).await;
    assert_eq!(got.len(), sent.len(), "echoed byte count");
    assert!(got == sent, "echoed bytes differ from the sent ones");

    // A second connection with a single large write (the writer frames it at 4096 bytes).
    let big = pattern(300_000, 3);
    let got = rust_client_echo(port, std::slice::from_ref(&big)).await;
    assert!(got == big, "echo of one 300000-byte write differs");

    let out = server
        .stop(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client_id = Keypair::from_seed(&CLIENT_SEED).id();
    assert!(
        out.stderr.contains(&format!("handshake with {client_id}")),
        "the JS server did not see our id:\n{out}"
    );
    assert!(
        out.stderr.contains(&format!(
            "{} bytes echoed; input ended with goodbye",
            sent.len()
        )),
        "the JS server did not see our data and goodbye:\n{out}"
    );
    assert!(
        out.stderr
            .contains("300000 bytes echoed; input ended with goodbye"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_with_wrong_app_key_is_rejected_by_js() {
    let Some(node) = node::setup() else { return };
    let (server, port) = start_js_server(&node).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let result = handshake::client(
        &mut tcp,
        &app_key(OTHER_APP_KEY),
        &Keypair::from_seed(&CLIENT_SEED),
        &Keypair::from_seed(&SERVER_SEED).public(),
        HANDSHAKE_TIMEOUT,
    )
    .await;
    match result {
        Err(HandshakeError::PeerHungUp { .. }) => {}
        other => panic!("expected the JS server to hang up in phase 2, got {other:?}"),
    }
    let out = server
        .stop(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.stderr.contains("client sent invalid challenge"),
        "{out}"
    );
}

/// A Rust echo server on 127.0.0.1: handshakes every client (accepting only `allowed`, when
/// given), echoes what it decrypts and answers the goodbye. Each finished connection reports the
/// client's key, the bytes echoed and whether the client's goodbye arrived.
struct RustServer {
    port: u16,
    reports: tokio::sync::mpsc::UnboundedReceiver<Result<(PublicKey, usize, bool), String>>,
}

async fn start_rust_server(allowed: Option<PublicKey>) -> RustServer {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
        .port();
    let (tx, reports) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(serve_echo(tcp, allowed).await);
            });
        }
    });
    RustServer { port, reports }
}

async fn serve_echo(
    mut tcp: TcpStream,
    allowed: Option<PublicKey>,
) -> Result<(PublicKey, usize, bool), String> {
    let (session, client) = handshake::server(
        &mut tcp,
        &app_key(APP_KEY),
        &Keypair::from_seed(&SERVER_SEED),
        HANDSHAKE_TIMEOUT,
        |client| async move { allowed.is_none_or(|a| a == client).then_some(client) },
    )
    .await
    .map_err(|e| format!("handshake: {e}"))?;
    let (read, write) = tcp.into_split();
    let (mut reader, mut writer) = box_stream::pair(read, write, session.encrypt, session.decrypt);
    let mut buf = vec![0u8; 16 * 1024];
    let mut echoed = 0;
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| format!("read after {echoed} bytes: {e}"))?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        writer
            .write_all(chunk)
            .await
            .map_err(|e| format!("write: {e}"))?;
        writer.flush().await.map_err(|e| format!("flush: {e}"))?;
        echoed += n;
    }
    let goodbye = reader.goodbye_received();
    writer
        .shutdown()
        .await
        .map_err(|e| format!("goodbye: {e}"))?;
    Ok((client, echoed, goodbye))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_shs_client_against_rust_server() {
    let Some(node) = node::setup() else { return };
    let mut server = start_rust_server(None).await;
    let port = server.port.to_string();
    let server_id = Keypair::from_seed(&SERVER_SEED).id();
    let messages = [
        "text:hello",
        "bytes:5000",
        "hex:00ff",
        "bytes:70000",
        "text:bye",
    ];
    let args = [
        "--port",
        port.as_str(),
        "--server-id",
        server_id.as_str(),
        "--seed",
        &hex(&CLIENT_SEED),
    ];
    let out = node
        .spawn("shs-client.js", args.iter().chain(messages.iter()))
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.assert_all_passed(), 4, "{out}");

    let report = tokio::time::timeout(Duration::from_secs(10), server.reports.recv())
        .await
        .unwrap_or_else(|_| panic!("the Rust server did not finish the connection"))
        .unwrap_or_else(|| panic!("the Rust server stopped"));
    let (client, echoed, goodbye) = report.unwrap_or_else(|e| panic!("Rust server: {e}"));
    assert_eq!(client, Keypair::from_seed(&CLIENT_SEED).public());
    assert_eq!(echoed, 5 + 5000 + 2 + 70000 + 3);
    assert!(goodbye, "the JS client's box goodbye did not arrive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_shs_client_is_refused_by_rust_server() {
    let Some(node) = node::setup() else { return };
    // Only another key is authorised: the JS client must see the handshake fail.
    let mut server = start_rust_server(Some(Keypair::from_seed(&[0x33; 32]).public())).await;
    let port = server.port.to_string();
    let server_id = Keypair::from_seed(&SERVER_SEED).id();
    let out = node
        .spawn(
            "shs-client.js",
            [
                "--port",
                &port,
                "--server-id",
                &server_id,
                "--seed",
                &hex(&CLIENT_SEED),
                "--expect-reject",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    out.assert_all_passed();
    let report = tokio::time::timeout(Duration::from_secs(10), server.reports.recv())
        .await
        .unwrap_or_else(|_| panic!("the Rust server did not finish the connection"))
        .unwrap_or_else(|| panic!("the Rust server stopped"));
    let error = report
        .err()
        .unwrap_or_else(|| panic!("the Rust server accepted the client"));
    assert!(error.contains("handshake"), "{error}");

    // And a client with another app key is refused in phase 1.
    let out = node
        .spawn(
            "shs-client.js",
            [
                "--port",
                &port,
                "--server-id",
                &server_id,
                "--app-key",
                OTHER_APP_KEY,
                "--expect-reject",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(RUN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    out.assert_all_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_shs_client_against_js_shs_server() {
    let Some(node) = node::setup() else { return };
    let (server, port) = start_js_server(&node).await;
    let port = port.to_string();
    let id = Keypair::from_seed(&SERVER_SEED).id();
    let out = node
        .spawn(
            "shs-client.js",
            [
                "--port",
                &port,
                "--server-id",
                &id,
                "--seed",
                &hex(&CLIENT_SEED),
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
    let rejected = node
        .spawn(
            "shs-client.js",
            [
                "--port",
                &port,
                "--server-id",
                &id,
                "--app-key",
                OTHER_APP_KEY,
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
