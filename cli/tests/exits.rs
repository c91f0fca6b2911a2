//! The `secret-stack` binary ends when it should, whatever its stdin does: every test holds the
//! child's stdin open (as a terminal would) and never closes it. A refused sink or duplex exits
//! with 1, a sink or duplex the remote ends early exits with 0, a call stopped by SIGINT or
//! SIGTERM exits with 130 or 143, and `serve` closes within a second of either signal.
//!
//! The calls go to an app of this test (an `early` plugin whose streams end before their input
//! does), listening on 127.0.0.1 only.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use secret_stack::keys::Keypair;
use secret_stack::multiserver::Scope;
use secret_stack::plugin;
use secret_stack::rpc::{Body, RemoteError, Sink, Source};
use secret_stack::stack::{App, Config, SecretStack};
use secret_stack_tests::node::temp_dir;
use serde_json::json;

mod support;

use support::{
    APP_KEY, Server, cli, expect_code, first_line, send_signal, stderr, text, wait_output,
};

/// How soon after its end (or a signal) a process must have exited.
const PROMPTLY: Duration = Duration::from_secs(1);

/// The note `call` prints when the call ends before stdin does.
const NOTE: &str = "the call ended before the end of stdin";

/// Streams that end before their caller's input does.
#[derive(Default)]
struct Early {
    /// How many `drain` calls have started.
    drains: Arc<AtomicUsize>,
}

#[plugin(name = "early", permission = "anonymous")]
impl Early {
    /// Takes one item, then ends the sink.
    async fn one(&self, mut items: Sink<Body>) -> Result<(), RemoteError> {
        let _ = items.next().await;
        Ok(())
    }

    /// Answers `"bye"` and ends, reading nothing.
    fn once(&self, _items: Sink<Body>) -> Source<Body> {
        Source::iter([Body::from("bye")])
    }

    /// Reads everything until the caller ends.
    async fn drain(&self, mut items: Sink<Body>) -> Result<(), RemoteError> {
        self.drains.fetch_add(1, Ordering::SeqCst);
        while items.next().await.is_some() {}
        Ok(())
    }
}

/// The test's app serving [`Early`], with its own runtime.
struct EarlyServer {
    address: String,
    drains: Arc<AtomicUsize>,
    app: App,
    runtime: tokio::runtime::Runtime,
}

