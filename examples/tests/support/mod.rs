//! What the tests of the examples share: where cargo put an example's binary.

use std::path::PathBuf;

/// `target/<profile>/examples/<name>`, beside the running test's `target/<profile>/deps/`.
/// `cargo test --workspace` or `cargo test -p secret-stack-examples` build the examples first; a
/// lone `--test` run does not, and this then fails saying how to build it.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p secret-stack-examples --example {name}` \
         (cargo test --workspace does)",
        path.display()
    );
    path
}

/// Runs the example `name` to its end (killing it and failing after `deadline`), asserts that it
/// exited with 0, and returns its stdout.
#[allow(dead_code)] // Not every test that includes this module runs an example to its end.
pub fn run_to_end(name: &str, deadline: std::time::Duration) -> String {
    use std::process::{Command, Stdio};
    let mut child = Command::new(example_binary(name))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let start = std::time::Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("the {name} example still runs after {deadline:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
