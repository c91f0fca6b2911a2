//! The replication example's scenario with assertions: three nodes over TCP + shs, messages
//! spreading A → B → C, a restart reading the log back from disk, damaged logs refused with their
//! line number, the log's rules for foreign messages, its permissions, and peers that lie.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::TryStreamExt;
use std::collections::BTreeMap;

use secret_stack::multiserver::Scope;
use secret_stack::plugin;
use secret_stack::rpc::{CallError, RpcError, Source};
use secret_stack::stack::{App, Config, SecretStack};
use secret_stack_examples::replication::store::{Added, LOG_FILE};
use secret_stack_examples::replication::{
    FriendsClient, LogClient, LogStore, Message, StoreError, node,
};

const DEADLINE: Duration = Duration::from_secs(5);

/// Fails the test instead of hanging.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("timed out")
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("ss-replication-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every message of the node's log, author by author (authors sorted by id), each in seq order.
async fn log_of(app: &App) -> Vec<Message> {
    let log = LogClient::new(app.local());
    let mut all = Vec::new();
    for (author, latest) in log.latest().await.expect("latest") {
        let messages: Vec<Message> = log
            .history(author, 0, false)
            .try_collect()
            .await
            .expect("history");
        assert_eq!(messages.len() as u64, latest, "history matches latest");
        all.extend(messages);
    }
    all
}

/// The messages `app` wrote itself, as (seq, content).
fn by(app: &App, log: &[Message]) -> Vec<(u64, String)> {
    let id = app.id().id();
    log.iter()
        .filter(|m| m.author == id)
        .map(|m| (m.seq, m.content.clone()))
        .collect()
}

fn numbered(texts: &[&str]) -> Vec<(u64, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u64 + 1, (*t).to_owned()))
        .collect()
}

