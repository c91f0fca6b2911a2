//! The `friends` plugin: whom this app follows and whom it blocks (after `ssb-friends`), and what
//! a block does to the rest of the app.
//!
//! | method | kind | who may call | what it does |
//! |---|---|---|---|
//! | `follow(id)` | async | the app itself, masters | follows `id` (and unblocks it); answers how many of its messages the log holds |
//! | `unfollow(id)` | async | the app itself, masters | stops following `id` |
//! | `block(id)` | async | the app itself, masters | blocks `id` (and stops following it) |
//! | `unblock(id)` | async | the app itself, masters | lifts the block |
//! | `isFollowing(id)` | async | anyone | true if we follow `id` |
//! | `isBlocking(id)` | async | anyone | true if we block `id` |
//! | `hops()` | async | anyone | `id` → distance: `0` us, `1` followed, `-1` blocked |
//!
//! It needs the `log` plugin, by type, and hooks it and the app from its init:
//!
//! - a typed hook on [`Log::HISTORY`] serves nothing of a blocked feed, to anyone, local or remote,
//!   and ends a history already open (a live one) when the feed, blocked meanwhile, has a next
//!   message, which it does not send;
//! - an `auth` hook refuses the connection of a blocked peer.
//!
//! A block does not close a connection the blocked peer already has; it refuses the next one.
//! The graph lives in memory: an app started again follows and blocks nobody.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use futures::future::ready;
use secret_stack::keys::PublicKey;
use secret_stack::plugin;
use secret_stack::plugin::HookRegistration;
use secret_stack::rpc::HookError;
use secret_stack::stack::{AuthDecision, NeedError, PluginInit};
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

use super::log::{Log, LogHandle};

/// Why a `friends` call failed, as the caller receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum FriendsError {
    /// The argument is not a feed id.
    #[error("friends: {0:?} is not a feed id (`@<base64>.ed25519`)")]
    NotAnId(String),
    /// Following or blocking ourselves makes no sense.
    #[error("friends: {0} is this app's own id")]
    Ourselves(String),
    /// Our own log could not be read.
    #[error("friends: reading the log: {0}")]
    Log(String),
}

/// Why the plugin could not start.
#[derive(Debug, thiserror::Error)]
pub enum FriendsInitError {
    /// The `log` plugin is missing or not made first.
    #[error(transparent)]
    Need(#[from] NeedError),
    /// The hook on the log could not be added.
    #[error(transparent)]
    Hook(#[from] HookError),
}

/// Whom we follow and whom we block.
#[derive(Debug, Default)]
struct Graph {
    following: BTreeSet<String>,
    blocking: BTreeSet<String>,
}

/// The graph behind a lock the plugin and its hooks share.
#[derive(Debug, Clone, Default)]
struct Shared(Arc<Mutex<Graph>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Graph> {
        // Every change is one insert or remove: a panic elsewhere leaves nothing half done.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_blocking(&self, id: &str) -> bool {
        self.lock().blocking.contains(id)
    }
}

/// The `friends` plugin of one app.
#[derive(Debug)]
pub struct Friends {
    us: String,
    graph: Shared,
    log: LogHandle,
    /// The hook on `log.history`: removed with the plugin.
    _history_hook: HookRegistration,
}

impl Friends {
    /// Takes the `log` plugin's handle, hooks its history and the app's `auth` (a
    /// [`Builder::plugin_init`](secret_stack::stack::Builder::plugin_init) factory).
    pub fn init(init: &PluginInit<'_>) -> Result<Friends, FriendsInitError> {
        let graph = Shared::default();
        let log = init.need::<Log>()?;

        let blocked = graph.clone();
        let history_hook =
            init.hook(Log::HISTORY, move |ctx, (author, from_seq, live), next| {
                if blocked.is_blocking(&author) {
                    debug!(%author, caller = %ctx.remote, "friends: not serving a blocked feed");
                    return futures::stream::empty().boxed();
                }
                // Blocked while the history is open (a live one stays open): it ends at the next
                // message, unsent.
                let (blocked, feed) = (blocked.clone(), author.clone());
                next.call(ctx, (author, from_seq, live))
                    .take_while(move |_| ready(!blocked.is_blocking(&feed)))
                    .boxed()
            })?;

        let blocked = graph.clone();
        init.auth_hook(move |id, next| {
            let refused = blocked.is_blocking(&id.id());
            async move {
                if refused {
                    info!(%id, "friends: refusing a blocked peer");
                    AuthDecision::Reject(format!("{id} is blocked"))
                } else {
                    next.run(id).await
                }
            }
        });

        Ok(Friends {
            us: init.id().id(),
            graph,
            log,
            _history_hook: history_hook,
        })
    }

    /// Checks that `id` is a feed id other than ours.
    fn feed(&self, id: String) -> Result<String, FriendsError> {
        if id.parse::<PublicKey>().is_err() {
            return Err(FriendsError::NotAnId(id));
        }
        if id == self.us {
            return Err(FriendsError::Ourselves(id));
        }
        Ok(id)
    }
}

#[plugin(
    name = "friends",
    version = "1.0.0",
    permission = "anonymous",
    needs(Log)
)]
impl Friends {
    /// Follows `id` and lifts a block on it; answers how many of its messages our log holds.
    #[permission(master)]
    async fn follow(&self, id: String) -> Result<u64, FriendsError> {
        let id = self.feed(id)?;
        {
            let mut graph = self.graph.lock();
            graph.blocking.remove(&id);
            graph.following.insert(id.clone());
        }
        let latest = self
            .log
            .latest()
            .await
            .map_err(|e| FriendsError::Log(e.to_string()))?;
        Ok(latest.get(&id).copied().unwrap_or(0))
    }

    /// Stops following `id`.
    #[permission(master)]
    async fn unfollow(&self, id: String) -> Result<(), FriendsError> {
        let id = self.feed(id)?;
        self.graph.lock().following.remove(&id);
        Ok(())
    }

    /// Blocks `id`: its messages are no longer served, its connections refused; we stop
    /// following it.
    #[permission(master)]
    async fn block(&self, id: String) -> Result<(), FriendsError> {
        let id = self.feed(id)?;
        let mut graph = self.graph.lock();
        graph.following.remove(&id);
        graph.blocking.insert(id);
        Ok(())
    }

    /// Lifts a block on `id`.
    #[permission(master)]
    async fn unblock(&self, id: String) -> Result<(), FriendsError> {
        let id = self.feed(id)?;
        self.graph.lock().blocking.remove(&id);
        Ok(())
    }

    /// True if we follow `id`.
    async fn is_following(&self, id: String) -> bool {
        self.graph.lock().following.contains(&id)
    }

    /// True if we block `id`.
    async fn is_blocking(&self, id: String) -> bool {
        self.graph.is_blocking(&id)
    }

    /// Every feed we have an opinion on, with its distance: `0` us, `1` followed, `-1` blocked.
    async fn hops(&self) -> BTreeMap<String, i64> {
        let graph = self.graph.lock();
        let followed = graph.following.iter().map(|id| (id.clone(), 1));
        let blocked = graph.blocking.iter().map(|id| (id.clone(), -1));
        std::iter::once((self.us.clone(), 0))
            .chain(followed)
            .chain(blocked)
            .collect()
    }
}
