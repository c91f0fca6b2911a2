//! What the `secret-stack` binary's tests share: running it with a clean environment, waiting for
//! it with a deadline, reading what it printed, and a `secret-stack serve` child on 127.0.0.1.

// Each test file uses a part of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use secret_stack_tests::node::{JsProcess, Node, temp_dir};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_secret-stack");
/// The interop suite's app key (peer.js's default).
pub const APP_KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";

/// The binary with a clean environment: no app key or key file from the developer's shell, and
/// `HOME` in a fresh directory so the default key file is never the real one.
pub fn cli(home: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("SECRET_STACK_APP_KEY")
        .env_remove("SECRET_STACK_KEYS")
        .env_remove("RUST_LOG")
        .env("HOME", home)
        .stdin(Stdio::null());
    command
}

/// Runs the binary with `args` and `input` on stdin.
pub fn run(home: &Path, args: &[&str], input: &str) -> Output {
    run_bytes(home, args, input.as_bytes())
}

/// Runs the binary with `args` and `input` on stdin (written on a thread, so that a child that
/// answers as it reads cannot block on a full stdout).
pub fn run_bytes(home: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = cli(home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn secret-stack");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    // A child that exits early closes the pipe: a failed write is its business.
    std::thread::spawn(move || stdin.write_all(&input));
    wait_output(child, Duration::from_secs(20))
}

/// Waits for a child, killing it (and failing) after `limit`; its stdout and stderr are read
/// meanwhile (a full pipe would stop it).
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let status = child.wait().expect("wait");
            let out = Output {
                status,
                stdout: stdout.join().unwrap_or_default(),
                stderr: stderr.join().unwrap_or_default(),
            };
            panic!("secret-stack did not exit within {limit:?}: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Reads `pipe` to its end on a thread.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut data = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut data);
        }
        data
    })
}

pub fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code and returns stdout.
pub fn expect_code(out: &Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    stdout(out)
}

/// The JSON lines of stdout.
pub fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect()
}

/// A `secret-stack serve` child on 127.0.0.1, its stdin held open (as a terminal would); killed
/// if still running when dropped.
pub struct Server {
    /// The child, until it is waited for.
    pub child: Option<Child>,
    /// Its stdin, open until the server is dropped.
    pub stdin: Option<ChildStdin>,
    /// Its address.
    pub address: String,
    /// Its key file.
    pub keys: PathBuf,
    /// Its HOME, a fresh directory.
    pub home: PathBuf,
}

impl Server {
    pub fn start(label: &str, extra: &[&str]) -> Server {
        let home = temp_dir(label);
        let keys = home.join("server-secret");
        let mut child = cli(&home)
            .args([
                "serve",
                "--host",
                "127.0.0.1",
                "--app-key",
                APP_KEY,
                "--keys",
            ])
            .arg(&keys)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stdin = child.stdin.take();
        let out = child.stdout.take().expect("stdout");
        let address = match first_line(out, Duration::from_secs(20)) {
            Some(line) => line,
            None => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!("serve printed no address: {}", text(&out));
            }
        };
        Server {
            child: Some(child),
            stdin,
            address,
            keys,
            home,
        }
    }

    /// `call ADDRESS args…` with the interop app key.
    pub fn call(&self, args: &[&str], input: &str) -> Output {
        let mut all = vec!["call", &self.address];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--app-key", APP_KEY]);
        run(&self.home, &all, input)
    }

    /// Sends SIGTERM and returns how the server exited.
    pub fn terminate(self) -> Output {
        self.signal("TERM", Duration::from_secs(10))
    }

    /// Sends `signal` (`TERM`, `INT`) and returns how the server exited, failing unless it did
    /// within `limit`.
    pub fn signal(mut self, signal: &str, limit: Duration) -> Output {
        let child = self.child.take().expect("running");
        send_signal(&child, signal);
        wait_output(child, limit)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first line of `out`, read on a thread so a silent child cannot hang the test.
pub fn first_line(out: ChildStdout, limit: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(read.ok().filter(|&n| n > 0).map(|_| line.trim().to_owned()));
    });
    rx.recv_timeout(limit).ok().flatten()
}

/// Sends `signal` (`TERM`, `INT`) to `child` with `kill`.
pub fn send_signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// Starts the JS interop peer (`peer.js --port 0 args…`) and returns it with its address.
pub async fn js_peer(node: &Node, args: &[&str]) -> (JsProcess, String) {
    let mut peer = node
        .spawn("peer.js", [&["--port", "0"], args].concat())
        .expect("spawn peer.js");
    let hello = peer
        .first_json_line(Duration::from_secs(30))
        .await
        .expect("peer.js address");
    let address = hello["address"].as_str().expect("address").to_owned();
    (peer, address)
}

/// Stops a JS peer, which must exit cleanly.
pub async fn stop_js_peer(peer: JsProcess) {
    let out = peer
        .stop(Duration::from_secs(5))
        .await
        .expect("peer.js output");
    assert!(out.status.success(), "{out}");
}
