//! Plugin events: a plugin defines its own event type and emits it; another plugin and the app's
//! user subscribe by type — over a real connection on 127.0.0.1, where a remote peer's call to one
//! plugin reaches another plugin's live source through an event. Types do not cross, and a slow
//! subscriber lags instead of holding up the emitter.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use secret_stack::multiserver::Scope;
use secret_stack::plugin;
use secret_stack::rpc::Source;
use secret_stack::stack::{App, Builder, PLUGIN_EVENT_CAPACITY, PluginInit, SecretStack, WeakApp};
use secret_stack_tests::stack_fixtures::*;
use serde_json::json;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// The event the `feeds` plugin emits for each entry appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// The entry's number, from 1.
    pub seq: u64,
    /// What was appended.
    pub text: String,
}

/// An event type nobody emits here.
#[derive(Debug, Clone, PartialEq)]
pub struct Unrelated(pub u64);

/// Appends entries and tells the app about each.
pub struct Feeds {
    app: WeakApp,
    last: AtomicU64,
}

#[plugin(name = "feeds", permission = "anonymous")]
impl Feeds {
    /// Appends `text`; answers its number and how many subscribers the event reached.
    async fn append(&self, text: String) -> (u64, usize) {
        let seq = self.last.fetch_add(1, Ordering::SeqCst) + 1;
        let reached = self
            .app
            .upgrade()
            .map_or(0, |app| app.emit(Appended { seq, text }));
        (seq, reached)
    }
}

/// Follows the `feeds` plugin's events, knowing it only by its event type.
pub struct Indexer {
    app: WeakApp,
}

#[plugin(name = "indexer", permission = "anonymous")]
impl Indexer {
    /// `"ready"`, then `"<seq>:<text>"` for every entry appended from then on, until the app
    /// closes.
    fn watch(&self) -> Source<String> {
        let Some(app) = self.app.upgrade() else {
            return Source::empty();
        };
        let events = app.subscribe::<Appended>();
        // Lagging would skip entries: say so in the stream and go on.
        let appended = futures::stream::unfold(events, |mut events| async move {
            let item = match events.recv().await {
                Ok(e) => format!("{}:{}", e.seq, e.text),
                Err(RecvError::Lagged(n)) => format!("missed {n}"),
                Err(RecvError::Closed) => return None,
            };
            Some((item, events))
        });
        let ready = futures::stream::once(async { "ready".to_owned() });
        Source::new(ready.chain(appended).take_until(app.closing()))
    }
}

fn events_builder() -> Builder {
    SecretStack::builder()
        .close_deadline(Duration::from_secs(2))
        .plugin_with("feeds", |init: &PluginInit<'_>| {
            Ok::<_, Infallible>(Feeds {
                app: init.app(),
                last: AtomicU64::new(0),
            })
        })
        .plugin_with("indexer", |init: &PluginInit<'_>| {
            Ok::<_, Infallible>(Indexer { app: init.app() })
        })
}

#[tokio::test]
async fn a_plugin_event_reaches_another_plugin_and_the_user_by_type() {
    let b = events_builder();
    let server = start(&b, config(60, json!({}))).await;
    let client = start(&b, config(61, json!({}))).await;
    let mut user = server.subscribe::<Appended>();
    let mut unrelated = server.subscribe::<Unrelated>();
    let peer = within(client.connect(&server.address(Scope::Device)))
        .await
        .unwrap();
    let feeds = FeedsClient::new(peer.clone());
    let mut watch = IndexerClient::new(peer).watch();
    assert_eq!(within(watch.next()).await.unwrap().unwrap(), "ready");

    // A remote call to `feeds` emits; the indexer's live source (subscribed) and the user see it.
    assert_eq!(within(feeds.append("a".into())).await.unwrap(), (1, 2));
    // A local call emits the same way.
    let local = FeedsClient::new(server.local());
    assert_eq!(within(local.append("b".into())).await.unwrap(), (2, 2));

    assert_eq!(within(watch.next()).await.unwrap().unwrap(), "1:a");
    assert_eq!(within(watch.next()).await.unwrap().unwrap(), "2:b");
    for (seq, text) in [(1, "a"), (2, "b")] {
        let event = within(user.recv()).await.unwrap();
        assert_eq!(
            event,
            Appended {
                seq,
                text: text.into()
            }
        );
    }
    assert_eq!(
        unrelated.try_recv(),
        Err(TryRecvError::Empty),
        "another type sees nothing"
    );

    // The live source ends cleanly when the server closes (it ends on `closing`).
    within(server.close()).await;
    assert!(within(watch.next()).await.is_none());
    within(client.close()).await;
}

#[tokio::test]
async fn an_event_reaches_only_the_subscribers_there_are() {
    let app: App = start(&events_builder(), config(62, json!({}))).await;
    assert_eq!(app.emit(Unrelated(0)), 0, "nobody subscribes: dropped");
    let first = app.subscribe::<Unrelated>();
    let mut second = app.subscribe::<Unrelated>();
    assert_eq!(app.emit(Unrelated(1)), 2);
    drop(first);
    assert_eq!(app.emit(Unrelated(2)), 1);
    assert_eq!(second.recv().await.unwrap(), Unrelated(1));
    assert_eq!(second.recv().await.unwrap(), Unrelated(2));
    within(app.close()).await;
}

#[tokio::test]
async fn a_slow_subscriber_lags_and_never_holds_up_the_emitter() {
    let app: App = start(&events_builder(), config(63, json!({}))).await;
    let mut slow = app.subscribe::<Unrelated>();
    let mut fast = app.subscribe::<Unrelated>();
    let extra = 7;
    let total = PLUGIN_EVENT_CAPACITY as u64 + extra;
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < total as usize {
            seen.push(fast.recv().await.expect("the fast subscriber keeps up").0);
        }
        seen
    });
    // `slow` reads nothing meanwhile; every emit returns at once all the same.
    for n in 0..total {
        assert_eq!(app.emit(Unrelated(n)), 2);
        if n % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let seen = within(reader).await.unwrap();
    assert_eq!(seen, (0..total).collect::<Vec<_>>());
    assert_eq!(slow.recv().await, Err(RecvError::Lagged(extra)));
    assert_eq!(
        slow.recv().await.unwrap(),
        Unrelated(extra),
        "the oldest kept"
    );
    within(app.close()).await;
}
