//! `cargo run --example friends` runs to its end: once Bob blocks Mallory, his `log.history`
//! serves none of her messages (though his log holds them) to himself or to Carol, his `auth`
//! refuses Mallory's connection, Alice still serves Mallory's message, and the example exits 0.
//!
//! The example's binary is the one cargo builds beside this test's (`target/<profile>/examples/`):
//! `cargo test --workspace` or `cargo test -p secret-stack-examples` build it first.

use std::time::Duration;

mod support;

/// How long the example may run on a loaded machine before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn friends_blocks_a_feed_and_a_peer_and_exits_0() {
    let stdout = support::run_example("friends", DEADLINE);
    let lines: Vec<&str> = stdout.lines().collect();
    let line = |prefix: &str| -> Vec<&str> {
        let found: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.trim_start().starts_with(prefix))
            .collect();
        assert!(
            !found.is_empty(),
            "no line starting {prefix:?} in:\n{stdout}"
        );
        found
    };
    assert_eq!(
        line("[Bob] friends.isBlocking"),
        ["  [Bob] friends.isBlocking(Mallory) -> true; friends.isFollowing(Mallory) -> false"]
    );
    // Held, not served: to Bob himself (local) and to Carol (remote).
    assert_eq!(
        line("[Bob] his log holds"),
        ["  [Bob] his log holds 1 message(s) of Mallory"]
    );
    assert!(line("[Bob] his own log.history serves: ")[0].ends_with("Mallory 0"));
    assert!(line("[Carol] Bob's log.history serves her: ")[0].ends_with("Mallory 0"));
    let carol = line("[Carol] her log now holds: ");
    assert_eq!(carol.len(), 2, "{stdout}");
    assert!(carol[0].ends_with("Mallory 0"), "from Bob: {}", carol[0]);
    // From Alice, who does not block her.
    assert!(carol[1].ends_with("Mallory 1"), "from Alice: {}", carol[1]);
    assert!(
        line("[Mallory] refused: ")[0].contains("handshake"),
        "{stdout}"
    );
    assert_eq!(lines.last(), Some(&"done"));
}
