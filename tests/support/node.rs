//! Runs the JavaScript half of the interop suite (`tests/interop/*.js`) from Rust tests.
//!
//! [`setup`] finds `node` and `npm` and makes sure `tests/interop/node_modules` is installed
//! (running `npm ci` once if it is missing). When that is impossible the interop tests are skipped
//! with `interop skipped: <reason>` on stderr — except under `CI=true`, where a missing Node is a
//! test failure: CI must prove interop, not silently skip it.
//!
//! [`Node::spawn`] starts a script as a child process (killed when dropped, stdin piped so that
//! dropping it stops a peer) whose stdout and stderr are collected in the background;
//! [`JsProcess::first_json_line`] waits for the line a server prints once it listens, and
//! [`JsProcess::finish`] / [`JsProcess::stop`] return everything it printed and its exit status.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! let Some(node) = secret_stack_tests::node::setup() else { return };
//! let mut peer = node.spawn("peer.js", ["--port", "0"]).expect("spawn peer.js");
//! let hello = peer.first_json_line(Duration::from_secs(20)).await.expect("peer address");
//! let client = node.spawn("client.js", [hello["address"].as_str().unwrap_or("")]).expect("spawn");
//! let out = client.finish(Duration::from_secs(60)).await.expect("client output");
//! out.assert_all_passed();
//! # }
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The npm package holding the interop scripts: `tests/interop`.
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Whether we run under CI (`CI=true` or `CI=1`), where a missing Node fails the test.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false)
}

/// A usable Node installation with the interop package's dependencies installed.
#[derive(Debug, Clone)]
pub struct Node {
    node: PathBuf,
    dir: PathBuf,
    version: String,
}

/// Returns the Node environment, or `None` after printing `interop skipped: <reason>` to stderr
/// when Node/npm is missing or `npm ci` fails. Under `CI=true` those cases panic instead.
///
/// The check (and any `npm ci`) runs once per test process; later calls reuse the result.
pub fn setup() -> Option<Node> {
    static NODE: OnceLock<Result<Node, String>> = OnceLock::new();
    match NODE.get_or_init(prepare) {
        Ok(node) => Some(node.clone()),
        Err(reason) if in_ci() => {
            panic!("interop tests cannot run under CI=true: {reason}")
        }
        Err(reason) => {
            eprintln!("interop skipped: {reason}");
            None
        }
    }
}

/// Finds the executables and installs `node_modules` if needed; the error says why it is unusable.
fn prepare() -> Result<Node, String> {
    let dir = interop_dir();
    let node = find_executable("NODE", "node").ok_or("`node` was not found on PATH")?;
    let version = std::process::Command::new(&node)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", node.display()))?;
    if !version.status.success() {
        return Err(format!("`{} --version` failed", node.display()));
    }
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();

    if !dir.join("node_modules/secret-stack/package.json").is_file() {
        let npm = find_executable("NPM", "npm")
            .ok_or("`npm` was not found on PATH (needed to install tests/interop/node_modules)")?;
        eprintln!("interop: running `npm ci` in {}", dir.display());
        let out = std::process::Command::new(&npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", npm.display()))?;
        if !out.status.success() {
            return Err(format!(
                "`npm ci` in {} failed ({}): {}",
                dir.display(),
                out.status,
                tail(&String::from_utf8_lossy(&out.stderr), 2000)
            ));
        }
    }
    Ok(Node { node, dir, version })
}

/// `$ENV_VAR` if set, else the first `name` found in a `PATH` directory.
fn find_executable(env_var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The last `max` bytes of `text` (on a character boundary), for error messages.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..).unwrap_or(text)
}

impl Node {
    /// The `node` executable in use.
    pub fn executable(&self) -> &Path {
        &self.node
    }

