//! A live connection of an app ([`Peer`]: JS's per-connection `rpc` object).

use crate::keys::PublicKey;
use crate::rpc::{CallerHandle, RpcError, RpcHandle, SessionEnd};

/// One connection, in either direction: who is at the other end, how it was reached, and the RPC
/// session over it. Cheap to clone; every clone drives the same connection.
///
/// It implements [`Caller`](crate::rpc::Caller), so typed clients work over it; [`Peer::rpc`] gives the whole
/// [`RpcHandle`] (typed calls, sinks fed through channels, deadlines). As in JS, calls are made
/// against the remote's API as named by our own manifest (no `manifest` call is made first).
#[derive(Clone)]
pub struct Peer {
    id: PublicKey,
    address: String,
    is_client: bool,
    connection: u64,
    transport: String,
    rpc: RpcHandle,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.id.id())
            .field("address", &self.address)
            .field("is_client", &self.is_client)
            .field("connection", &self.connection)
            .finish()
    }
}

impl Peer {
    pub(crate) fn new(
        id: PublicKey,
        address: String,
        is_client: bool,
        connection: u64,
        transport: String,
        rpc: RpcHandle,
    ) -> Peer {
        Peer {
            id,
            address,
            is_client,
            connection,
            transport,
            rpc,
        }
    }

    /// The remote's identity (JS `rpc.id`). For `noauth` connections, our own key, as in JS.
    pub fn id(&self) -> PublicKey {
        self.id
    }

    /// The connection's multiserver address (JS `rpc.stream.address`), as JS 8.1.0 records it:
    /// what we dialled (`net:<host>:<port>~shs:<remote key>`), or for an accepted connection where
    /// it came from (`net:<ip>:<port>~shs:<remote key>`, the port being the remote's own end of
    /// the socket). Handlers see it as [`CallContext::address`](crate::rpc::CallContext::address).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// True if we dialled it.
    pub fn is_client(&self) -> bool {
        self.is_client
    }

    /// The connection's number, as handlers see it in
    /// [`CallContext::connection`](crate::rpc::CallContext::connection).
    pub fn connection(&self) -> u64 {
        self.connection
    }

    /// The name of the transport that carries it (`net`, `ws`, `unix`, or a plugin's own; JS
    /// `rpc.meta`, the metadata the transport's stream carries). JS's built-in transports leave
    /// `rpc.meta` undefined; here every transport names itself, so it is never empty. Handlers see
    /// it as [`CallContext::transport`](crate::rpc::CallContext::transport).
    pub fn transport(&self) -> &str {
        &self.transport
    }

    /// The RPC session.
    pub fn rpc(&self) -> &RpcHandle {
        &self.rpc
    }

    /// A weak handle to this connection, for remembering a peer without keeping it alive: calls on
    /// it fail with [`RpcError::Closed`] once the connection has ended. It is what handlers get
    /// from [`CallContext::caller`](crate::rpc::CallContext::caller).
    pub fn downgrade(&self) -> CallerHandle {
        self.rpc.downgrade()
    }

    /// Closes gracefully (JS `rpc.close()`): waits for outstanding calls and streams, then says
    /// goodbye. Resolves with how the session ended.
    pub async fn close(&self) -> SessionEnd {
        self.rpc.close().await
    }

    /// Closes at once (JS `rpc.close(err)`): outstanding calls fail with `error`.
    pub fn close_now(&self, error: RpcError) {
        self.rpc.close_now(error);
    }

    /// Resolves when the session is over.
    pub async fn closed(&self) -> SessionEnd {
        self.rpc.closed().await
    }

    /// True once the connection takes no new calls (JS `rpc.closed`).
    pub fn is_closed(&self) -> bool {
        self.rpc.is_closed()
    }
}

crate::rpc::caller::forward_caller!(
    /// A peer places its calls on its connection.
    impl for Peer, |this| &this.rpc
);
