//! `cargo run --example custom_transport` runs to its end: two apps load the `mem` protocol
//! plugin, which registers the `mem` transport from its init; each app's address is a `mem:`
//! address (so the plugin's listener is in `App::address`), one app dials the other's through
//! `App::connect` and calls it, the other calls back, a name nobody listens on fails to dial,
//! and closing frees every name.
//!
//! The example's binary is the one cargo builds beside this test's (`target/<profile>/examples/`):
//! `cargo test --workspace` or `cargo test -p secret-stack-examples` build it first.

use std::time::Duration;

mod support;

/// How long the example may run on a loaded machine before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn the_mem_plugin_carries_calls_between_two_apps() {
    let stdout = support::run_example("custom_transport", DEADLINE);
    let line = |prefix: &str| -> &str {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{stdout}"))
    };
    let alice = line("alice @");
    let (_, alice_address) = alice.split_once(" listens at ").expect("alice's address");
    assert!(alice_address.starts_with("mem:alice~shs:"), "{alice}");
    let bob = line("bob @");
    assert!(bob.contains(" listens at mem:bob~shs:"), "{bob}");
    assert_eq!(
        line("bob connected over "),
        format!("bob connected over mem to {alice_address}")
    );
    assert!(
        line("greet.hello -> ").starts_with("greet.hello -> hello mem: @"),
        "{stdout}"
    );
    assert!(
        line("alice calls back: ").starts_with("alice calls back: greet.hello -> hello bob: @"),
        "{stdout}"
    );
    assert!(
        line("dialling mem:nobody~shs:").contains(" fails: "),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("closed; the switchboard has 0 listeners left")
    );
}
