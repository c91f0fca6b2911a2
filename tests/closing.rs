//! Closing reaches plugins: [`App::closing`] resolves when closing starts (by `close`, `close_now`
//! or dropping the app), so a live source ending on it lets `close()` return at once instead of
//! waiting out its deadline — over a real connection on 127.0.0.1.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use futures::StreamExt;
use secret_stack::multiserver::Scope;
use secret_stack::plugin;
use secret_stack::rpc::Source;
use secret_stack::stack::{App, Builder, PluginInit, SecretStack, WeakApp};
use secret_stack_tests::stack_fixtures::*;
use serde_json::json;

/// Serves an endless source of ticks; ends it when the app starts closing if `ends_on_closing`.
pub struct Ticker {
    app: WeakApp,
    ends_on_closing: bool,
}

#[plugin(name = "ticker", permission = "anonymous")]
impl Ticker {
    /// 0, 1, 2, … every 20 ms, forever (or until closing).
    fn ticks(&self) -> Source<u64> {
        let Some(app) = self.app.upgrade() else {
            return Source::empty();
        };
        let ticks = futures::stream::unfold(0u64, |n| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((n, n + 1))
        });
        if self.ends_on_closing {
            Source::new(ticks.take_until(app.closing()))
        } else {
            Source::new(ticks)
        }
    }
}

fn ticker_builder(ends_on_closing: bool, close_deadline: Duration) -> Builder {
    SecretStack::builder()
        .close_deadline(close_deadline)
        .plugin_with("ticker", move |init: &PluginInit<'_>| {
            Ok::<_, Infallible>(Ticker {
                app: init.app(),
                ends_on_closing,
            })
        })
}

/// Starts a server and a client, opens one live source from the client, reads two ticks, then
/// closes the server: returns how long `close()` took and whether the client's source ended
/// without an error.
async fn close_with_one_open_source(ends_on_closing: bool, deadline: Duration) -> (Duration, bool) {
    let b = ticker_builder(ends_on_closing, deadline);
    let server = start(&b, config(50, json!({}))).await;
    let client = start(&b, config(51, json!({}))).await;
    let peer = within(client.connect(&server.address(Scope::Device)))
        .await
        .unwrap();
    let mut ticks = TickerClient::new(peer).ticks();
    assert_eq!(within(ticks.next()).await.unwrap().unwrap(), 0);
    assert_eq!(within(ticks.next()).await.unwrap().unwrap(), 1);

    let started = Instant::now();
    within(server.close()).await;
    let took = started.elapsed();
    // The client sees the source end: cleanly when the server ended it, with the connection's
    // end when the server forced it.
    let mut clean = true;
    while let Some(item) = within(ticks.next()).await {
        if item.is_err() {
            clean = false;
            break;
        }
    }
    within(client.close()).await;
    (took, clean)
}

#[tokio::test]
async fn a_live_source_ending_on_closing_lets_close_return_at_once() {
    // The default 5 s deadline; closing takes about a millisecond here, so half the deadline is
    // a wide margin even on a loaded 2-core machine.
    let (took, clean) =
        close_with_one_open_source(true, secret_stack::stack::DEFAULT_CLOSE_DEADLINE).await;
    assert!(
        took < Duration::from_millis(2500),
        "close() took {took:?} with the only live source ending on closing"
    );
    assert!(clean, "the source ended cleanly, not by force");
}

#[tokio::test]
async fn a_live_source_not_ending_on_closing_holds_close_until_the_deadline() {
    // The same source without `take_until(app.closing())`: close() waits the whole (short)
    // deadline, then forces the connection — which is what the test above avoids.
    let deadline = Duration::from_millis(800);
    let (took, clean) = close_with_one_open_source(false, deadline).await;
    assert!(
        took >= deadline,
        "close() took {took:?}, under its deadline"
    );
    assert!(!clean, "the source was cut off by force");
}

#[tokio::test]
async fn closing_resolves_when_close_starts_and_stays_resolved() {
    let app = start(
        &ticker_builder(true, Duration::from_secs(2)),
        config(52, json!({})),
    )
    .await;
    let closing = app.closing();
    let early_clone = closing.clone();
    assert!(!closing.is_closing());
    let waiter = tokio::spawn(closing);
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished(), "resolved before closing started");

    within(app.close()).await;
    within(waiter).await.unwrap();
    assert!(early_clone.is_closing());
    within(early_clone).await;
    // Taken after the close: resolves at once, and again when polled again.
    let mut late = app.closing();
    within(&mut late).await;
    within(&mut late).await;
}

#[tokio::test]
async fn closing_resolves_on_close_now_and_on_drop() {
    let b = ticker_builder(true, Duration::from_secs(2));
    let app = start(&b, config(53, json!({}))).await;
    let closing = app.closing();
    within(app.close_now()).await;
    within(closing).await;

    let app: App = start(&b, config(54, json!({}))).await;
    let closing = app.closing();
    assert!(!closing.is_closing());
    drop(app);
    within(closing).await;
}

/// A compile-time check: a plugin (shared between tasks) can keep a `Closing` in its state.
#[test]
fn closing_can_be_kept_in_a_plugin() {
    fn shareable<T: Send + Sync + Unpin + Clone + 'static>() {}
    shareable::<secret_stack::stack::Closing>();
}
