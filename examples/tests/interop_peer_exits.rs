//! The `interop_peer` example ends when it should: within a second of SIGTERM or SIGINT while the
//! test holds its stdin open (and a call is in progress), and within a second of its stdin's end.
//!
//! The example's binary is the one cargo builds beside this test's (`target/<profile>/examples/`):
//! `cargo test --workspace` or `cargo test -p secret-stack-examples` build it first; a lone
//! `--test interop_peer_exits` does not, and the test then fails saying so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use secret_stack::keys::Keypair;
use secret_stack::rpc::{Body, Caller};
use secret_stack_examples::client::{ClientConfig, connect};
use serde_json::Value;

/// How soon after a signal or the end of stdin the peer must have exited.
const PROMPTLY: Duration = Duration::from_secs(1);

/// The suite's app key (the example's default).
const APP_KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";

mod support;

/// The `interop_peer` example's binary.
fn binary() -> PathBuf {
    support::example_binary("interop_peer")
}

/// A running peer with its stdin held open, and the address it printed.
struct RunningPeer {
    child: Child,
    stdin: ChildStdin,
    address: String,
}

fn start() -> RunningPeer {
    let mut child = Command::new(binary())
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn interop_peer");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("interop_peer printed no address"));
    let hello: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    let address = hello["address"].as_str().expect("address").to_owned();
    RunningPeer {
        child,
        stdin,
        address,
    }
}

/// Waits for `child` to exit within [`PROMPTLY`]; killed and failing otherwise.
fn exits_promptly(mut child: Child, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > PROMPTLY {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "interop_peer still running {PROMPTLY:?} after {what}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_within_a_second_of_a_signal_with_stdin_open_and_a_call_in_progress() {
    for signal in ["TERM", "INT"] {
        let peer = start();
        // A duplex whose input never ends: the close must not wait for it.
        let config = ClientConfig {
            keys: Keypair::generate(),
            app_key: APP_KEY.parse().expect("app key"),
            master: false,
        };
        let (app, connection) = connect(&peer.address, &config).await.expect("connect");
        let input = futures::stream::iter([Body::from("ping")])
            .chain(futures::stream::pending())
            .boxed();
        let mut echo = connection.duplex(&["test", "echo"], vec![], input);
        assert_eq!(echo.next().await, Some(Ok(Body::from("ping"))));

        let status = Command::new("kill")
            .args([format!("-{signal}"), peer.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        let child = peer.child;
        let out = tokio::task::spawn_blocking(move || exits_promptly(child, signal))
            .await
            .expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(peer.stdin);
        app.close_now().await;
    }
}

#[test]
fn exits_within_a_second_of_the_end_of_stdin() {
    let peer = start();
    drop(peer.stdin);
    let out = exits_promptly(peer.child, "stdin closed");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin closed"));
}
