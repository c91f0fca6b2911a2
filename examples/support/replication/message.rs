//! One entry of a replicated log: who wrote it, its position in the author's own sequence, and
//! its text. It is both the on-disk line (`{"author":…,"seq":…,"content":…}`) and what the `log`
//! plugin sends to peers.

use secret_stack::keys::PublicKey;
use serde::{Deserialize, Serialize};

/// The longest `content` a log accepts, in bytes: a bound on what a peer can make us store.
pub const MAX_CONTENT: usize = 8 * 1024;

/// A message of an author's append-only feed.
///
/// Messages are not signed: a peer could hand out forged messages in someone else's name. Real
/// Scuttlebutt feeds sign each message and chain it to the previous one; this demo only checks
/// that the author is a well-formed id and that sequence numbers have no gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The author's id, `@<base64>.ed25519`.
    pub author: String,
    /// The message's position in the author's feed, from 1.
    pub seq: u64,
    /// The text.
    pub content: String,
}

impl Message {
    /// Checks what can be checked without the rest of the log: the author is an ed25519 id, the
    /// sequence starts at 1, the content is not too long. Says what is wrong otherwise.
    pub fn check(&self) -> Result<(), String> {
        if self.author.parse::<PublicKey>().is_err() {
            return Err(format!("author {:?} is not an ed25519 id", self.author));
        }
        if self.seq == 0 {
            return Err("seq must start at 1".to_owned());
        }
        if self.content.len() > MAX_CONTENT {
            return Err(format!(
                "content is {} bytes, more than {MAX_CONTENT}",
                self.content.len()
            ));
        }
        Ok(())
    }
}
