//! What an app tells its observers: the Rust counterpart of the JS app's EventEmitter events
//! (`multiserver:listening`, `rpc:connect`, `close`), plus the end of each
//! connection, which JS only reports on the rpc object (`closed`).
//!
//! Events go out on a [`tokio::sync::broadcast`] channel: every receiver sees every event sent
//! after it subscribed, in order; a receiver that falls more than [`EVENT_CAPACITY`] events behind
//! gets `RecvError::Lagged` and misses the oldest ones. Sending never waits for receivers.

use crate::keys::PublicKey;
use crate::rpc::SessionEnd;

use super::peer::Peer;

/// How many events a slow receiver may fall behind before it misses some.
pub const EVENT_CAPACITY: usize = 1024;

/// Something that happened to an app.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Every configured listener has been started (JS `multiserver:listening`). As in JS it is sent
    /// even when some listeners failed to start; those failures are logged (`warn`).
    Listening,
    /// A connection completed its handshake and its RPC session started (JS `rpc:connect`). Sent
    /// before [`App::connect`](super::App::connect) returns the same peer.
    Connect {
        /// The new connection.
        peer: Peer,
        /// True if this app dialled it.
        is_client: bool,
    },
    /// A connection ended (JS: the rpc's `closed` event). Not in JS's app events; sent once per
    /// [`Event::Connect`], after the peer has left [`App::peers`](super::App::peers).
    Disconnect {
        /// The remote's identity.
        id: PublicKey,
        /// The connection's multiserver address.
        address: String,
        /// True if this app had dialled it.
        is_client: bool,
        /// The connection's number (as in [`CallContext::connection`](crate::rpc::CallContext)).
        connection: u64,
        /// Why it ended.
        reason: DisconnectReason,
    },
    /// The app finished closing (JS `close`). As in JS, an app that never started listening sends
    /// none.
    Close,
}

/// Why a connection ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The RPC session ended: closed by either side, lost, or broken by the peer.
    Ended(SessionEnd),
    /// No byte went either way for the configured inactivity timeout, so the connection was
    /// dropped without goodbyes (JS: pull-inactivity).
    Inactive,
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisconnectReason::Ended(SessionEnd::Closed) => f.write_str("closed by us"),
            DisconnectReason::Ended(SessionEnd::PeerGoodbye) => f.write_str("closed by the peer"),
            DisconnectReason::Ended(SessionEnd::Forced(e)) => write!(f, "closed by force: {e}"),
            DisconnectReason::Ended(SessionEnd::ConnectionLost) => f.write_str("connection lost"),
            DisconnectReason::Ended(SessionEnd::Protocol(e)) => write!(f, "protocol error: {e}"),
            DisconnectReason::Inactive => f.write_str("inactivity timeout"),
        }
    }
}
