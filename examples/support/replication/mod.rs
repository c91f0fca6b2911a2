//! Replication over secret-stack: each node keeps an append-only log of messages on disk and, on
//! every connection, pulls from the peer the messages it lacks of the feeds it follows, then keeps
//! live histories open, so messages spread from node to node as they are written (the
//! `replication` and `friends` examples and their tests).
//!
//! - [`message`]: a log entry, `{author, seq, content}`;
//! - [`store`]: the log file, checked line by line when opened;
//! - [`log`]: the `log` plugin serving it (`append`, `add`, `latest`, `history`, live or not);
//! - [`friends`]: the `friends` plugin, whom we follow and block, hooking `log.history` and `auth`;
//! - [`replicate`]: the `replicate` plugin pulling the followed feeds from each peer;
//! - [`node`]: an app with the three plugins, its identity and log in one data directory.

pub mod friends;
pub mod log;
pub mod message;
pub mod node;
pub mod replicate;
pub mod store;

pub use friends::{Friends, FriendsClient, FriendsError};
pub use log::{Appended, Log, LogClient, LogError};
pub use message::Message;
pub use replicate::{Replicate, ReplicateClient, Status};
pub use store::{LogStore, StoreError};
