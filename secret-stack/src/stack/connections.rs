//! The app's connections and their tasks: from a secured connection to a live [`Peer`], the
//! registry of live peers (JS `app.peers`), and ending them when the app closes.
//!
//! A connection is set up by deciding its permissions, starting the RPC session over it with the
//! app's methods, registering it and sending [`Event::Connect`]; a supervising task then watches it
//! until it ends (inactivity timeout included), unregisters it and sends [`Event::Disconnect`].
//!
//! Permissions: a connection we dialled gives the remote the app's anonymous permissions, whatever
//! the remote is (as JS). An accepted one gets what its transform decided during the handshake —
//! the default `shs` asks the auth chain there, `noauth` grants full access — or, for a transform
//! that decides nothing, what the auth chain answers now (a rejection then closes the connection
//! right after the handshake).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, debug_span, info};

use crate::keys::PublicKey;
use crate::multiserver::{ConnectionSlot, Established};
use crate::rpc::{self, CallContext, Permissions, RpcConfig, RpcError};

use super::app::Inner;
use super::error::ConnectError;
use super::events::{DisconnectReason, Event};
use super::inactivity::{Activity, ActivityReader, ActivityWriter, idle};
use super::peer::Peer;
use super::shutdown::Shutdown;

/// The app's live connections, the tasks that set them up and watch them, and how their RPC
/// sessions run. Owned by the app; the only place peers are added or removed.
pub(crate) struct Connections {
    peers: Arc<Peers>,
    /// Connection set-up and supervision tasks.
    tasks: TaskTracker,
    rpc_config: RpcConfig,
    inactivity: Option<Duration>,
}

impl Connections {
    /// No connection yet; sessions will run with `rpc_config`, dropped after `inactivity` idle.
    pub fn new(rpc_config: RpcConfig, inactivity: Option<Duration>) -> Connections {
        Connections {
            peers: Arc::default(),
            tasks: TaskTracker::new(),
            rpc_config,
            inactivity,
        }
    }

    /// Every live connection, in the order they were made.
    pub fn all(&self) -> Vec<Peer> {
        self.peers.all()
    }

    /// The live connections with `id`.
    pub fn with_id(&self, id: &PublicKey) -> Vec<Peer> {
        self.peers.with_id(id)
    }

    /// Sets up an accepted connection in a task of the app (abandoned if the app closes first).
    pub fn accept(&self, inner: Arc<Inner>, established: Established) {
        self.tasks.spawn(accept(inner, established));
    }

