//! `cargo run --example callback` runs to its end: Alice's `callback.greet` calls Bob back over
//! his own connection and answers with his nick, a local call is refused for want of a caller, a
//! kept handle notifies Bob while he is connected and fails at once after he hung up, and the
//! example exits 0.
//!
//! The example's binary is the one cargo builds beside this test's (`target/<profile>/examples/`):
//! `cargo test --workspace` or `cargo test -p secret-stack-examples` build it first.

use std::time::Duration;

mod support;

/// How long the example may run on a loaded machine before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn callback_calls_its_caller_back_and_exits_0() {
    let stdout = support::run_to_end("callback", DEADLINE);
    let line = |prefix: &str| -> &str {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{stdout}"))
    };
    // Bob's address as Alice saw it: his end of the socket, with his key.
    let bob_key = line("Bob is @")
        .strip_prefix("Bob is @")
        .and_then(|rest| rest.split(".ed25519").next())
        .expect("Bob's key");
    let greet = line("[Bob] callback.greet -> ");
    assert!(
        greet.starts_with("[Bob] callback.greet -> Alice: hello Bob, calling from net:127.0.0.1:"),
        "{greet}"
    );
    assert!(greet.ends_with(&format!("~shs:{bob_key}")), "{greet}");
    assert!(
        line("[Alice] local callback.greet -> ").contains("refused: callback.greet: a local call"),
        "{stdout}"
    );
    assert_eq!(line("[Bob] notified: "), "[Bob] notified: the first news");
    let acks: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("[Alice] notify -> "))
        .collect();
    assert_eq!(
        acks,
        [
            "[Alice] notify -> Bob got it",
            "[Alice] notify -> failed at once: stream is closed"
        ]
    );
    assert_eq!(stdout.lines().last(), Some("done"));
}
