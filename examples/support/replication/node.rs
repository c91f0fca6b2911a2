//! A replicating node: an app with the `log`, `friends` and `replicate` plugins, its identity and its log
//! kept in one data directory (`<dir>/secret`, `<dir>/log.jsonl`), so that a node started again
//! from the same directory is the same author with the same log.

use std::path::Path;
use std::time::Duration;

use secret_stack::keys::{AppKey, KeyFileError, load_or_create_key_file};
use secret_stack::rpc::CallError;
use secret_stack::stack::{App, Builder, Config, ConfigError, SecretStack, StartError};
use serde_json::json;

use super::friends::{Friends, FriendsClient, FriendsError};
use super::log::{Log, LogClient};
use super::replicate::{Replicate, ReplicateClient, Status};

/// The network the replicating nodes belong to.
pub const APP_KEY: AppKey = AppKey([0x5e; 32]);

/// The file holding a node's key pair, inside its data directory.
pub const SECRET_FILE: &str = "secret";

/// Why a node could not start, or did not get where it was expected to.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The key file could not be read or created.
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    /// The config was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The app did not start (a plugin factory failed, for one: a corrupt log).
    #[error(transparent)]
    Start(#[from] StartError),
    /// `friends.follow` failed.
    #[error("friends.follow: {0}")]
    Friends(CallError<FriendsError>),
    /// `replicate.status` failed.
    #[error("replicate.status: {0}")]
    Status(CallError<std::convert::Infallible>),
    /// `log.latest` failed.
    #[error("log.latest: {0}")]
    Log(CallError<std::convert::Infallible>),
    /// A message did not arrive in time.
    #[error("after {waited:?}, the log has {author}#{has}, not #{expected}")]
    NotArrived {
        /// How long we waited.
        waited: Duration,
        /// The author waited for.
        author: String,
        /// The author's latest seq in the log.
        has: u64,
        /// The seq waited for.
        expected: u64,
    },
    /// The syncs did not finish in time.
    #[error("after {waited:?}, {done} syncs finished, not {expected} (status {status:?})")]
    Timeout {
        /// How long we waited.
        waited: Duration,
        /// Finished syncs (completed or failed).
        done: u64,
        /// Finished syncs expected.
        expected: u64,
        /// The last status seen.
        status: Box<Status>,
    },
}

/// The builder of replicating nodes: the `log` plugin, `friends` (which needs it), then
/// `replicate` (which needs both).
pub fn builder() -> Builder {
    SecretStack::builder()
        .app_key(APP_KEY)
        .plugin_with("log", Log::init)
        .plugin_init(Friends::init)
        .plugin_init(Replicate::init)
}

/// Makes `app` follow each of `others` (through its `friends` plugin).
pub async fn follow(app: &App, others: &[&App]) -> Result<(), NodeError> {
    let friends = FriendsClient::new(app.local());
    for other in others {
        friends
            .follow(other.id().id())
            .await
            .map_err(NodeError::Friends)?;
    }
    Ok(())
}

/// Starts the node whose data lives in `dir` (created if needed), listening on 127.0.0.1.
pub async fn start(dir: &Path) -> Result<App, NodeError> {
    let keys = load_or_create_key_file(dir.join(SECRET_FILE))?;
    let config = Config::from_json(json!({
        "global": {"host": "127.0.0.1"},
        "log": {"dir": dir},
    }))?;
    Ok(builder().keypair(keys).start(config).await?)
}

/// The node's replication status.
pub async fn status(app: &App) -> Result<Status, NodeError> {
    ReplicateClient::new(app.local())
        .status()
        .await
        .map_err(NodeError::Status)
}

/// Waits until at least `expected` syncs have finished (completed or failed) and none is running.
pub async fn wait_for_syncs(
    app: &App,
    expected: u64,
    within: Duration,
) -> Result<Status, NodeError> {
    let start = tokio::time::Instant::now();
    loop {
        let now = status(app).await?;
        let done = now.completed + now.failed;
        if done >= expected && now.running == 0 {
            return Ok(now);
        }
        if start.elapsed() >= within {
            return Err(NodeError::Timeout {
                waited: within,
                done,
                expected,
                status: Box::new(now),
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the node's log holds `author`'s message number `seq` (as it arrives live, say).
pub async fn wait_for_message(
    app: &App,
    author: &str,
    seq: u64,
    within: Duration,
) -> Result<(), NodeError> {
    let log = LogClient::new(app.local());
    let start = tokio::time::Instant::now();
    loop {
        let latest = log.latest().await.map_err(NodeError::Log)?;
        let has = latest.get(author).copied().unwrap_or(0);
        if has >= seq {
            return Ok(());
        }
        if start.elapsed() >= within {
            return Err(NodeError::NotArrived {
                waited: within,
                author: author.to_owned(),
                has,
                expected: seq,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
