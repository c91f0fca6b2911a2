//! The interop peer: a node that serves the [`test`](crate::test_plugin) plugin over `net` + `shs`
//! on 127.0.0.1, with the permissions JS `tests/interop/peer.js` gives (PROTOCOL.md §6.3).
//!
//! Its own key and the configured masters get full access; anyone else gets secret-stack's
//! `permissions.anonymous`: `manifest` plus every `test.*` method except `test.secret` — an allow
//! list, so an anonymous call to an unknown method is refused by the permission check, as in JS.
//! Every connection gets its own method table, so `collect`/`collected` are per connection.
//!
//! For the robustness tests (`tests/hostile.rs`, `tests/load.rs`) the peer also takes its handshake
//! timeout from [`PeerConfig::handshake_timeout`], keeps the handles of its open connections
//! ([`Peer::open_connections`]) and can close them all gracefully ([`Peer::close`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack::multiserver::{
    Established, IncomingEntry, ListenConfig, ListenError, Multiserver, Net, RegistryError, Scope,
    Shs,
};
use secret_stack::rpc::{
    Body, CallContext, CallKind, Connection, Method, MethodTable, Permissions, Reply, RpcConfig,
    RpcHandle, SessionEnd,
};
use serde_json::Value;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::test_plugin;

/// The handshake timeout of a JS node whose config has `timers` (PROTOCOL.md §8.7).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// What the peer needs to start.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The node's identity.
    pub keys: Keypair,
    /// The network's app key.
    pub app_key: AppKey,
    /// The port to listen on; `None` for any free one.
    pub port: Option<u16>,
    /// Peers that get full access besides ourselves.
    pub masters: Vec<PublicKey>,
    /// The limit on each handshake read and write ([`HANDSHAKE_TIMEOUT`] for the interop peer;
    /// the robustness tests make it short to see slow clients cut).
    pub handshake_timeout: Duration,
}

/// Why the peer could not start.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Registering the transport or transform failed.
    #[error("cannot set up multiserver: {0}")]
    Registry(#[from] RegistryError),
    /// Listening failed.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Listen(#[from] ListenError),
}

/// The open connections of a peer, by a serial number.
type Connections = Arc<Mutex<HashMap<u64, RpcHandle>>>;

/// A running peer; dropping it stops accepting (open connections run on until they end).
#[derive(Debug)]
pub struct Peer {
    address: String,
    id: String,
    accept: JoinHandle<()>,
    connections: Connections,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The permissions secret-stack gives anonymous peers of a node with the `test` plugin.
pub fn anonymous_permissions() -> Permissions {
    Permissions::allow(std::iter::once("manifest".to_owned()).chain(test_plugin::anonymous_allow()))
}

impl Peer {
    /// Listens on 127.0.0.1 and serves every connection until it ends.
    pub async fn start(config: PeerConfig) -> Result<Peer, PeerError> {
        let own = config.keys.public();
        let masters: Arc<HashSet<PublicKey>> = Arc::new(
            config
                .masters
                .iter()
                .copied()
                .chain(std::iter::once(own))
                .collect(),
        );
        let shs = Shs::new(config.keys.clone(), config.app_key)
            .with_timeout(config.handshake_timeout)
            .with_authorize({
                let masters = Arc::clone(&masters);
                move |client| {
                    let full = masters.contains(&client);
                    async move {
                        Some(if full {
                            Permissions::full()
                        } else {
                            anonymous_permissions()
                        })
                    }
                }
            });
        let mut ms = Multiserver::new();
        ms.add_transport(Net)?.add_transform(shs)?;
        let mut listen = ListenConfig::new(Scope::Device, "127.0.0.1");
        listen.port = config.port;
        let mut server = ms
            .listen(&[IncomingEntry {
                transport: "net".into(),
                transform: "shs".into(),
                config: listen,
            }])
            .await?;
        let address = server.address(Scope::Device);
        let connections = Connections::default();
        let open = Arc::clone(&connections);
        let accept = tokio::spawn(async move {
            let serial = AtomicU64::new(0);
            while let Some(established) = server.accept().await {
                let n = serial.fetch_add(1, Ordering::Relaxed);
                serve(established, &masters, n, &open);
            }
        });
        Ok(Peer {
            address,
            id: config.keys.id(),
            accept,
            connections,
        })
    }

    /// How many connections are being served right now (handshake done, session not over).
    pub fn open_connections(&self) -> usize {
        lock(&self.connections).len()
    }

    /// Stops accepting, then closes every open connection gracefully (each waits for the calls
    /// and streams in flight, then says goodbye). Resolves with how each session ended.
    pub async fn close(&self) -> Vec<SessionEnd> {
        self.accept.abort();
        let handles: Vec<RpcHandle> = lock(&self.connections).values().cloned().collect();
        futures::future::join_all(handles.iter().map(RpcHandle::close)).await
    }

    /// The address to dial, `net:127.0.0.1:<port>~shs:<key>`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The node's id, `@<key>.ed25519`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn lock(connections: &Connections) -> std::sync::MutexGuard<'_, HashMap<u64, RpcHandle>> {
    connections.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs RPC over one accepted connection with a fresh method table; the connection is listed in
/// `open` (as number `n`) until its session is over.
fn serve(established: Established, masters: &HashSet<PublicKey>, n: u64, open: &Connections) {
    let remote = established.info.remote;
    let permissions = established
        .info
        .permissions
        .unwrap_or_else(anonymous_permissions);
    let who = if masters.contains(&remote) {
        "master"
    } else {
        "anonymous"
    };
    info!(%remote, who, address = %established.connection.address, "connection");
    let table = match connection_table() {
        Ok(table) => table,
        Err(e) => {
            warn!(%e, "cannot build the method table");
            return;
        }
    };
    let ctx = CallContext::new(remote, permissions, CallContext::next_connection_id());
    let connection = established.connection;
    let handle = Connection::start(
        connection.reader,
        connection.writer,
        table,
        ctx,
        RpcConfig::default(),
    );
    lock(open).insert(n, handle.clone());
    let open = Arc::clone(open);
    tokio::spawn(async move {
        let end = handle.closed().await;
        lock(&open).remove(&n);
        debug!(%remote, ?end, "connection closed");
    });
}

/// The test plugin's methods plus `manifest` (sync: the table's manifest, as secret-stack serves).
fn connection_table() -> Result<Arc<MethodTable>, secret_stack::rpc::dispatch::DuplicateMethod> {
    let mut table = MethodTable::new();
    for method in test_plugin::methods() {
        table.insert(method)?;
    }
    let manifest = Arc::new(std::sync::OnceLock::<Value>::new());
    let answer = Arc::clone(&manifest);
    table.insert(Method {
        path: vec!["manifest".into()],
        kind: CallKind::Sync,
        handler: Arc::new(move |_, _, _| {
            let value = answer.get().cloned().unwrap_or(Value::Null);
            Reply::Value(futures::future::ready(Ok(Body::Json(value))).boxed())
        }),
    })?;
    let _ = manifest.set(table.manifest().to_json());
    Ok(Arc::new(table))
}
