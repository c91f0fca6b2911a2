//! The accept loop of one listener of a [`Server`](super::Server): each incoming byte stream
//! passes the [`IncomingGate`] (closed at once over the connection cap or a per-IP cap; accepting
//! pauses at the handshake cap, see [`super::limits`]), then the transform's server side runs in its own task
//! and the secured connection is queued for [`Server::accept`](super::Server::accept).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::limits::{ConnectionSlot, HandshakeSlot, IncomingGate, IpHandshakeSlot};
use super::registry::Established;
use super::transform::DynTransform;
use super::transport::{ByteStream, Listener};

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again; doubled
/// after each further failure in a row, up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between failing `accept`s.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Accepts from one listener until the [`Server`](super::Server) is gone, running the transform's
/// server side of each connection in its own task (aborted with this one), under `gate`'s caps: a
/// connection over the connection cap, or over a per-IP cap of its address, is closed at once; at
/// the handshake cap, accepting pauses until a handshake ends (see [`super::limits`]).
pub(crate) async fn accept_loop(
    mut listener: Box<dyn Listener>,
    transform: Arc<dyn DynTransform>,
    suite: String,
    sender: mpsc::Sender<Established>,
    gate: IncomingGate,
) {
    let mut handshakes = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
            () = sender.closed() => break,
        };
        let connection = match accepted {
            Ok(connection) => {
                backoff = ACCEPT_BACKOFF;
                connection
            }
            Err(e) => {
                warn!("multiserver: {suite}: accept failed (retrying in {backoff:?}): {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        // Over the connection cap, or a per-IP cap: dropping the connection closes it.
        let Some(slot) = gate.admit(&connection.address) else {
            continue;
        };
        let Some(ip_handshake) = gate.admit_handshake(&slot) else {
            continue;
        };
        let handshake = match gate.try_handshake() {
            Some(handshake) => handshake,
            None => {
                gate.note_deferred();
                debug!(
                    %suite,
                    max_handshakes = gate.limits().max_handshakes.get(),
                    "multiserver: at the handshake cap, accepting paused"
                );
                let waiting = tokio::time::Instant::now();
                let handshake = loop {
                    tokio::select! {
                        handshake = gate.wait_handshake() => break handshake,
                        Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
                        () = sender.closed() => return,
                    }
                };
                let Some(handshake) = handshake else { return };
                debug!(%suite, waited = ?waiting.elapsed(), "multiserver: accepting again");
                handshake
            }
        };
        handshakes.spawn(secure_incoming(
            connection,
            transform.clone(),
            suite.clone(),
            sender.clone(),
            slot,
            (ip_handshake, handshake),
        ));
    }
}

/// Runs the transform's server side on an accepted connection, then hands it to the
/// [`Server`](super::Server) with its connection slot; the handshake slots (per IP and global)
/// are released as soon as the transform is done.
async fn secure_incoming(
    connection: ByteStream,
    transform: Arc<dyn DynTransform>,
    suite: String,
    sender: mpsc::Sender<Established>,
    slot: ConnectionSlot,
    handshake: (IpHandshakeSlot, HandshakeSlot),
) {
    let transport_address = connection.address.clone();
    let secured = transform.server(connection).await;
    drop(handshake);
    match secured {
        Ok((mut connection, info)) => {
            connection.address = format!("{transport_address}~{}", info.section);
            debug!(address = %connection.address, %suite, "multiserver: accepted");
            let established = Established {
                connection,
                info,
                suite,
                slot: Some(slot),
            };
            if sender.send(established).await.is_err() {
                debug!("multiserver: server closed before the connection was taken");
            }
        }
        // JS logs `server error, from <address>` and carries on.
        Err(e) => debug!("multiserver: server error, from {transport_address}: {e}"),
    }
}
