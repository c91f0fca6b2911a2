//! Listening (PROTOCOL.md §8.6): one listener per incoming entry of `global.connections`, each
//! started on its own so that one failing (port taken, unknown transport) does not stop the others,
//! then [`Event::Listening`] — sent even when some failed, as JS does. Each listener's accepted and
//! secured connections are handed to [`session::accept`]. All the listeners share the app's
//! [`IncomingGate`](crate::multiserver::IncomingGate), so its caps hold for the app as a whole.

use std::sync::{Arc, Weak};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::multiserver::{Scope, Server};

use super::app::Inner;
use super::events::Event;
use super::session;

/// Starts every listener, records their addresses, spawns their accept loops and sends
/// [`Event::Listening`]. Returns false if the app started closing first (nothing is started then).
pub(crate) async fn start(inner: &Arc<Inner>) -> bool {
    if inner.stop.is_cancelled() {
        return false;
    }
    let mut servers = Vec::new();
    for entry in &inner.incoming {
        let suite = format!("{}~{}", entry.transport, entry.transform);
        match inner
            .multiserver
            .listen_with(std::slice::from_ref(entry), inner.gate.clone())
            .await
        {
            Ok(server) => servers.push((suite, server)),
            Err(e) => warn!("cannot listen with {suite}: {e}"),
        }
    }
    inner
        .addresses
        .set(servers.iter().map(|(_, s)| s.address_book()).collect());
    let mut handles = inner.accept_tasks.lock().unwrap_or_else(|e| e.into_inner());
    for (suite, server) in servers {
        info!(%suite, address = %server.address(Scope::Device), "listening");
        handles.push(tokio::spawn(accept_loop(
            Arc::downgrade(inner),
            server,
            inner.stop.clone(),
            inner.tasks.clone(),
        )));
    }
    drop(handles);
    let _ = inner.events.send(Event::Listening);
    true
}

/// Hands each secured incoming connection to a set-up task until the app stops listening (or is
/// dropped), then closes the listener and waits until its socket is released.
async fn accept_loop(
    app: Weak<Inner>,
    mut server: Server,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            next = server.accept() => {
                let Some(established) = next else { break };
                let Some(inner) = app.upgrade() else { break };
                debug!(address = %established.connection.address, "incoming connection");
                tasks.spawn(session::accept(inner, established));
            }
        }
    }
    server.shutdown().await;
    debug!("listener closed");
}