    /// `node --version`, e.g. `v20.11.1`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Starts `node <script> <args…>` in `tests/interop` with stdin, stdout and stderr piped.
    ///
    /// The child is killed if the returned [`JsProcess`] is dropped; dropping (or
    /// [`JsProcess::close_stdin`]) closes its stdin, which makes the scripts that serve exit.
    pub fn spawn<I, S>(&self, script: &str, args: I) -> Result<JsProcess, NodeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut child = Command::new(&self.node)
            .arg(script)
            .args(&args)
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| NodeError::Spawn {
                script: script.to_owned(),
                source,
            })?;
        let stdin = child.stdin.take();
        let stdout_text = Arc::new(Mutex::new(String::new()));
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::unbounded_channel();
        let readers = [
            child
                .stdout
                .take()
                .map(|out| collect_lines(out, stdout_text.clone(), Some(lines_tx))),
            child
                .stderr
                .take()
                .map(|err| collect_lines(err, stderr_text.clone(), None)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let command = std::iter::once(script.to_owned())
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        Ok(JsProcess {
            command,
            child,
            stdin,
            lines: lines_rx,
            stdout: stdout_text,
            stderr: stderr_text,
            readers,
        })
    }

    /// Runs `keys.js` on `file`: creates an ssb-keys secret file there if missing and returns its
    /// `{"id","public","private"}` (ids as `@…ed25519`, keys as `base64.ed25519`).
    pub async fn keys(&self, file: &Path) -> Result<Value, NodeError> {
        let mut process = self.spawn("keys.js", [file])?;
        let keys = process.first_json_line(Duration::from_secs(30)).await?;
        let out = process.finish(Duration::from_secs(10)).await?;
        if !out.status.success() {
            return Err(NodeError::Failed {
                command: format!("keys.js {}", file.display()),
                status: out.status,
                stderr: out.stderr,
            });
        }
        Ok(keys)
    }
}

/// Appends every line of `reader` to `text` and, if given, sends it to `lines`.
fn collect_lines<R>(
    reader: R,
    text: Arc<Mutex<String>>,
    lines: Option<mpsc::UnboundedSender<String>>,
) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if let Ok(mut text) = text.lock() {
                text.push_str(&line);
                text.push('\n');
            }
            if let Some(lines) = &lines {
                // The receiver may be gone (nobody waits for lines any more): keep collecting.
                let _ = lines.send(line);
            }
        }
    })
}

/// A running interop script (see [`Node::spawn`]).
#[derive(Debug)]
pub struct JsProcess {
    command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// What a finished script printed, and how it exited.
#[derive(Debug, Clone)]
pub struct Output {
    /// The script and its arguments, for messages.
    pub command: String,
    /// The exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl JsProcess {
    /// The OS process id, if the child is still running.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits (up to `timeout`) for the next stdout line and parses it as JSON: the line servers
    /// print once they listen (`{"address","id"}` for `peer.js`, `{"port","id"}` for
    /// `shs-server.js`).
    pub async fn first_json_line(&mut self, timeout: Duration) -> Result<Value, NodeError> {
        let line = match tokio::time::timeout(timeout, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => {
                // stdout closed: the script exited; give its stderr a moment to be collected.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(NodeError::NoOutput {
                    command: self.command.clone(),
                    stderr: self.stderr_text(),
                });
            }
            Err(_) => {
                return Err(NodeError::Timeout {
                    command: self.command.clone(),
                    waited: timeout,
                    stderr: self.stderr_text(),
                });
            }
        };
        serde_json::from_str(&line).map_err(|source| NodeError::NotJson {
            command: self.command.clone(),
            line,
            source,
        })
    }

    /// Everything the script has written to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Everything the script has written to stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Closes the child's stdin; serving scripts (`peer.js`, `shs-server.js`) exit on it.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits up to `timeout` for the script to exit by itself and returns its output. On timeout
    /// the child is killed and [`NodeError::Timeout`] carries what it wrote to stderr.
    pub async fn finish(mut self, timeout: Duration) -> Result<Output, NodeError> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => Ok(self.output(status).await),
            Ok(Err(source)) => Err(NodeError::Wait {
                command: self.command.clone(),
                source,
            }),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(NodeError::Timeout {
                    command: self.command.clone(),
                    waited: timeout,
                    stderr: self.stderr_text(),
                })
            }
        }
    }

    /// Closes stdin and waits up to `grace` for the script to exit, then kills it if it has not;
    /// returns its output either way.
    pub async fn stop(mut self, grace: Duration) -> Result<Output, NodeError> {
        self.close_stdin();
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(result) => result,
            Err(_) => {
                let _ = self.child.start_kill();
                self.child.wait().await
            }
        };
        match status {
            Ok(status) => Ok(self.output(status).await),
            Err(source) => Err(NodeError::Wait {
                command: self.command.clone(),
                source,
            }),
        }
    }

    /// Collects the rest of stdout/stderr once the child has exited.
    async fn output(&mut self, status: ExitStatus) -> Output {
        for reader in self.readers.drain(..) {
            // Readers end at EOF; a grandchild keeping the pipe open must not hang the test.
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        Output {
            command: self.command.clone(),
            status,
            stdout: self.stdout_text(),
            stderr: self.stderr_text(),
        }
    }
}

