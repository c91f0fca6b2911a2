//! A handler calls back the peer that called it (JS: `this.id` and `sbot.peers[this.id][0]`), over
//! a real connection between two apps on 127.0.0.1: through [`CallContext::caller`] and the typed
//! client of the caller's `test` plugin. The handle is weak: kept after its connection ended, a
//! call on it fails at once with `stream is closed`; a local call has none. The context also says
//! where the call came from, as the server's [`Peer`] does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use secret_stack::multiserver::Scope;
use secret_stack::plugin;
use secret_stack::rpc::{CallContext, CallError, Caller, CallerHandle, RpcError};
use secret_stack::stack::{App, Peer, SecretStack};
use secret_stack_examples::test_client::TestClient;
use secret_stack_examples::test_plugin::Test;
use secret_stack_tests::engine;
use secret_stack_tests::stack_fixtures::{config, within};
use serde_json::json;

/// Where `back.remember` keeps the caller's handle; the test holds it too.
type Kept = Arc<Mutex<Option<CallerHandle>>>;

/// `back`: methods that use the caller's connection.
struct Back {
    kept: Kept,
}

#[plugin(name = "back", version = "1.0.0", permission = "anonymous")]
impl Back {
    /// Calls the caller's `test.hello(name)` and answers what it said.
    async fn hello_back(&self, ctx: &CallContext, name: String) -> Result<String, String> {
        let caller = ctx
            .caller()
            .ok_or("back.helloBack: a local call has no caller to call back")?;
        TestClient::new(caller)
            .hello(name)
            .await
            .map_err(|e| format!("back.helloBack: the caller did not answer: {e}"))
    }

    /// Where the call came from: `[id, address, transport, connection]`.
    fn origin(&self, ctx: &CallContext) -> (String, Option<String>, Option<String>, u64) {
        (
            ctx.remote.id(),
            ctx.address().map(str::to_owned),
            ctx.transport().map(str::to_owned),
            ctx.connection,
        )
    }

    /// Keeps the caller's handle for later.
    fn remember(&self, ctx: &CallContext) -> bool {
        let caller = ctx.caller();
        let found = caller.is_some();
        *self.kept.lock().unwrap() = caller;
        found
    }
}

/// The server serves `back`; the client serves the interop `test` plugin (open to anonymous
/// peers, so the server may call it back over the connection the client dialled).
async fn apps() -> (App, App, Kept) {
    let kept = Kept::default();
    let server = within(
        SecretStack::builder()
            .plugin(Back {
                kept: Arc::clone(&kept),
            })
            .close_deadline(Duration::from_secs(2))
            .start(config(31, json!({}))),
    )
    .await
    .expect("server starts");
    let client = within(
        SecretStack::builder()
            .plugin(Test::default())
            .close_deadline(Duration::from_secs(2))
            .start(config(32, json!({}))),
    )
    .await
    .expect("client starts");
    (server, client, kept)
}

/// The apps of [`apps`], the client connected to the server.
async fn connected() -> (App, App, Kept, Peer) {
    let (server, client, kept) = apps().await;
    let peer = within(client.connect(&server.address(Scope::Device)))
        .await
        .expect("connects");
    (server, client, kept, peer)
}

/// The server's one connection from the client.
fn only_peer(app: &App) -> Peer {
    let peers = app.peers();
    let [peer] = peers.as_slice() else {
        panic!("expected one connection, have {peers:?}");
    };
    peer.clone()
}

#[tokio::test]
async fn a_method_calls_its_caller_back_and_returns_its_answer() {
    let (server, client, _, peer) = connected().await;

    let answer = within(BackClient::new(&peer).hello_back("from the server".into()))
        .await
        .expect("helloBack answers");
    assert_eq!(answer, "hello from the server");

    // The context names the connection as the server's peer does.
    let (id, address, transport, number) = within(BackClient::new(&peer).origin()).await.unwrap();
    let on_server = only_peer(&server);
    assert_eq!(id, client.id().id());
    assert_eq!(address.as_deref(), Some(on_server.address()));
    assert_eq!(transport.as_deref(), Some(on_server.transport()));
    assert_eq!(transport.as_deref(), Some("net"));
    assert_eq!(number, on_server.connection());

    within(client.close()).await;
    within(server.close()).await;
}

#[tokio::test]
async fn a_kept_handle_fails_at_once_after_its_connection_ended() {
    let (server, client, kept, peer) = connected().await;
    assert!(within(BackClient::new(&peer).remember()).await.unwrap());
    let kept = kept.lock().unwrap().take().expect("remember kept a handle");
    assert!(!kept.is_closed());
    // While the connection lives, the kept handle reaches the client.
    let hello = within(TestClient::new(kept.clone()).hello("again".into())).await;
    assert_eq!(hello.unwrap(), "hello again");

    within(peer.close()).await;
    within(async {
        while !server.peers().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(kept.is_closed());
    // Every kind of call fails at once, with JS's text for a closed connection.
    let hello = within(TestClient::new(kept.clone()).hello("late".into())).await;
    assert_eq!(hello, Err(CallError::Rpc(RpcError::Closed)));
    let raw = within(Caller::call(&kept, &["test", "hello"], vec![json!("raw")])).await;
    assert_eq!(raw.unwrap_err().to_string(), "stream is closed");
    let mut count = TestClient::new(kept.clone()).count(3);
    let first = within(count.next()).await;
    assert!(
        matches!(first, Some(Err(CallError::Rpc(RpcError::Closed)))),
        "{first:?}"
    );

    within(client.close()).await;
    within(server.close()).await;
}

#[tokio::test]
async fn the_handle_keeps_nothing_of_an_ended_session_alive() {
    let (a, b) = engine::pair();
    let weak = a.downgrade();
    assert!(weak.rpc().is_some());
    let hello = within(TestClient::new(weak.clone()).hello("weak".into())).await;
    assert_eq!(hello.unwrap(), "hello weak");
    within(a.close()).await;
    within(b.closed()).await;
    drop((a, b));
    // The engine's tasks end with the session; then nothing holds its state but weak handles.
    within(async {
        while weak.rpc().is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(weak.is_closed());
    let late = within(Caller::call(&weak, &["test", "hello"], vec![json!("x")])).await;
    assert!(matches!(late, Err(RpcError::Closed)), "{late:?}");
    let items: Vec<_> =
        within(Caller::source(&weak, &["test", "count"], vec![json!(2)]).collect()).await;
    assert!(
        matches!(items.as_slice(), [Err(RpcError::Closed)]),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_local_call_has_no_caller() {
    let (server, client, _) = apps().await;
    let back = BackClient::new(server.local());
    assert!(!within(back.remember()).await.unwrap());
    let refused = within(back.hello_back("me".into())).await;
    assert_eq!(
        refused,
        Err(CallError::Method(
            "back.helloBack: a local call has no caller to call back".to_owned()
        ))
    );
    let (id, address, transport, number) = within(back.origin()).await.unwrap();
    assert_eq!(
        (id, address, transport, number),
        (server.id().id(), None, None, 0)
    );
    within(client.close()).await;
    within(server.close()).await;
}
