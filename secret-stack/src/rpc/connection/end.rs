//! How an RPC session ended, as reported by [`RpcHandle::closed`](super::RpcHandle::closed).

use crate::rpc::error::RpcError;

/// Why a session is over.
#[derive(Debug, Clone)]
pub enum SessionEnd {
    /// We closed it gracefully ([`RpcHandle::close`](super::RpcHandle::close)).
    Closed,
    /// The peer sent its goodbye.
    PeerGoodbye,
    /// We closed it by force ([`RpcHandle::close_now`](super::RpcHandle::close_now)).
    Forced(RpcError),
    /// The transport ended or failed without a goodbye.
    ConnectionLost,
    /// The peer broke the protocol (malformed frame, oversize body, invalid JSON...).
    Protocol(String),
}

impl SessionEnd {
    /// The error that outstanding calls and streams fail with when the session ends this way.
    pub fn error(&self) -> RpcError {
        match self {
            SessionEnd::Closed => RpcError::Closed,
            SessionEnd::PeerGoodbye | SessionEnd::ConnectionLost => RpcError::ConnectionLost,
            SessionEnd::Forced(e) => e.clone(),
            SessionEnd::Protocol(msg) => RpcError::Protocol(msg.clone()),
        }
    }

    /// True for the two normal endings: our graceful close and the peer's goodbye.
    pub fn is_clean(&self) -> bool {
        matches!(self, SessionEnd::Closed | SessionEnd::PeerGoodbye)
    }
}
