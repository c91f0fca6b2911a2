//! A live connection of an app ([`Peer`]: JS's per-connection `rpc` object) and the registry of
//! them (JS `app.peers`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::keys::PublicKey;
use crate::rpc::{RpcError, RpcHandle, SessionEnd};

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

    /// The connection's multiserver address (JS `rpc.stream.address`): what we dialled, or for
    /// an accepted connection where it came from (`net:<ip>:<port>~shs:<remote key>`).
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

    /// The transport that carries it (`net`, `ws`, `unix`…; JS `rpc.meta`).
    pub fn transport(&self) -> &str {
        &self.transport
    }

    /// The RPC session.
    pub fn rpc(&self) -> &RpcHandle {
        &self.rpc
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

/// The live connections of an app, by connection number; refuses new ones once the app closes.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    inner: Mutex<PeerMap>,
}

#[derive(Debug, Default)]
struct PeerMap {
    closed: bool,
    by_connection: BTreeMap<u64, Peer>,
}

impl Peers {
    fn lock(&self) -> MutexGuard<'_, PeerMap> {
        // The map is consistent after every statement; a panic elsewhere cannot break it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a peer, or gives it back if the app is closing.
    pub fn insert(&self, peer: Peer) -> Result<(), Peer> {
        let mut map = self.lock();
        if map.closed {
            return Err(peer);
        }
        map.by_connection.insert(peer.connection, peer);
        Ok(())
    }

    pub fn remove(&self, connection: u64) {
        self.lock().by_connection.remove(&connection);
    }

    /// Refuses further peers and returns the live ones.
    pub fn close(&self) -> Vec<Peer> {
        let mut map = self.lock();
        map.closed = true;
        map.by_connection.values().cloned().collect()
    }

    pub fn all(&self) -> Vec<Peer> {
        self.lock().by_connection.values().cloned().collect()
    }

    pub fn with_id(&self, id: &PublicKey) -> Vec<Peer> {
        self.lock()
            .by_connection
            .values()
            .filter(|p| p.id == *id)
            .cloned()
            .collect()
    }
}

/// A shared registry.
pub(crate) type SharedPeers = Arc<Peers>;