impl Output {
    /// The counts of the final `N passed, M failed` line, if there is one.
    pub fn summary(&self) -> Option<(usize, usize)> {
        let line = self.stdout.lines().rev().find(|l| l.ends_with(" failed"))?;
        let (passed, failed) = line.split_once(" passed, ")?;
        let failed = failed.strip_suffix(" failed")?;
        Some((passed.trim().parse().ok()?, failed.trim().parse().ok()?))
    }

    /// The `not ok - …` lines.
    pub fn failures(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("not ok"))
            .collect()
    }

    /// Panics with the whole output unless the script exited 0, printed its summary line with
    /// zero failures and at least one passed check. Returns the number of passed checks.
    pub fn assert_all_passed(&self) -> usize {
        match self.summary() {
            Some((passed, 0)) if self.status.success() && passed > 0 => passed,
            _ => panic!("{self}"),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "`node {}` exited with {}", self.command, self.status)?;
        writeln!(f, "--- stdout\n{}", self.stdout)?;
        write!(f, "--- stderr\n{}", self.stderr)
    }
}

/// Why running an interop script failed.
#[derive(Debug)]
pub enum NodeError {
    /// The child process could not be started.
    Spawn {
        /// The script.
        script: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Waiting for the child failed.
    Wait {
        /// The script and its arguments.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The script did not print / exit in time.
    Timeout {
        /// The script and its arguments.
        command: String,
        /// How long we waited.
        waited: Duration,
        /// What it wrote to stderr meanwhile.
        stderr: String,
    },
    /// The script closed stdout without printing the expected line.
    NoOutput {
        /// The script and its arguments.
        command: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// The expected JSON line was not JSON.
    NotJson {
        /// The script and its arguments.
        command: String,
        /// The line it printed.
        line: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The script exited unsuccessfully.
    Failed {
        /// The script and its arguments.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it wrote to stderr.
        stderr: String,
    },
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn { script, source } => write!(f, "cannot start `node {script}`: {source}"),
            Self::Wait { command, source } => write!(f, "waiting for `node {command}`: {source}"),
            Self::Timeout {
                command,
                waited,
                stderr,
            } => write!(
                f,
                "`node {command}` gave no result within {waited:?}; stderr:\n{stderr}"
            ),
            Self::NoOutput { command, stderr } => write!(
                f,
                "`node {command}` exited without printing its JSON line; stderr:\n{stderr}"
            ),
            Self::NotJson {
                command,
                line,
                source,
            } => write!(f, "`node {command}` printed {line:?}, not JSON: {source}"),
            Self::Failed {
                command,
                status,
                stderr,
            } => write!(
                f,
                "`node {command}` exited with {status}; stderr:\n{stderr}"
            ),
        }
    }
}

impl std::error::Error for NodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn { source, .. } | Self::Wait { source, .. } => Some(source),
            Self::NotJson { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A fresh, empty directory under the system temp dir for one test's files (key files …).
/// It is not removed automatically.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "secret-stack-interop-{}-{label}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create temp dir {}: {e}", dir.display());
    }
    dir
}
