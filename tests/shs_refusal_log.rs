//! What the server logs about a client with another app key: one INFO line per host, however
//! often it retries. Alone in its test binary, so no other test's events race with the capture.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secret_stack::multiserver::Scope;
use secret_stack::stack::SecretStack;
use secret_stack_tests::stack_fixtures::{OTHER_APP_KEY, builder, config, start, within};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Every event logged while it is the thread's subscriber: level and message.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<(Level, String)>>>);

impl Captured {
    fn events(&self) -> Vec<(Level, String)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, matching: impl Fn(&(Level, String)) -> bool) -> usize {
        self.events().iter().filter(|e| matching(e)).count()
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let level = *event.metadata().level();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((level, message.0));
    }
}

// One thread (the default of `tokio::test`): the server's tasks log to this thread's subscriber.
#[tokio::test]
async fn a_wrong_app_key_is_logged_by_the_server_at_info_once_per_host() {
    let captured = Captured::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    let server = start(&builder(), config(1, json!({}))).await;
    let address = server.address(Scope::Device);
    let wrong_cap = SecretStack::builder().app_key(OTHER_APP_KEY.parse().expect("an app key"));
    let stranger = start(&wrong_cap, config(3, json!({}))).await;
    for _ in 0..3 {
        let refused = within(stranger.connect(&address)).await;
        assert!(refused.is_err(), "a stranger got in");
    }
    // The server is done with a connection once multiserver logs its error (after the refusal
    // was reported, if it was): wait for all three.
    let done =
        |(_, m): &(Level, String)| m.starts_with("multiserver: server error, from net:127.0.0.1:");
    within(async {
        while captured.count(done) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let refusals: Vec<_> = captured
        .events()
        .into_iter()
        .filter(|(_, m)| m.starts_with("shs: refused a connection"))
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    let (level, message) = &refusals[0];
    assert_eq!(*level, Level::INFO);
    assert!(
        message.starts_with("shs: refused a connection from net:127.0.0.1:"),
        "{message}"
    );
    assert!(
        message.contains("its handshake was not made with our app key; it likely uses another `AppKey` (config `caps.shs`)"),
        "{message}"
    );
    for app in [&stranger, &server] {
        within(app.close()).await;
    }
}
