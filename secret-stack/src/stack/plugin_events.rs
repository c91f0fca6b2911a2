//! Plugin events: typed events that plugins define, emit and subscribe to (the Rust counterpart of
//! JS's `api.emit(name, …)` / `api.on(name, …)` between plugins), next to the app's built-in
//! [`Event`](super::Event)s, which stay as they are.
//!
//! Events are keyed by their Rust type: any `Clone + Send + Sync + 'static` type is an event, and a
//! subscriber to `E` gets exactly the `E`s emitted after it subscribed, in order — no names, no
//! JSON. Each type has its own [`tokio::sync::broadcast`] channel, made by its first subscriber:
//! emitting never waits for subscribers, an event nobody subscribes to is dropped, and a subscriber
//! that falls more than [`PLUGIN_EVENT_CAPACITY`] events behind gets
//! [`RecvError::Lagged`](tokio::sync::broadcast::error::RecvError::Lagged) and misses the oldest
//! ones (the others carry on unaffected).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::RwLock;

use tokio::sync::broadcast;
use tracing::trace;

use super::app::App;

/// How many events of one type a slow subscriber may fall behind before it misses some.
pub const PLUGIN_EVENT_CAPACITY: usize = 1024;

/// The app's plugin event channels, one per event type.
#[derive(Default)]
pub(crate) struct PluginEvents {
    /// `TypeId::of::<E>()` → `broadcast::Sender<E>`.
    channels: RwLock<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl PluginEvents {
    fn emit<E: Clone + Send + Sync + 'static>(&self, event: E) -> usize {
        let channels = self.channels.read().unwrap_or_else(|e| e.into_inner());
        let Some(sender) = channels
            .get(&TypeId::of::<E>())
            .and_then(|s| s.downcast_ref::<broadcast::Sender<E>>())
        else {
            trace!(
                event = std::any::type_name::<E>(),
                "plugin event: no subscriber"
            );
            return 0;
        };
        sender.send(event).unwrap_or(0)
    }

    fn subscribe<E: Clone + Send + Sync + 'static>(&self) -> broadcast::Receiver<E> {
        let mut channels = self.channels.write().unwrap_or_else(|e| e.into_inner());
        let entry = channels
            .entry(TypeId::of::<E>())
            .or_insert_with(|| Box::new(broadcast::Sender::<E>::new(PLUGIN_EVENT_CAPACITY)));
        match entry.downcast_ref::<broadcast::Sender<E>>() {
            Some(sender) => sender.subscribe(),
            // Unreachable: the entry under `TypeId::of::<E>()` is always a `Sender<E>`. Should it
            // ever not be, the subscriber gets a fresh channel (and no events) instead of a panic.
            None => broadcast::Sender::<E>::new(1).subscribe(),
        }
    }
}

impl App {
    /// Sends a plugin event to every subscriber of its type ([`App::subscribe`]) — the app's own
    /// plugins and users alike (JS `api.emit`, typed). Returns how many subscribers it reached: `0`
    /// when nobody subscribes to `E` (the event is then dropped). Never waits: a subscriber that
    /// falls behind misses the oldest events instead (see [`PLUGIN_EVENT_CAPACITY`]). Plugin events
    /// are separate from the built-in [`Event`](super::Event)s of [`App::events`].
    ///
    /// ```
    /// # use secret_stack::prelude::*;
    /// /// An event of a `friends` plugin.
    /// #[derive(Debug, Clone, PartialEq)]
    /// pub struct Blocked(pub PublicKey);
    ///
    /// # async fn demo(app: App, feed: PublicKey) {
    /// let mut blocked = app.subscribe::<Blocked>();
    /// assert_eq!(app.emit(Blocked(feed)), 1);
    /// assert_eq!(blocked.recv().await.unwrap(), Blocked(feed));
    /// # }
    /// ```
    pub fn emit<E: Clone + Send + Sync + 'static>(&self, event: E) -> usize {
        self.inner.plugin_events.emit(event)
    }

    /// The plugin events of type `E` emitted from now on ([`App::emit`]; JS `api.on`, typed), in
    /// order. A receiver that falls more than [`PLUGIN_EVENT_CAPACITY`] events behind gets
    /// [`RecvError::Lagged`](tokio::sync::broadcast::error::RecvError::Lagged) and misses the
    /// oldest; dropping it unsubscribes.
    pub fn subscribe<E: Clone + Send + Sync + 'static>(&self) -> broadcast::Receiver<E> {
        self.inner.plugin_events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct A(u32);
    #[derive(Debug, Clone, PartialEq)]
    struct B(&'static str);

    #[tokio::test]
    async fn events_reach_the_subscribers_of_their_type_only() {
        let events = PluginEvents::default();
        assert_eq!(events.emit(A(0)), 0, "no subscriber yet");
        let mut a1 = events.subscribe::<A>();
        let mut a2 = events.subscribe::<A>();
        let mut b = events.subscribe::<B>();
        assert_eq!(events.emit(A(1)), 2);
        assert_eq!(events.emit(B("x")), 1);
        assert_eq!(a1.recv().await.unwrap(), A(1));
        assert_eq!(a2.recv().await.unwrap(), A(1));
        assert_eq!(b.recv().await.unwrap(), B("x"));
        assert!(a1.try_recv().is_err(), "A(0) came before the subscription");
        drop(a2);
        assert_eq!(events.emit(A(2)), 1);
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_without_blocking_the_emitter() {
        let events = PluginEvents::default();
        let mut slow = events.subscribe::<A>();
        let n = u32::try_from(PLUGIN_EVENT_CAPACITY).unwrap() + 10;
        for i in 0..n {
            assert_eq!(events.emit(A(i)), 1);
        }
        match slow.recv().await {
            Err(broadcast::error::RecvError::Lagged(missed)) => assert_eq!(missed, 10),
            other => panic!("expected a lag, got {other:?}"),
        }
        assert_eq!(slow.recv().await.unwrap(), A(10));
    }
}
