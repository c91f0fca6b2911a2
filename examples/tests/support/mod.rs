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
