//! Replication over secret-stack: each node keeps an append-only log of messages on disk and, on
//! every connection, pulls from the peer the messages it lacks, so messages spread from node to
//! node (the `replication` example and its test).
//!
//! - [`message`]: a log entry, `{author, seq, content}`;
//! - [`store`]: the log file, checked line by line when opened;
//! - [`log`]: the `log` plugin serving it (`append`, `add`, `latest`, `history`);
//! - [`replicate`]: the `replicate` plugin pulling from each new peer;
//! - [`node`]: an app with both plugins, its identity and log in one data directory.

pub mod log;
pub mod message;
pub mod node;
pub mod replicate;
pub mod store;

pub use log::{Log, LogClient, LogError};
pub use message::Message;
pub use replicate::{Replicate, ReplicateClient, Status};
pub use store::{LogStore, StoreError};
