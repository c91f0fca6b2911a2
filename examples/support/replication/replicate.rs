//! The `replicate` plugin: on every new connection, in either direction, pull what the peer's log
//! has and ours does not.
//!
//! For each connection it asks the peer's `log.latest`, compares with our own, and for every
//! author (but us) of whom the peer has more, streams `log.history(author, ourLatest)` from the
//! peer through the typed [`LogClient`] and stores each message with our own `log.add`. Messages
//! arrive in order; ones we already have are skipped, and a message that would leave a gap,
//! conflicts with ours, or is not by the author asked for ends that connection's sync with an
//! error (recorded in the status). What a peer learnt from others is passed on the same way, so
//! messages spread through intermediate peers (gossip).
//!
//! It pulls once per connection: messages written later reach a peer on its next connection.
//!
//! `replicate.status()` (async, the app and masters only) reports progress as a [`Status`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use secret_stack::plugin;
use secret_stack::rpc::{CallError, LocalCaller};
use secret_stack::stack::{Event, Peer, PluginInit, WeakApp};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::log::{LogClient, LogError};

/// What the plugin has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Syncs under way (one per connection).
    pub running: u64,
    /// Syncs that finished.
    pub completed: u64,
    /// Syncs that ended with an error.
    pub failed: u64,
    /// New messages stored, in all.
    pub received: u64,
    /// New messages stored, per peer id they came from.
    pub from: BTreeMap<String, u64>,
    /// The last sync error, if any.
    pub last_error: Option<String>,
}

/// Why one sync with a peer stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer's `log.latest` or `log.history` failed.
    #[error("asking the peer: {0}")]
    Peer(CallError<Infallible>),
    /// Our own log refused or could not store a message.
    #[error("storing: {0}")]
    Local(CallError<LogError>),
    /// Reading our own log failed.
    #[error("reading our log: {0}")]
    LocalRead(CallError<Infallible>),
    /// The peer answered a history request with someone else's message.
    #[error("asked for {asked}'s messages, the peer sent one of {got}")]
    WrongAuthor {
        /// The author asked for.
        asked: String,
        /// The author of what came.
        got: String,
    },
}

/// The `replicate` plugin of one app.
#[derive(Debug)]
pub struct Replicate {
    shared: Arc<Shared>,
}

/// What the plugin and its tasks share.
#[derive(Debug, Default)]
struct Shared {
    status: Mutex<Status>,
    /// The event loop and the running syncs: aborted when the app closes.
    tasks: Mutex<JoinSet<()>>,
}

impl Shared {
    fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tasks(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `task` until it ends or the app closes; forgets tasks that have finished.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks();
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }
}

/// Why the plugin could not start.
#[derive(Debug, thiserror::Error)]
#[error("replicate needs a tokio runtime to run its syncs: build the app inside one")]
pub struct NoRuntime;

impl Replicate {
    /// Starts watching the app's connections (a
    /// [`Builder::plugin_with`](secret_stack::stack::Builder::plugin_with) factory); the syncs
    /// stop when the app closes.
    pub fn init(init: &PluginInit<'_>) -> Result<Replicate, NoRuntime> {
        tokio::runtime::Handle::try_current().map_err(|_| NoRuntime)?;
        let shared = Arc::new(Shared::default());
        let watcher = run(
            init.events(),
            init.app(),
            init.id().id(),
            Arc::clone(&shared),
        );
        shared.spawn(watcher);
        let on_close = Arc::clone(&shared);
        init.close_hook(move |_| {
            on_close.tasks().abort_all();
            std::future::ready(())
        });
        Ok(Replicate { shared })
    }
}

#[plugin(name = "replicate", version = "1.0.0", needs = ["log"])]
impl Replicate {
    /// What the plugin has done so far.
    async fn status(&self) -> Status {
        self.shared.status().clone()
    }
}

/// Starts a sync for each new connection, until the app closes or is dropped.
async fn run(
    mut events: broadcast::Receiver<Event>,
    app: WeakApp,
    us: String,
    shared: Arc<Shared>,
) {
    loop {
        match events.recv().await {
            Ok(Event::Connect { peer, .. }) => {
                let Some(app) = app.upgrade() else { break };
                shared.status().running += 1;
                let task = sync_task(peer, app.local(), us.clone(), Arc::clone(&shared));
                shared.spawn(task);
            }
            Ok(Event::Close) | Err(RecvError::Closed) => break,
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                warn!(
                    missed,
                    "replicate fell behind the app's events: some connections are not synced"
                );
            }
        }
    }
    debug!("replicate stopped watching connections");
}

/// One sync, with its outcome recorded in the status.
async fn sync_task(peer: Peer, local: LocalCaller, us: String, shared: Arc<Shared>) {
    let id = peer.id().id();
    let result = sync(&peer, local, &us, &shared).await;
    let mut status = shared.status();
    status.running = status.running.saturating_sub(1);
    match result {
        Ok(received) => {
            status.completed += 1;
            info!(peer = %id, received, "synced");
        }
        Err(e) => {
            status.failed += 1;
            warn!(peer = %id, "sync failed: {e}");
            status.last_error = Some(format!("{id}: {e}"));
        }
    }
}

/// Pulls every author's messages the peer has beyond ours; returns how many were new.
async fn sync(
    peer: &Peer,
    local: LocalCaller,
    us: &str,
    shared: &Shared,
) -> Result<u64, SyncError> {
    let remote = LogClient::new(peer.clone());
    let local = LogClient::new(local);
    let theirs = remote.latest().await.map_err(SyncError::Peer)?;
    let ours = local.latest().await.map_err(SyncError::LocalRead)?;
    let peer_id = peer.id().id();
    let mut received = 0;
    for (author, their_seq) in theirs {
        let our_seq = ours.get(&author).copied().unwrap_or(0);
        if author == us || their_seq <= our_seq {
            continue;
        }
        debug!(peer = %peer_id, %author, from = our_seq, to = their_seq, "pulling");
        let mut history = remote.history(author.clone(), our_seq);
        while let Some(message) = history.next().await {
            let message = message.map_err(SyncError::Peer)?;
            if message.author != author {
                return Err(SyncError::WrongAuthor {
                    asked: author,
                    got: message.author,
                });
            }
            if local.add(message).await.map_err(SyncError::Local)? {
                received += 1;
                let mut status = shared.status();
                status.received += 1;
                *status.from.entry(peer_id.clone()).or_default() += 1;
            }
        }
    }
    Ok(received)
}