    /// Refuses new connections and ends the live ones — gracefully within the shutdown's deadline,
    /// at once when it is forced — then waits for every task spawned for them.
    pub async fn close(&self, shutdown: &Shutdown) {
        let peers = self.peers.close();
        debug!(connections = peers.len(), "closing connections");
        join_all(peers.into_iter().map(|peer| end_connection(peer, shutdown))).await;
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Refuses new connections and drops the live ones at once (the app was dropped).
    pub fn drop_all(&self) {
        for peer in self.peers.close() {
            peer.close_now(RpcError::Closed);
        }
    }
}

async fn end_connection(peer: Peer, shutdown: &Shutdown) {
    tokio::select! {
        _ = peer.close() => return,
        () = tokio::time::sleep(shutdown.deadline()) => {
            debug!(connection = peer.connection(), "connection still busy at the close deadline");
        }
        () = shutdown.forced() => {}
    }
    peer.close_now(RpcError::Closed);
    peer.closed().await;
}

async fn accept(inner: Arc<Inner>, established: Established) {
    let signal = inner.shutdown.signal();
    tokio::select! {
        () = signal.fired() => debug!("app closing: incoming connection dropped"),
        () = accept_inner(&inner, established) => {}
    }
}

async fn accept_inner(inner: &Arc<Inner>, established: Established) {
    let remote = established.info.remote;
    let permissions = match established.info.permissions.clone() {
        Some(permissions) => permissions,
        None => match Arc::clone(inner.api.auth()).permissions_for(remote).await {
            Some(permissions) => permissions,
            None => {
                info!(id = %remote, "connection refused by auth after the handshake");
                return;
            }
        },
    };
    if let Err(e) = attach(inner, established, false, permissions) {
        debug!(id = %remote, "incoming connection not kept: {e}");
    }
}

/// Starts RPC over a secured connection and registers it; fails if the app is closing.
pub(crate) fn attach(
    inner: &Inner,
    established: Established,
    is_client: bool,
    permissions: Permissions,
) -> Result<Peer, ConnectError> {
    let this = &inner.connections;
    let Established {
        connection,
        info,
        slot,
        ..
    } = established;
    let remote = info.remote;
    let number = CallContext::next_connection_id();
    let context = CallContext::new(remote, permissions, number)
        .with_origin(connection.address.clone(), connection.transport.clone());
    // Connections to oneself are never timed out (ssbc/secret-stack#16).
    let watch = this
        .inactivity
        .filter(|_| remote != inner.identity.id())
        .map(|timeout| (Activity::new(), timeout));
    let table = Arc::clone(inner.api.table());
    // Everything this connection logs, from its engine's tasks to its supervisor, is in this span.
    let span = debug_span!(
        "connection",
        peer = %remote,
        address = %connection.address,
        direction = if is_client { "out" } else { "in" },
        n = number,
    );
    let entered = span.enter();
    let handle = match &watch {
        Some((activity, _)) => rpc::RpcHandle::start(
            ActivityReader::new(connection.reader, Arc::clone(activity)),
            ActivityWriter::new(connection.writer, Arc::clone(activity)),
            table,
            context,
            this.rpc_config.clone(),
        ),
        None => rpc::RpcHandle::start(
            connection.reader,
            connection.writer,
            table,
            context,
            this.rpc_config.clone(),
        ),
    };
    drop(entered);
    let peer = Peer::new(
        remote,
        connection.address,
        is_client,
        number,
        connection.transport,
        handle,
    );
    if let Err(peer) = this.peers.insert(peer.clone()) {
        peer.close_now(RpcError::Closed);
        return Err(ConnectError::Closed);
    }
    info!(
        id = %remote,
        address = %peer.address(),
        is_client,
        connection = number,
        "connected"
    );
    let _ = inner.events.send(Event::Connect {
        peer: peer.clone(),
        is_client,
    });
    let supervisor = supervise(
        peer.clone(),
        watch,
        Arc::clone(&this.peers),
        inner.events.clone(),
        slot,
    );
    this.tasks.spawn(supervisor.instrument(span));
    Ok(peer)
}

/// Waits for the connection to end (or to idle out), then unregisters it, frees its place under
/// the incoming connection cap (`slot`, for an accepted connection) and reports it.
async fn supervise(
    peer: Peer,
    watch: Option<(Arc<Activity>, Duration)>,
    peers: Arc<Peers>,
    events: broadcast::Sender<Event>,
    slot: Option<ConnectionSlot>,
) {
    let reason = match watch {
        None => DisconnectReason::Ended(peer.closed().await),
        Some((activity, timeout)) => tokio::select! {
            end = peer.closed() => DisconnectReason::Ended(end),
            () = idle(&activity, timeout) => {
                // Fail the transport first so that no goodbye reaches the peer (as JS).
                activity.expire();
                peer.close_now(RpcError::ConnectionLost);
                peer.closed().await;
                DisconnectReason::Inactive
            }
        },
    };
    peers.remove(peer.connection());
    drop(slot);
    info!(
        id = %peer.id(),
        connection = peer.connection(),
        "disconnected: {reason}"
    );
    let _ = events.send(Event::Disconnect {
        id: peer.id(),
        address: peer.address().to_owned(),
        is_client: peer.is_client(),
        connection: peer.connection(),
        reason,
    });
}

/// The live connections of an app, by connection number; refuses new ones once the app closes.
#[derive(Debug, Default)]
struct Peers {
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
    fn insert(&self, peer: Peer) -> Result<(), Peer> {
        let mut map = self.lock();
        if map.closed {
            return Err(peer);
        }
        map.by_connection.insert(peer.connection(), peer);
        Ok(())
    }

    fn remove(&self, connection: u64) {
        self.lock().by_connection.remove(&connection);
    }

    /// Refuses further peers and returns the live ones.
    fn close(&self) -> Vec<Peer> {
        let mut map = self.lock();
        map.closed = true;
        map.by_connection.values().cloned().collect()
    }

    fn all(&self) -> Vec<Peer> {
        self.lock().by_connection.values().cloned().collect()
    }

    fn with_id(&self, id: &PublicKey) -> Vec<Peer> {
        self.lock()
            .by_connection
            .values()
            .filter(|p| p.id() == *id)
            .cloned()
            .collect()
    }
}
