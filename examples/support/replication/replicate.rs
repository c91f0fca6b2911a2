//! The `replicate` plugin: on every new connection, in either direction, catch up with the feeds
//! we follow, then keep a live history open per followed feed, so what the peer stores from then
//! on reaches us over the same connection.
//!
//! Which feeds: those the `friends` plugin says we follow (`friends.hops`, distance 1), through
//! its typed handle; nothing else is asked for. For each connection, first the catch-up (a
//! "sync"): it asks the peer's `log.latest` and, for every followed feed of which the peer has
//! more, streams `log.history(feed, ourLatest)` through the typed [`LogClient`] and stores each
//! message with our own `log.add`. Then, for every followed feed, a live
//! `log.history(feed, ourLatest, live)`, each new message stored the same way, until the
//! connection or the app closes. Messages arrive in order; ones we already have (from another
//! peer) are skipped, and a message that would leave a gap, conflicts with ours, or is not by the
//! author asked for ends that stream with an error (recorded in the status). What a peer learnt
//! from others is passed on the same way, so messages spread through intermediate peers
//! (gossip) — live, while the connections stay up.
//!
//! The feeds followed are read when a connection starts: following a feed later takes effect on
//! the next connection.
//!
//! `replicate.status()` (async, the app and masters only) reports progress as a [`Status`].

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use secret_stack::plugin;
use secret_stack::rpc::{CallError, LocalCaller};
use secret_stack::stack::{Event, NeedError, Peer, PluginInit, WeakApp};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::friends::{Friends, FriendsHandle};
use super::log::{Log, LogClient, LogError};

/// What the plugin has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Syncs (catch-ups) under way (one per connection).
    pub running: u64,
    /// Live histories open from peers (one per followed feed and connection).
    pub live: u64,
    /// Syncs that finished.
    pub completed: u64,
    /// Syncs that ended with an error.
    pub failed: u64,
    /// New messages stored, in all.
    pub received: u64,
    /// New messages stored, per peer id they came from.
    pub from: BTreeMap<String, u64>,
    /// Of those, the ones that came over a live history.
    pub received_live: u64,
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
pub enum ReplicateInitError {
    /// There is no tokio runtime to run the syncs on.
    #[error("replicate needs a tokio runtime to run its syncs: build the app inside one")]
    NoRuntime,
    /// The `friends` plugin is missing or not made first.
    #[error(transparent)]
    Need(#[from] NeedError),
}

impl Replicate {
    /// Starts watching the app's connections (a
    /// [`Builder::plugin_init`](secret_stack::stack::Builder::plugin_init) factory); the syncs
    /// and live histories stop when the app closes.
    pub fn init(init: &PluginInit<'_>) -> Result<Replicate, ReplicateInitError> {
        tokio::runtime::Handle::try_current().map_err(|_| ReplicateInitError::NoRuntime)?;
        let shared = Arc::new(Shared::default());
        let watcher = run(
            init.events(),
            init.app(),
            init.need::<Friends>()?,
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

#[plugin(name = "replicate", version = "1.0.0", needs(Log, Friends))]
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
    friends: FriendsHandle,
    shared: Arc<Shared>,
) {
    loop {
        match events.recv().await {
            Ok(Event::Connect { peer, .. }) => {
                let Some(app) = app.upgrade() else { break };
                shared.status().running += 1;
                let task = connection_task(peer, app.local(), friends.clone(), Arc::clone(&shared));
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

/// One connection: the catch-up, with its outcome recorded in the status, then one live history
/// per followed feed until the connection or the app closes.
async fn connection_task(
    peer: Peer,
    local: LocalCaller,
    friends: FriendsHandle,
    shared: Arc<Shared>,
) {
    let id = peer.id().id();
    let followed = match friends.hops().await {
        Ok(hops) => hops
            .into_iter()
            .filter(|&(_, hops)| hops == 1)
            .map(|(feed, _)| feed)
            .collect(),
        Err(e) => {
            record_failure(&shared, &id, &format!("asking friends: {e}"));
            return;
        }
    };
    let link = Link {
        remote: LogClient::new(peer),
        local: LogClient::new(local),
        peer_id: id.clone(),
        shared,
    };
    match link.catch_up(&followed).await {
        Ok(received) => {
            let mut status = link.shared.status();
            status.running = status.running.saturating_sub(1);
            status.completed += 1;
            info!(peer = %id, received, "synced");
        }
        Err(e) => return record_failure(&link.shared, &id, &e.to_string()),
    }
    let live = followed.into_iter().map(|feed| link.follow_live(feed));
    futures::future::join_all(live).await;
}

/// Ends a sync as failed and keeps its error.
fn record_failure(shared: &Shared, peer_id: &str, error: &str) {
    warn!(peer = %peer_id, "sync failed: {error}");
    let mut status = shared.status();
    status.running = status.running.saturating_sub(1);
    status.failed += 1;
    status.last_error = Some(format!("{peer_id}: {error}"));
}

/// One connection's two ends of the log.
struct Link {
    remote: LogClient<Peer>,
    local: LogClient<LocalCaller>,
    peer_id: String,
    shared: Arc<Shared>,
}

impl Link {
    /// Pulls the messages of the followed feeds the peer has beyond ours; returns how many were
    /// new.
    async fn catch_up(&self, followed: &BTreeSet<String>) -> Result<u64, SyncError> {
        let theirs = self.remote.latest().await.map_err(SyncError::Peer)?;
        let ours = self.local.latest().await.map_err(SyncError::LocalRead)?;
        let mut received = 0;
        for (author, their_seq) in theirs {
            let our_seq = ours.get(&author).copied().unwrap_or(0);
            if !followed.contains(&author) || their_seq <= our_seq {
                continue;
            }
            debug!(peer = %self.peer_id, %author, from = our_seq, to = their_seq, "pulling");
            received += self.pull(&author, our_seq, false).await?;
        }
        Ok(received)
    }

    /// Keeps a live history of `feed` open from the peer, storing what comes, until it ends.
    async fn follow_live(&self, feed: String) {
        let our_seq = match self.local.latest().await {
            Ok(ours) => ours.get(&feed).copied().unwrap_or(0),
            Err(e) => return self.live_error(&SyncError::LocalRead(e)),
        };
        self.shared.status().live += 1;
        debug!(peer = %self.peer_id, %feed, from = our_seq, "live history open");
        let result = self.pull(&feed, our_seq, true).await;
        self.shared.status().live -= 1;
        match result {
            Ok(_) => debug!(peer = %self.peer_id, %feed, "live history ended"),
            Err(e) => self.live_error(&e),
        }
    }

    fn live_error(&self, e: &SyncError) {
        warn!(peer = %self.peer_id, "live history failed: {e}");
        self.shared.status().last_error = Some(format!("{}: {e}", self.peer_id));
    }

    /// Streams `author`'s history from `from_seq` from the peer into our log; returns how many
    /// messages were new.
    async fn pull(&self, author: &str, from_seq: u64, live: bool) -> Result<u64, SyncError> {
        let mut history = self.remote.history(author.to_owned(), from_seq, live);
        let mut received = 0;
        while let Some(message) = history.next().await {
            let message = message.map_err(SyncError::Peer)?;
            if message.author != author {
                return Err(SyncError::WrongAuthor {
                    asked: author.to_owned(),
                    got: message.author,
                });
            }
            if self.local.add(message).await.map_err(SyncError::Local)? {
                received += 1;
                let mut status = self.shared.status();
                status.received += 1;
                status.received_live += u64::from(live);
                *status.from.entry(self.peer_id.clone()).or_default() += 1;
            }
        }
        Ok(received)
    }
}
