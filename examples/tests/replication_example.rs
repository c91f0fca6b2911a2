//! `cargo run --example replication` runs to its end: C, following A only, gets A's messages
//! through B but not B's; an entry A writes while connected reaches B and C live, over the open
//! connections (no new sync); A restarted from disk is the same node; a damaged log is refused;
//! the example exits 0.
//!
//! The example's binary is the one cargo builds beside this test's (`target/<profile>/examples/`):
//! `cargo test --workspace` or `cargo test -p secret-stack-examples` build it first.

use std::time::Duration;

mod support;

/// How long the example may run on a loaded machine before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn replication_spreads_followed_feeds_live_and_exits_0() {
    let stdout = support::run_example("replication", DEADLINE);
    let lines = |prefix: &str| -> Vec<&str> {
        let found: Vec<&str> = stdout
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with(prefix))
            .collect();
        assert!(
            !found.is_empty(),
            "no line starting {prefix:?} in:\n{stdout}"
        );
        found
    };
    let c_logs = lines("C has ");
    assert_eq!(
        c_logs,
        [
            r#"C has 3 messages: A#1 "hello from A", A#2 "A again", A#3 "A's third""#,
            r#"C has 4 messages: A#1 "hello from A", A#2 "A again", A#3 "A's third", A#4 "A live""#,
            r#"C has 5 messages: A#1 "hello from A", A#2 "A again", A#3 "A's third", A#4 "A live", A#5 "A is back""#,
        ],
        "C never gets B's message, which it does not follow"
    );
    let live = lines("B got it over an open live history");
    assert!(live[0].contains("(1 received live"), "{}", live[0]);
    let live = lines("C got it over an open live history");
    assert!(live[0].contains("(1 received live"), "{}", live[0]);
    // The live entry came without a new sync: C had done one, and does its second only on
    // connecting to A after the restart.
    let c_syncs = lines("C: ");
    assert!(c_syncs[0].starts_with("C: 1 syncs done"), "{}", c_syncs[0]);
    assert!(c_syncs[1].starts_with("C: 2 syncs done"), "{}", c_syncs[1]);
    assert_eq!(
        lines("same id: "),
        ["same id: true; its log was read back from disk"]
    );
    assert!(
        lines("refused: ")[0].contains("line 2: not a message"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("done in "))
    );
}
