//! From a secured connection to a live [`Peer`] (PROTOCOL.md §6.3, §8.9): decide its permissions,
//! start the RPC session over it with the app's methods, register it, send [`Event::Connect`], and
//! watch it until it ends (inactivity timeout included), then unregister it and send
//! [`Event::Disconnect`].
//!
//! Permissions: a connection we dialled gives the remote the app's anonymous permissions, whatever
//! the remote is (as JS). An accepted one gets what its transform decided during the handshake —
//! the default `shs` asks the auth chain there, `noauth` grants full access — or, for a transform
//! that decides nothing, what the auth chain answers now (a rejection then closes the connection
//! right after the handshake).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tracing::{debug, info};

use crate::multiserver::{ConnectionSlot, Established};
use crate::rpc::{self, CallContext, Permissions, RpcError};

use super::app::Inner;
use super::error::ConnectError;
use super::events::{DisconnectReason, Event};
use super::inactivity::{Activity, ActivityReader, ActivityWriter, idle};
use super::peer::{Peer, SharedPeers};

/// Sets up an accepted connection (runs as a task of the app; abandoned if the app closes first).
pub(crate) async fn accept(inner: Arc<Inner>, established: Established) {
    let stop = inner.stop.clone();
    tokio::select! {
        () = stop.cancelled() => debug!("app closing: incoming connection dropped"),
        () = accept_inner(&inner, established) => {}
    }
}

async fn accept_inner(inner: &Arc<Inner>, established: Established) {
    let remote = established.info.remote;
    let permissions = match established.info.permissions.clone() {
        Some(permissions) => permissions,
        None => match Arc::clone(&inner.auth).permissions_for(remote).await {
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
    let Established {
        connection,
        info,
        slot,
        ..
    } = established;
    let remote = info.remote;
    let number = CallContext::next_connection_id();
    let context = CallContext::new(remote, permissions, number);
    // Connections to oneself are never timed out (ssbc/secret-stack#16).
    let watch = inner
        .inactivity
        .filter(|_| remote != inner.keypair.public())
        .map(|timeout| (Activity::new(), timeout));
    let handle = match &watch {
        Some((activity, _)) => rpc::RpcHandle::start(
            ActivityReader::new(connection.reader, Arc::clone(activity)),
            ActivityWriter::new(connection.writer, Arc::clone(activity)),
            Arc::clone(&inner.table),
            context,
            inner.rpc_config.clone(),
        ),
        None => rpc::RpcHandle::start(
            connection.reader,
            connection.writer,
            Arc::clone(&inner.table),
            context,
            inner.rpc_config.clone(),
        ),
    };
    let peer = Peer::new(
        remote,
        connection.address,
        is_client,
        number,
        connection.transport,
        handle,
    );
    if let Err(peer) = inner.peers.insert(peer.clone()) {
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
    inner.tasks.spawn(supervise(
        peer.clone(),
        watch,
        Arc::clone(&inner.peers),
        inner.events.clone(),
        slot,
    ));
    Ok(peer)
}

/// Waits for the connection to end (or to idle out), then unregisters it, frees its place under
/// the incoming connection cap (`slot`, for an accepted connection) and reports it.
async fn supervise(
    peer: Peer,
    watch: Option<(Arc<Activity>, Duration)>,
    peers: SharedPeers,
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
