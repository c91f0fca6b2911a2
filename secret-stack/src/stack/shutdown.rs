//! Closing an app: stop listening, run the close hooks, end every connection, wait for everything
//! the app spawned, then send [`Event::Close`].
//!
//! [`App::close`] ends connections gracefully (each finishes its outstanding calls and says
//! goodbye), forcing those still open after the close deadline; [`App::close_now`] forces them at
//! once. Both are idempotent and may race: a `close_now` during a `close` hurries it along, and
//! every caller returns once the app is fully closed.
//!
//! Deviation from JS 8.1.0, where a plain `app.close()` closes only the servers and leaves live
//! connections open (ssbc/secret-stack#83) and `close(true)` forces them: here a closed app has no
//! connection, listener or task left.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::rpc::RpcError;

use super::app::App;
use super::events::Event;
use super::peer::Peer;

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

/// Where an app is in closing.
#[derive(Debug)]
pub(crate) struct Closing {
    started: AtomicBool,
    /// Cancelled by `close_now`: stop waiting for anything graceful.
    force: CancellationToken,
    done: watch::Sender<bool>,
}

impl Default for Closing {
    fn default() -> Self {
        Closing {
            started: AtomicBool::new(false),
            force: CancellationToken::new(),
            done: watch::Sender::new(false),
        }
    }
}

impl Closing {
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }
}

/// Closes `app` (see the module docs); `force` for [`App::close_now`].
pub(crate) async fn close(app: &App, force: bool) {
    let inner = &app.inner;
    let closing = &inner.closing;
    if force {
        closing.force.cancel();
    }
    if closing.started.swap(true, Ordering::AcqRel) {
        let mut done = closing.done.subscribe();
        let _ = done.wait_for(|d| *d).await;
        return;
    }
    info!(id = %inner.keypair.public(), "app closing");

    // 1. Stop listening, and stop new connections from being set up.
    let listened = inner.stop_listening().await;

    // 2. The close hooks, newest first (JS hook order), while connections are still open.
    for hook in inner.close_hooks.iter().rev() {
        let run = AssertUnwindSafe(hook(app.clone())).catch_unwind();
        tokio::select! {
            outcome = run => if outcome.is_err() {
                warn!("a close hook panicked; closing carries on");
            },
            () = closing.force.cancelled() => debug!("close hook abandoned by close_now"),
        }
    }

    // 3. Every connection: gracefully within the deadline, or at once.
    let peers = inner.peers.close();
    debug!(connections = peers.len(), "closing connections");
    let deadline = inner.close_deadline;
    join_all(
        peers
            .into_iter()
            .map(|peer| end_connection(peer, deadline, &closing.force)),
    )
    .await;

    // 4. Everything spawned for connections (set-up, supervisors) ends with them.
    inner.tasks.close();
    inner.tasks.wait().await;

    if listened {
        let _ = inner.events.send(Event::Close);
    }
    info!(id = %inner.keypair.public(), "app closed");
    closing.done.send_replace(true);
}

async fn end_connection(peer: Peer, deadline: Duration, force: &CancellationToken) {
    tokio::select! {
        _ = peer.close() => return,
        () = tokio::time::sleep(deadline) => {
            debug!(connection = peer.connection(), "connection still busy at the close deadline");
        }
        () = force.cancelled() => {}
    }
    peer.close_now(RpcError::Closed);
    peer.closed().await;
}