async fn append(app: &App, content: &str) -> Message {
    LogClient::new(app.local())
        .append(content.to_owned())
        .await
        .expect("append")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_spread_through_peers_and_survive_a_restart() {
    within(async {
        let dir = TempDir::new("scenario");
        let (a_dir, b_dir, c_dir) = (dir.join("a"), dir.join("b"), dir.join("c"));
        let a = node::start(&a_dir).await.expect("start a");
        let b = node::start(&b_dir).await.expect("start b");
        let c = node::start(&c_dir).await.expect("start c");
        for (app, others) in [(&a, [&b, &c]), (&b, [&a, &c]), (&c, [&a, &b])] {
            node::follow(app, &others).await.expect("follow");
        }

        let a_texts = ["a1", "a2", "a3"];
        for (i, text) in a_texts.iter().enumerate() {
            let m = append(&a, text).await;
            assert_eq!(
                (m.author.as_str(), m.seq),
                (a.id().id().as_str(), i as u64 + 1)
            );
        }
        append(&b, "b1").await;

        // B dials A: B pulls A's three, A pulls B's one.
        b.connect(&a.address(Scope::Device)).await.expect("b → a");
        let b_status = node::wait_for_syncs(&b, 1, DEADLINE)
            .await
            .expect("b synced");
        let a_status = node::wait_for_syncs(&a, 1, DEADLINE)
            .await
            .expect("a synced");
        assert_eq!((b_status.received, b_status.failed), (3, 0));
        assert_eq!(b_status.from.get(&a.id().id()), Some(&3));
        assert_eq!((a_status.received, a_status.failed), (1, 0));
        for node in [&a, &b] {
            let log = log_of(node).await;
            assert_eq!(log.len(), 4);
            assert_eq!(by(&a, &log), numbered(&a_texts));
            assert_eq!(by(&b, &log), numbered(&["b1"]));
        }

        // C dials only B, and gets A's messages from B.
        c.connect(&b.address(Scope::Device)).await.expect("c → b");
        let c_status = node::wait_for_syncs(&c, 1, DEADLINE)
            .await
            .expect("c synced");
        let b_status = node::wait_for_syncs(&b, 2, DEADLINE)
            .await
            .expect("b synced");
        assert_eq!(c_status.from.get(&b.id().id()), Some(&4));
        assert_eq!(c_status.from.get(&a.id().id()), None, "C never met A");
        assert_eq!(b_status.received, 3, "B had nothing to learn from C");
        let c_log = log_of(&c).await;
        assert_eq!(c_log.len(), 4);
        assert_eq!(by(&a, &c_log), numbered(&a_texts));
        assert_eq!(by(&b, &c_log), numbered(&["b1"]));
        assert!(by(&c, &c_log).is_empty());

        // A connects to B again: nothing new either way, nothing duplicated.
        a.connect(&b.address(Scope::Device)).await.expect("a → b");
        node::wait_for_syncs(&a, 2, DEADLINE)
            .await
            .expect("a synced");
        node::wait_for_syncs(&b, 3, DEADLINE)
            .await
            .expect("b synced");
        assert_eq!(log_of(&a).await.len(), 4);
        assert_eq!(log_of(&b).await.len(), 4);

        // A restarts from its directory: same identity, same log, and its next seq follows on.
        let a_id = a.id();
        a.close().await;
        let a = node::start(&a_dir).await.expect("restart a");
        assert_eq!(a.id(), a_id);
        let log = log_of(&a).await;
        assert_eq!(by(&a, &log), numbered(&a_texts));
        assert_eq!(by(&b, &log), numbered(&["b1"]));
        let m = append(&a, "a4").await;
        assert_eq!(m.seq, 4);
        let file = std::fs::read_to_string(a_dir.join(LOG_FILE)).expect("read a's log");
        assert_eq!(file.lines().count(), 5, "one line per message");

        // C meets the restarted A and gets just the new message.
        c.connect(&a.address(Scope::Device)).await.expect("c → a");
        let c_status = node::wait_for_syncs(&c, 2, DEADLINE)
            .await
            .expect("c synced");
        assert_eq!(c_status.from.get(&a.id().id()), Some(&1));
        assert_eq!(c_status.failed, 0);
        let c_log = log_of(&c).await;
        assert_eq!(by(&a, &c_log), numbered(&["a1", "a2", "a3", "a4"]));

        for app in [&a, &b, &c] {
            app.close().await;
        }
    })
    .await;
}

/// Writes a log of `lines` (one per line) into `dir`.
fn write_log(dir: &Path, lines: &[String]) {
    std::fs::create_dir_all(dir).expect("create dir");
    std::fs::write(dir.join(LOG_FILE), lines.join("\n") + "\n").expect("write log");
}

fn line(author: &str, seq: u64, content: &str) -> String {
    serde_json::json!({"author": author, "seq": seq, "content": content}).to_string()
}

const ALICE: &str = "@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519";

fn corrupt_line(dir: &Path) -> (usize, String) {
    match LogStore::open(dir) {
        Err(StoreError::Corrupt { line, reason, path }) => {
            assert_eq!(path, dir.join(LOG_FILE));
            (line, reason)
        }
        other => panic!("expected a corrupt log, got {other:?}"),
    }
}

#[test]
fn a_damaged_log_is_refused_with_its_line_number() {
    let dir = TempDir::new("corrupt");
    let good = [line(ALICE, 1, "one"), line(ALICE, 2, "two")];

    let cases: [(&str, Vec<String>, usize, &str); 6] = [
        (
            "truncated",
            vec![good[0].clone(), "{\"author\": tru".into()],
            2,
            "not a message",
        ),
        (
            "not JSON",
            vec![good[0].clone(), good[1].clone(), "hello".into()],
            3,
            "not a message",
        ),
        (
            "empty line",
            vec![good[0].clone(), String::new(), good[1].clone()],
            2,
            "not a message",
        ),
        (
            "gap",
            vec![good[0].clone(), line(ALICE, 3, "three")],
            2,
            "does not follow 1",
        ),
        (
            "repeat",
            vec![good[0].clone(), good[0].clone()],
            2,
            "repeated",
        ),
        (
            "bad author",
            vec![line("@nobody", 1, "x")],
            1,
            "not an ed25519 id",
        ),
    ];
    for (name, lines, expected_line, expected_reason) in cases {
        let case_dir = dir.join(&name.replace(' ', "-"));
        write_log(&case_dir, &lines);
        let (line, reason) = corrupt_line(&case_dir);
        assert_eq!(line, expected_line, "{name}: {reason}");
        assert!(reason.contains(expected_reason), "{name}: {reason}");
        assert!(
            !reason.contains("line 1 column"),
            "{name}: serde's own line number is dropped: {reason}"
        );
    }

    // The message names the file and the line.
    let case_dir = dir.join("truncated");
    let error = LogStore::open(&case_dir).expect_err("corrupt").to_string();
    assert_eq!(
        error,
        format!(
            "log {}: line 2: not a message: EOF while parsing a value at column 14",
            case_dir.join(LOG_FILE).display()
        )
    );
    // Opening a damaged log leaves it as it was.
    let text = std::fs::read_to_string(case_dir.join(LOG_FILE)).expect("read");
    assert_eq!(text, format!("{}\n{{\"author\": tru\n", good[0]));
}

#[tokio::test]
async fn a_node_with_a_damaged_log_does_not_start() {
    within(async {
        let dir = TempDir::new("corrupt-node");
        write_log(&dir.0, &[line(ALICE, 1, "one"), "[1, 2]".into()]);
        let error = node::start(&dir.0).await.expect_err("refused").to_string();
        assert!(error.contains("\"log\""), "{error}");
        assert!(error.contains("line 2: not a message"), "{error}");
    })
    .await;
}

#[test]
fn the_store_keeps_each_authors_messages_in_order() {
    let dir = TempDir::new("store");
    let store = LogStore::open(&dir.0).expect("open");
    assert!(store.is_empty());
    let first = Message {
        author: ALICE.into(),
        seq: 1,
        content: "one".into(),
    };
    assert_eq!(store.add(first.clone()).expect("add"), Added::New);
    assert_eq!(store.add(first.clone()).expect("again"), Added::Duplicate);

    let gap = Message {
        seq: 3,
        ..first.clone()
    };
    let error = store.add(gap).expect_err("gap").to_string();
    assert!(error.contains("does not follow 1"), "{error}");
    let conflict = Message {
        content: "other".into(),
        ..first.clone()
    };
    let error = store.add(conflict).expect_err("conflict").to_string();
    assert!(error.contains("taken by a different message"), "{error}");
    let zero = Message {
        seq: 0,
        ..first.clone()
    };
    assert!(store.add(zero).is_err());
    let huge = Message {
        seq: 2,
        content: "x".repeat(64 * 1024),
        ..first.clone()
    };
    assert!(store.add(huge).is_err());

    let second = store.append(ALICE, "two".into()).expect("append");
    assert_eq!(second.seq, 2);
    assert_eq!(store.history(ALICE, 0), vec![first.clone(), second.clone()]);
    assert_eq!(store.history(ALICE, 1), vec![second.clone()]);
    assert!(store.history(ALICE, 2).is_empty());
    assert!(store.history(ALICE, u64::MAX).is_empty());
    assert!(store.history("@unknown", 0).is_empty());
    drop(store);

    // Only what was accepted reached the file.
    let reopened = LogStore::open(&dir.0).expect("reopen");
    assert_eq!(reopened.messages(), vec![first, second]);
    assert_eq!(reopened.latest().get(ALICE), Some(&2));
}

#[tokio::test]
async fn strangers_may_read_a_log_but_not_write_it() {
    within(async {
        let dir = TempDir::new("permissions");
        let a = node::start(&dir.join("a")).await.expect("start a");
        let b = node::start(&dir.join("b")).await.expect("start b");
        append(&a, "mine").await;

        let peer = b.connect(&a.address(Scope::Device)).await.expect("b → a");
        let remote = LogClient::new(peer);
        let latest = remote.latest().await.expect("latest is public");
        assert_eq!(latest.get(&a.id().id()), Some(&1));
        let history: Vec<Message> = remote
            .history(a.id().id(), 0, false)
            .try_collect()
            .await
            .expect("history is public");
        assert_eq!(history.len(), 1);

        let refused = remote.append("forged".into()).await.expect_err("append is private");
        assert!(
            matches!(&refused, CallError::Rpc(RpcError::Remote(e)) if e.message.contains("not in list of allowed methods")),
            "{refused:?}"
        );
        let forged = Message {
            author: b.id().id(),
            seq: 1,
            content: "forged".into(),
        };
        assert!(remote.add(forged).await.is_err(), "add is private");

        // Locally, add refuses the node's own messages: those are written with append.
        let own = Message {
            author: a.id().id(),
            seq: 2,
            content: "x".into(),
        };
        let error = LogClient::new(a.local()).add(own).await.expect_err("own");
        assert!(matches!(error, CallError::Method(_)), "{error:?}");
        assert_eq!(log_of(&a).await.len(), 1);

        a.close().await;
        b.close().await;
    })
    .await;
}

/// A `log` that lies: it claims two messages of [`ALICE`] and serves either a gap (seq 1 then 3)
/// or, asked for Alice's, messages of someone else.
struct LyingLog {
    wrong_author: bool,
}

const BOB: &str = "@xFYmCVqXxBNiFBmuvDrUePI1uGA+5tP/E5CqqOYjOwY=.ed25519";

#[plugin(name = "log", permission = "anonymous")]
impl LyingLog {
    async fn latest(&self) -> BTreeMap<String, u64> {
        BTreeMap::from([(ALICE.to_owned(), 2)])
    }

    fn history(&self, _author: String, _from_seq: u64, _live: bool) -> Source<Message> {
        let message = |author: &str, seq| Message {
            author: author.to_owned(),
            seq,
            content: format!("lie {seq}"),
        };
        if self.wrong_author {
            Source::iter([message(BOB, 1)])
        } else {
            Source::iter([message(ALICE, 1), message(ALICE, 3)])
        }
    }
}

#[tokio::test]
async fn a_lying_peer_fails_the_sync_and_leaves_no_gap() {
    within(async {
        let dir = TempDir::new("liar");
        for (wrong_author, expected) in [
            (false, "does not follow 1"),
            (true, "the peer sent one of @xFYm"),
        ] {
            let honest_dir = dir.join(if wrong_author { "honest-1" } else { "honest-2" });
            let honest = node::start(&honest_dir).await.expect("start honest");
            FriendsClient::new(honest.local())
                .follow(ALICE.to_owned())
                .await
                .expect("follow");
            let liar = SecretStack::builder()
                .app_key(node::APP_KEY)
                .plugin(LyingLog { wrong_author })
                .start(
                    Config::from_json(serde_json::json!({"global": {"host": "127.0.0.1"}}))
                        .expect("config"),
                )
                .await
                .expect("start liar");

            honest
                .connect(&liar.address(Scope::Device))
                .await
                .expect("connect");
            let status = node::wait_for_syncs(&honest, 1, DEADLINE)
                .await
                .expect("synced");
            assert_eq!((status.completed, status.failed), (0, 1), "{status:?}");
            let error = status.last_error.expect("an error");
            assert!(error.contains(expected), "{error}");
            // What came before the lie is kept; nothing after it, and no other author.
            let log = log_of(&honest).await;
            let expected_log: Vec<(String, u64)> = if wrong_author {
                Vec::new()
            } else {
                vec![(ALICE.to_owned(), 1)]
            };
            let got: Vec<(String, u64)> = log.iter().map(|m| (m.author.clone(), m.seq)).collect();
            assert_eq!(got, expected_log);
            assert_eq!(status.received, expected_log.len() as u64);

            honest.close().await;
            liar.close().await;
        }
    })
    .await;
}

/// Over one connection that stays up: an entry appended on A reaches B live (and, through B's own
/// live history, C, which never meets A), while the feed C does not follow (B's) never reaches C.
/// Closing A ends B's live history from it (B's other one, of A from C, stays open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_arrive_live_and_only_followed_feeds_are_replicated() {
    within(async {
        let dir = TempDir::new("live");
        let a = node::start(&dir.join("a")).await.expect("start a");
        let b = node::start(&dir.join("b")).await.expect("start b");
        let c = node::start(&dir.join("c")).await.expect("start c");
        node::follow(&b, &[&a]).await.expect("b follows a");
        node::follow(&c, &[&a]).await.expect("c follows a only");
        append(&b, "b1").await;

        b.connect(&a.address(Scope::Device)).await.expect("b → a");
        c.connect(&b.address(Scope::Device)).await.expect("c → b");
        node::wait_for_syncs(&b, 2, DEADLINE)
            .await
            .expect("b synced");
        node::wait_for_syncs(&c, 1, DEADLINE)
            .await
            .expect("c synced");
        assert!(log_of(&c).await.is_empty(), "nothing of A yet, none of B's");

        let m = append(&a, "a1").await;
        for node in [&b, &c] {
            node::wait_for_message(node, &m.author, m.seq, DEADLINE)
                .await
                .expect("arrived live");
            let status = node::status(node).await.expect("status");
            assert_eq!(status.received_live, 1, "{status:?}");
            assert!(status.live >= 1, "{status:?}");
        }
        let m = append(&a, "a2").await;
        node::wait_for_message(&c, &m.author, m.seq, DEADLINE)
            .await
            .expect("the next one too");
        // Still the first connections: no new sync happened.
        assert_eq!(node::status(&c).await.expect("status").completed, 1);
        let c_log = log_of(&c).await;
        assert_eq!(by(&a, &c_log), numbered(&["a1", "a2"]));
        assert!(by(&b, &c_log).is_empty(), "C does not follow B");

        assert_eq!(node::status(&b).await.expect("status").live, 2);
        a.close().await;
        let b_live = async {
            while node::status(&b).await.expect("status").live > 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        within(b_live).await;
        b.close().await;
        c.close().await;
    })
    .await;
}
