//! Closing an app, and the one signal every part of it watches for that.
//!
//! [`Shutdown`] is the app's only shutdown mechanism (the shape of mini-redis's `shutdown.rs`: one
//! signal, one owner). It owns the app's [`Phase`] — open, closing, forced, closed — which only
//! moves forward. The parts that must stop when the app closes (the accept loops, connections being
//! set up) hold a [`ShutdownSignal`] and wait on it; everything else asks [`Shutdown`]. Plugins
//! and users get the same signal as a [`Closing`] future ([`App::closing`]), so their live sources
//! can end when closing starts.
//!
//! [`App::close`] then: stops listening, runs the close hooks, ends every connection, waits for
//! everything the app spawned, and sends [`Event::Close`]. Connections end gracefully (each finishes
//! its outstanding calls and says goodbye), forced once the close deadline passes; [`App::close_now`]
//! forces them at once. Both are idempotent and may race: a `close_now` during a `close` hurries it
//! along, and every caller returns once the app is fully closed. Dropping the last [`App`] without
//! closing fires the same signal and drops every connection at once, without waiting.
//!
//! Deviation from JS 8.1.0, where a plain `app.close()` closes only the servers and leaves live
//! connections open (ssbc/secret-stack#83) and `close(true)` forces them: here a closed app has no
//! connection, listener or task left.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::hook_list::{HookList, HookRegistration};

use super::app::App;
use super::events::Event;

/// How long [`App::close`] lets connections finish their calls before forcing them, unless
/// [`Builder::close_deadline`](super::Builder::close_deadline) says otherwise.
pub const DEFAULT_CLOSE_DEADLINE: Duration = Duration::from_secs(5);

/// Cleanup run while the app closes (JS `app.close.hook`).
pub type CloseHook = Arc<dyn Fn(App) -> BoxFuture<'static, ()> + Send + Sync>;

pub(crate) fn close_hook<F, Fut>(hook: F) -> CloseHook
where
    F: Fn(App) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |app| Box::pin(hook(app)))
}

/// Where an app is in its life; it only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Phase {
    /// Running.
    Open = 0,
    /// Closing (or dropped): listeners stop, no new connection is set up.
    Closing = 1,
    /// Closing without waiting for anything graceful (`close_now`, or dropped).
    Forced = 2,
    /// Fully closed.
    Closed = 3,
}

impl Phase {
    fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Open,
            1 => Phase::Closing,
            2 => Phase::Forced,
            _ => Phase::Closed,
        }
    }
}

/// The phase, readable without a lock, and a way to wait for it to move.
#[derive(Debug, Default)]
struct PhaseCell {
    phase: AtomicU8,
    moved: Notify,
}

impl PhaseCell {
    fn get(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Moves to `to` unless the phase is already there or later; returns the phase before.
    fn advance(&self, to: Phase) -> Phase {
        let before = Phase::from_u8(self.phase.fetch_max(to as u8, Ordering::AcqRel));
        if before < to {
            self.moved.notify_waiters();
        }
        before
    }

    /// Resolves once the phase is `phase` or later.
    async fn reached(&self, phase: Phase) {
        loop {
            let mut moved = pin!(self.moved.notified());
            moved.as_mut().enable();
            if self.get() >= phase {
                return;
            }
            moved.await;
        }
    }
}

/// The app's shutdown: its phase, its close hooks and its close deadline. Owned by the app.
pub(crate) struct Shutdown {
    phase: Arc<PhaseCell>,
    /// Oldest first; run newest first.
    hooks: HookList<CloseHook>,
    deadline: Duration,
}

/// A part's view of the shutdown signal: fires once the app starts closing or is dropped. Cheap
/// to clone.
#[derive(Debug, Clone)]
pub(crate) struct ShutdownSignal {
    phase: Arc<PhaseCell>,
}

impl ShutdownSignal {
    /// Resolves once the signal has fired (at once if it already has).
    pub async fn fired(&self) {
        self.phase.reached(Phase::Closing).await;
    }

    /// True once the signal has fired.
    pub fn has_fired(&self) -> bool {
        self.phase.get() >= Phase::Closing
    }
}

impl Shutdown {
    /// An open app's shutdown, with the hooks to run (in reverse order) and the deadline for
    /// graceful connection ends.
    pub fn new(hooks: Vec<CloseHook>, deadline: Duration) -> Shutdown {
        let list = HookList::new();
        for hook in hooks {
            list.add(hook).keep();
        }
        Shutdown {
            phase: Arc::default(),
            hooks: list,
            deadline,
        }
    }

    /// The signal, for a part that must stop when the app closes.
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            phase: Arc::clone(&self.phase),
        }
    }

    /// Adds a close hook as the newest (run first) from now on.
    pub fn add_hook(&self, hook: CloseHook) -> HookRegistration {
        self.hooks.add(hook)
    }

    /// True once the app started closing (or was dropped).
    pub fn is_started(&self) -> bool {
        self.phase.get() >= Phase::Closing
    }

    /// How long connections may take to end gracefully.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Resolves once closing is forced: nothing graceful is waited for from then on.
    pub async fn forced(&self) {
        self.phase.reached(Phase::Forced).await;
    }

    /// Fires the signal for an app dropped without closing; true if it had not started closing
    /// (the caller then drops what is left at once).
    pub fn dropped(&self) -> bool {
        self.phase.advance(Phase::Forced) == Phase::Open
    }
}

/// Closes `app` (see the module docs); `force` for [`App::close_now`].
pub(crate) async fn close(app: &App, force: bool) {
    let inner = &app.inner;
    let shutdown = &inner.shutdown;
    let before = shutdown
        .phase
        .advance(if force { Phase::Forced } else { Phase::Closing });
    if before != Phase::Open {
        shutdown.phase.reached(Phase::Closed).await;
        return;
    }
    let id = inner.identity.id();
    info!(%id, "app closing");
    // The close hooks registered when closing started.
    let hooks = shutdown.hooks.snapshot();

    // 1. Stop listening, and stop new connections from being set up.
    let listened = inner.listening.stop().await;

    // 2. The close hooks, newest first (JS hook order), while connections are still open.
    for hook in hooks.iter().rev() {
        let run = AssertUnwindSafe(hook(app.clone())).catch_unwind();
        tokio::select! {
            outcome = run => if outcome.is_err() {
                warn!("a close hook panicked; closing carries on");
            },
            () = shutdown.forced() => debug!("close hook abandoned by close_now"),
        }
    }

    // 3. Every connection, and every task spawned for connections.
    inner.connections.close(shutdown).await;

    if listened {
        let _ = inner.events.send(Event::Close);
    }
    info!(%id, "app closed");
    shutdown.phase.advance(Phase::Closed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_phase_only_moves_forward_and_wakes_waiters() {
        let shutdown = Shutdown::new(Vec::new(), DEFAULT_CLOSE_DEADLINE);
        let signal = shutdown.signal();
        assert!(!shutdown.is_started());
        let waiter = tokio::spawn(async move { signal.fired().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(shutdown.phase.advance(Phase::Forced), Phase::Open);
        waiter.await.unwrap();
        assert_eq!(shutdown.phase.advance(Phase::Closing), Phase::Forced);
        assert_eq!(shutdown.phase.get(), Phase::Forced);
        assert!(shutdown.is_started());
        assert!(!shutdown.dropped());
        shutdown.forced().await;
    }
}
