//! Who is calling a method and what they may do: the [`CallContext`] every handler receives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::permissions::Permissions;
use crate::keys::PublicKey;

/// Who is calling and what they may do: the Rust counterpart of JS's `this` in a muxrpc method.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The caller's identity (our own key for local calls).
    pub remote: PublicKey,
    /// The permissions the caller's connection was granted.
    pub permissions: Arc<Permissions>,
    /// The connection the call came over: unique per connection within the process (the stack
    /// numbers them from 1), `0` for local calls. Plugins key per-connection state on it.
    pub connection: u64,
}

impl CallContext {
    /// The context of calls arriving over connection number `connection`.
    pub fn new(remote: PublicKey, permissions: Permissions, connection: u64) -> Self {
        CallContext {
            remote,
            permissions: Arc::new(permissions),
            connection,
        }
    }

    /// A connection number not handed out before in this process (they start at 1; `0` is kept
    /// for local calls). Anything that starts RPC sessions outside the stack takes its numbers here
    /// so they never collide with the stack's.
    pub fn next_connection_id() -> u64 {
        static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);
        NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed)
    }

    /// The context of the node calling itself: its own key, full permissions, connection `0`.
    pub fn local(own: PublicKey) -> Self {
        CallContext::new(own, Permissions::full(), 0)
    }
}
