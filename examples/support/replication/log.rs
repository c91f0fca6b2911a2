//! The `log` plugin: an app's append-only message log ([`LogStore`]), served over RPC.
//!
//! | method | kind | who may call | what it does |
//! |---|---|---|---|
//! | `append(content)` | async | the app itself, masters | writes the app's next message |
//! | `add(message)` | async | the app itself, masters | stores another author's message (used by `replicate`) |
//! | `latest()` | async | anyone | author → highest seq |
//! | `history(author, fromSeq, live)` | source | anyone | `author`'s messages after `fromSeq`; with `live`, then each new one as it is stored, until the app closes |
//!
//! Every message stored (written with `append` or added with `add`) is announced to the app as an
//! [`Appended`] plugin event; live histories wake up on it. Its config section names the directory
//! of the log file: `{"log": {"dir": "/path"}}`.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use secret_stack::plugin;
use secret_stack::rpc::Source;
use secret_stack::stack::{PluginInit, WeakApp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use super::message::Message;
use super::store::{Added, LogStore, StoreError};

/// Why a `log` call failed, as the caller receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum LogError {
    /// The log file could not be written.
    #[error("log: {0}")]
    Storage(String),
    /// The message was refused (malformed, a gap, a conflict, or one of the log's own author).
    #[error("log.add: {0}")]
    Rejected(String),
}

/// Why the plugin could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogInitError {
    /// The config section has no usable `dir`.
    #[error("config log.dir: {0}")]
    Config(String),
    /// The log could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The plugin event the `log` plugin emits for each message it stores ([`App::emit`]; subscribe
/// with [`App::subscribe::<Appended>()`](secret_stack::stack::App::subscribe)).
///
/// [`App::emit`]: secret_stack::stack::App::emit
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The message's author.
    pub author: String,
    /// Its sequence number.
    pub seq: u64,
}

/// The `log` plugin of one app.
#[derive(Debug)]
pub struct Log {
    /// The app's id: the author of what `append` writes.
    author: String,
    store: Arc<LogStore>,
    app: WeakApp,
}

impl Log {
    /// Opens the log in the directory of the config's `log.dir`, as the app's own log (a
    /// [`Builder::plugin_with`](secret_stack::stack::Builder::plugin_with) factory).
    pub fn init(init: &PluginInit<'_>) -> Result<Log, LogInitError> {
        let dir = match init.section().and_then(|s| s.get("dir")) {
            Some(Value::String(dir)) if !dir.is_empty() => PathBuf::from(dir),
            Some(other) => {
                return Err(LogInitError::Config(format!(
                    "expected a directory name, not {other}"
                )));
            }
            None => return Err(LogInitError::Config("missing".to_owned())),
        };
        Ok(Log {
            author: init.id().id(),
            store: Arc::new(LogStore::open(&dir)?),
            app: init.app(),
        })
    }

    /// Tells the app's subscribers (live histories among them) that `message` was stored.
    fn announce(&self, message: &Message) {
        if let Some(app) = self.app.upgrade() {
            app.emit(Appended {
                author: message.author.clone(),
                seq: message.seq,
            });
        }
    }

    /// `author`'s messages after `from_seq`, then each new one, until the app starts closing.
    fn live(&self, author: String, from_seq: u64) -> Source<Message> {
        let Some(app) = self.app.upgrade() else {
            return Source::empty();
        };
        // Subscribe before the first read: a message stored in between is then both read and
        // announced, never missed.
        let state = Live {
            store: Arc::clone(&self.store),
            author,
            last: from_seq,
            pending: VecDeque::new(),
            appended: app.subscribe::<Appended>(),
        };
        Source::new(live_messages(state).take_until(app.closing()))
    }
}

/// Where a live history is.
struct Live {
    store: Arc<LogStore>,
    author: String,
    /// The last seq handed out.
    last: u64,
    /// Messages read from the store, not handed out yet.
    pending: VecDeque<Message>,
    appended: broadcast::Receiver<Appended>,
}

/// The messages of a live history: whatever the store has after the last one handed out, then,
/// each time the author's next message is announced (or announcements were missed), the store
/// again. The store is the truth; announcements only wake the reader.
fn live_messages(state: Live) -> impl Stream<Item = Message> + Send + 'static {
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(message) = state.pending.pop_front() {
                state.last = message.seq;
                return Some((message, state));
            }
            state.pending = state.store.history(&state.author, state.last).into();
            if !state.pending.is_empty() {
                continue;
            }
            loop {
                match state.appended.recv().await {
                    Ok(a) if a.author == state.author && a.seq > state.last => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
}

#[plugin(name = "log", version = "1.0.0", permission = "anonymous")]
impl Log {
    /// Writes this app's next message.
    #[permission(master)]
    async fn append(&self, content: String) -> Result<Message, LogError> {
        let message = self
            .store
            .append(&self.author, content)
            .map_err(|e| LogError::Storage(e.to_string()))?;
        self.announce(&message);
        Ok(message)
    }

    /// Stores a message of another author: true if it was new, false if the log had it.
    #[permission(master)]
    async fn add(&self, message: Message) -> Result<bool, LogError> {
        if message.author == self.author {
            return Err(LogError::Rejected(format!(
                "{}#{} is ours: our own messages are written with append",
                message.author, message.seq
            )));
        }
        match self.store.add(message.clone()) {
            Ok(Added::New) => {
                self.announce(&message);
                Ok(true)
            }
            Ok(Added::Duplicate) => Ok(false),
            Err(e @ StoreError::Rejected { .. }) => Err(LogError::Rejected(e.to_string())),
            Err(e) => Err(LogError::Storage(e.to_string())),
        }
    }

    /// Every author's highest sequence number.
    async fn latest(&self) -> BTreeMap<String, u64> {
        self.store.latest()
    }

    /// The messages of `author` after `from_seq`, in order; with `live`, the source stays open
    /// and sends each new message of `author` as it is stored, until the app starts closing.
    fn history(&self, author: String, from_seq: u64, live: bool) -> Source<Message> {
        if live {
            return self.live(author, from_seq);
        }
        Source::iter(self.store.history(&author, from_seq))
    }
}
