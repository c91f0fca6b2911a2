//! The `log` plugin: an app's append-only message log ([`LogStore`]), served over RPC.
//!
//! | method | kind | who may call | what it does |
//! |---|---|---|---|
//! | `append(content)` | async | the app itself, masters | writes the app's next message |
//! | `add(message)` | async | the app itself, masters | stores another author's message (used by `replicate`) |
//! | `latest()` | async | anyone | author → highest seq |
//! | `history(author, fromSeq)` | source | anyone | `author`'s messages after `fromSeq` |
//!
//! Its config section names the directory of the log file: `{"log": {"dir": "/path"}}`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secret_stack::plugin;
use secret_stack::rpc::Source;
use secret_stack::stack::PluginInit;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// The `log` plugin of one app.
#[derive(Debug)]
pub struct Log {
    /// The app's id: the author of what `append` writes.
    author: String,
    store: LogStore,
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
            store: LogStore::open(&dir)?,
        })
    }
}

#[plugin(name = "log", version = "1.0.0", permission = "anonymous")]
impl Log {
    /// Writes this app's next message.
    #[permission(master)]
    async fn append(&self, content: String) -> Result<Message, LogError> {
        self.store
            .append(&self.author, content)
            .map_err(|e| LogError::Storage(e.to_string()))
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
        match self.store.add(message) {
            Ok(added) => Ok(added == Added::New),
            Err(e @ StoreError::Rejected { .. }) => Err(LogError::Rejected(e.to_string())),
            Err(e) => Err(LogError::Storage(e.to_string())),
        }
    }

    /// Every author's highest sequence number.
    async fn latest(&self) -> BTreeMap<String, u64> {
        self.store.latest()
    }

    /// The messages of `author` after `from_seq`, in order.
    fn history(&self, author: String, from_seq: u64) -> Source<Message> {
        Source::iter(self.store.history(&author, from_seq))
    }
}