impl EarlyServer {
    fn start() -> EarlyServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let early = Early::default();
        let drains = Arc::clone(&early.drains);
        let config = Config::from_json(json!({"global": {"host": "127.0.0.1"}})).expect("config");
        let app = runtime
            .block_on(
                SecretStack::builder()
                    .app_key(APP_KEY.parse().expect("app key"))
                    .keypair(Keypair::generate())
                    .plugin(early)
                    .start(config),
            )
            .expect("start the app");
        EarlyServer {
            address: app.address(Scope::Device),
            drains,
            app,
            runtime,
        }
    }

    /// Starts `call ADDRESS args…` with stdin piped and held open by the caller.
    fn call(&self, home: &Path, args: &[&str]) -> (Child, ChildStdin) {
        spawn_held(
            cli(home)
                .args(["call", &self.address])
                .args(args)
                .args(["--app-key", APP_KEY]),
        )
    }

    /// How long a whole `call` of a sync method takes here (start, connect, call, close, exit):
    /// what a call may take on top of [`PROMPTLY`] on this machine, now.
    fn call_time(&self, home: &Path) -> Duration {
        let started = Instant::now();
        let out = cli(home)
            .args(["call", &self.address, "manifest", "--app-key", APP_KEY])
            .output()
            .expect("run call");
        expect_code(&out, 0);
        started.elapsed()
    }

    /// Waits until `n` `drain` calls have started.
    fn wait_for_drains(&self, n: usize) {
        let started = Instant::now();
        while self.drains.load(Ordering::SeqCst) < n {
            assert!(started.elapsed() < Duration::from_secs(20), "no drain call");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for EarlyServer {
    fn drop(&mut self) {
        self.runtime.block_on(self.app.close_now());
    }
}

/// Spawns `command` with every stream piped; the returned stdin stays open until dropped.
fn spawn_held(command: &mut Command) -> (Child, ChildStdin) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn secret-stack");
    let stdin = child.stdin.take().expect("stdin");
    (child, stdin)
}

/// Sends `signal` (`TERM`, `INT`) to `child` and returns its output, failing unless it exited
/// within [`PROMPTLY`].
fn signal(child: Child, signal: &str) -> Output {
    send_signal(&child, signal);
    wait_output(child, PROMPTLY)
}

#[test]
fn a_refused_sink_or_duplex_exits_with_1_while_stdin_stays_open() {
    let server = EarlyServer::start();
    let home = temp_dir("exits-refused");
    let limit = server.call_time(&home) + PROMPTLY;
    for kind in ["sink", "duplex"] {
        let (child, stdin) = server.call(&home, &["early.nope", "--kind", kind]);
        let out = wait_output(child, limit);
        drop(stdin);
        expect_code(&out, 1);
        assert!(stderr(&out).contains("`early.nope`"), "{}", text(&out));
        assert!(stderr(&out).contains(NOTE), "{}", text(&out));
    }
}

#[test]
fn a_sink_or_duplex_the_remote_ends_early_exits_with_0_and_says_what_was_not_sent() {
    let server = EarlyServer::start();
    let home = temp_dir("exits-early");
    let limit = server.call_time(&home) + PROMPTLY;

    // The sink takes one item of three: what was read and not sent is reported.
    let (child, mut stdin) = server.call(&home, &["early.one"]);
    stdin.write_all(b"1\n2\n3\n").expect("write stdin");
    let out = wait_output(child, limit);
    drop(stdin);
    assert_eq!(expect_code(&out, 0), "");
    assert!(stderr(&out).contains(NOTE), "{}", text(&out));

    // The duplex answers and ends before anything is typed.
    let (child, stdin) = server.call(&home, &["early.once"]);
    let out = wait_output(child, limit);
    drop(stdin);
    assert_eq!(expect_code(&out, 0), "\"bye\"\n");
    assert!(stderr(&out).contains(NOTE), "{}", text(&out));
}

#[test]
fn a_call_stopped_by_sigint_or_sigterm_exits_with_130_or_143() {
    let server = EarlyServer::start();
    let home = temp_dir("exits-signal");
    for (n, (name, code)) in [("INT", 130), ("TERM", 143)].into_iter().enumerate() {
        let (child, mut stdin) = server.call(&home, &["early.drain", "--kind", "sink"]);
        stdin.write_all(b"1\n").expect("write stdin");
        server.wait_for_drains(n + 1);
        let out = signal(child, name);
        drop(stdin);
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        assert!(
            stderr(&out).contains(&format!("stopped by SIG{name}")),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn serve_closes_within_a_second_of_sigterm_or_sigint_even_with_a_call_in_progress() {
    for name in ["TERM", "INT"] {
        let server = Server::start("exits-serve", &[]);
        // A duplex that goes on as long as its caller's stdin: the close must not wait for it.
        let (mut caller, mut caller_stdin) = spawn_held(
            cli(&server.home)
                .args(["call", &server.address, "test.echo", "--kind", "duplex"])
                .args(["--app-key", APP_KEY]),
        );
        caller_stdin.write_all(b"\"ping\"\n").expect("write stdin");
        let echoed = first_line(
            caller.stdout.take().expect("stdout"),
            Duration::from_secs(20),
        );
        assert_eq!(echoed.as_deref(), Some("\"ping\""));

        let out = server.signal(name, PROMPTLY);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(stderr(&out).contains("app closed"), "{}", text(&out));
        // The caller sees its connection end and stops too, its stdin still open.
        let out = wait_output(caller, PROMPTLY);
        drop(caller_stdin);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(stderr(&out).contains("connection failed"), "{}", text(&out));
    }
}
