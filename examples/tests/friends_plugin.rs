//! The `friends` plugin on replicating nodes over 127.0.0.1: a block ends a live history that is
//! already open, `auth` rejects a blocked id until it is unblocked, ids are checked, and `hops`
//! reports the graph.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use secret_stack::multiserver::Scope;
use secret_stack::rpc::CallError;
use secret_stack::stack::{App, AuthDecision};
use secret_stack_examples::replication::{FriendsClient, FriendsError, LogClient, node};

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
            std::env::temp_dir().join(format!("ss-friends-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn two_nodes(dir: &TempDir) -> (App, App) {
    let a = node::start(&dir.0.join("a")).await.expect("start a");
    let b = node::start(&dir.0.join("b")).await.expect("start b");
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_a_feed_ends_its_open_live_history() {
    within(async {
        let dir = TempDir::new("live");
        let (a, b) = two_nodes(&dir).await;
        let mallory = node::start(&dir.0.join("m")).await.expect("start m");
        let m_id = mallory.id().id();
        // A holds two of Mallory's messages (through a connection) and serves them live to B.
        node::follow(&a, &[&mallory]).await.expect("follow");
        let m_log = LogClient::new(mallory.local());
        m_log.append("m1".into()).await.expect("append");
        a.connect(&mallory.address(Scope::Device))
            .await
            .expect("a → m");
        node::wait_for_message(&a, &m_id, 1, Duration::from_secs(5))
            .await
            .expect("m1 at a");
        let peer = b.connect(&a.address(Scope::Device)).await.expect("b → a");
        let mut live = LogClient::new(peer).history(m_id.clone(), 0, true);
        assert_eq!(live.next().await.expect("m1").expect("m1").content, "m1");

        FriendsClient::new(a.local())
            .block(m_id.clone())
            .await
            .expect("block");
        m_log.append("m2".into()).await.expect("append");
        // The block ended the history: m2 is not served, and the source ends cleanly.
        assert!(live.next().await.is_none(), "served after the block");
        let again: Vec<_> = LogClient::new(a.local())
            .history(m_id.clone(), 0, false)
            .collect()
            .await;
        assert!(again.is_empty(), "a blocked feed is served locally");
        for app in [&a, &b, &mallory] {
            app.close().await;
        }
    })
    .await;
}

#[tokio::test]
async fn auth_rejects_a_blocked_id_until_it_is_unblocked() {
    let dir = TempDir::new("auth");
    let (a, b) = two_nodes(&dir).await;
    let friends = FriendsClient::new(a.local());
    assert_eq!(a.auth(b.id()).await, AuthDecision::Anonymous);
    friends.block(b.id().id()).await.expect("block");
    assert!(matches!(a.auth(b.id()).await, AuthDecision::Reject(r) if r.contains("is blocked")));
    assert!(b.connect(&a.address(Scope::Device)).await.is_err());
    friends.unblock(b.id().id()).await.expect("unblock");
    assert_eq!(a.auth(b.id()).await, AuthDecision::Anonymous);
    within(b.connect(&a.address(Scope::Device)))
        .await
        .expect("let in again");
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn ids_are_checked_and_hops_reports_the_graph() {
    let dir = TempDir::new("hops");
    let (a, b) = two_nodes(&dir).await;
    let c = node::start(&dir.0.join("c")).await.expect("start c");
    let friends = FriendsClient::new(a.local());
    assert_eq!(
        friends.follow("bob".into()).await,
        Err(CallError::Method(FriendsError::NotAnId("bob".into())))
    );
    assert_eq!(
        friends.block(a.id().id()).await,
        Err(CallError::Method(FriendsError::Ourselves(a.id().id())))
    );
    assert_eq!(friends.follow(b.id().id()).await, Ok(0));
    friends.follow(c.id().id()).await.expect("follow");
    friends.block(c.id().id()).await.expect("block");
    assert_eq!(friends.is_following(b.id().id()).await, Ok(true));
    assert_eq!(friends.is_following(c.id().id()).await, Ok(false));
    assert_eq!(friends.is_blocking(c.id().id()).await, Ok(true));
    let hops = friends.hops().await.expect("hops");
    let expected = [(a.id().id(), 0), (b.id().id(), 1), (c.id().id(), -1)];
    assert_eq!(hops, expected.into_iter().collect());
    for app in [&a, &b, &c] {
        app.close().await;
    }
}
