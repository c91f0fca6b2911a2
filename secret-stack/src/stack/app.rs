//! A running node: the Rust counterpart of the JS app object (PROTOCOL.md §8.4).
//!
//! An [`App`] is a cheap handle (clone it freely). It owns its listeners, connections and the tasks
//! watching them; [`App::close`] ends all of them. Dropping the last handle without closing
//! stops listening and drops every connection at once, without waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{OnceCell, broadcast};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::keys::{AppKey, Keypair, PublicKey};
use crate::multiserver::{
    IncomingEntry, IncomingGate, IncomingStats, Multiserver, ObjectKey, Scope, object_address,
};
use crate::rpc::{
    CallContext, LocalCaller, Manifest, MethodTable, PermissionTable, Permissions, RpcConfig,
    RpcError,
};

use super::auth::{AuthChain, AuthDecision};
use super::config::Config;
use super::core::Addresses;
use super::error::ConnectError;
use super::events::Event;
use super::listen;
use super::peer::{Peer, SharedPeers};
use super::plugins::WeakApp;
use super::session;
use super::shutdown::{self, CloseHook, Closing};

/// A running secret-stack node. See the [module docs](super) for how to build one.
#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id().id())
            .field("address", &self.address(Scope::Device))
            .field("peers", &self.inner.peers.all().len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Everything an app holds.
pub(crate) struct Inner {
    pub keypair: Keypair,
    pub app_key: AppKey,
    pub config: Config,
    pub manifest: Arc<Manifest>,
    pub permissions: PermissionTable,
    pub table: Arc<MethodTable>,
    pub multiserver: Multiserver,
    pub incoming: Vec<IncomingEntry>,
    /// The caps on incoming connections, shared by every listener.
    pub gate: IncomingGate,
    pub addresses: Arc<Addresses>,
    pub auth: Arc<AuthChain>,
    pub events: broadcast::Sender<Event>,
    pub peers: SharedPeers,
    /// Connection set-up and supervision tasks.
    pub tasks: TaskTracker,
    /// The accept loops, one per listener.
    pub accept_tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set once: true if the app started listening, false if it closed first.
    pub listened: OnceCell<bool>,
    /// Cancelled when the app stops listening (close, or drop).
    pub stop: CancellationToken,
    pub close_hooks: Vec<CloseHook>,
    pub closing: Closing,
    pub rpc_config: RpcConfig,
    pub inactivity: Option<Duration>,
    pub close_deadline: Duration,
}

impl Inner {
    /// Stops the listeners (or keeps them from ever starting) and waits until their sockets are
    /// released; the app has no address from then on. Returns whether the app had been listening.
    pub async fn stop_listening(&self) -> bool {
        self.stop.cancel();
        let listened = *self.listened.get_or_init(|| async { false }).await;
        self.addresses.set(Vec::new());
        let handles =
            std::mem::take(&mut *self.accept_tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for handle in handles {
            if let Err(e) = handle.await
                && e.is_panic()
            {
                debug!("a listener task had panicked: {e}");
            }
        }
        listened
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.closing.is_started() {
            return;
        }
        debug!(id = %self.keypair.public(), "app dropped without close: dropping its connections");
        self.stop.cancel();
        for peer in self.peers.close() {
            peer.close_now(RpcError::Closed);
        }
    }
}

impl App {
    /// The app's identity (JS `app.id`; its text form is `@<base64>.ed25519`).
    pub fn id(&self) -> PublicKey {
        self.inner.keypair.public()
    }

    /// The app's key pair.
    pub fn keypair(&self) -> &Keypair {
        &self.inner.keypair
    }

    /// The app key (network key) its handshakes use.
    pub fn app_key(&self) -> AppKey {
        self.inner.app_key
    }

    /// The config the app runs with: defaults laid under the given config, with
    /// `global.connections` filled in (JS `app.config`).
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The merged manifest (JS `app.getManifest()`, in its key order), also what the `manifest`
    /// method answers (as [`Manifest::to_json`]).
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// The merged permission groups (JS `create.permissions`, in its key order), e.g.
    /// `{"anonymous": {"allow": ["manifest", …]}}` as [`PermissionTable::to_json`].
    pub fn permissions(&self) -> &PermissionTable {
        &self.inner.permissions
    }

    /// What anonymous peers may call: the merged `anonymous` group.
    pub fn anonymous(&self) -> &Permissions {
        self.inner.auth.anonymous()
    }

    /// Every method the app serves.
    pub fn methods(&self) -> &Arc<MethodTable> {
        &self.inner.table
    }

    /// This app's address for `scope` (JS `app.getAddress(scope)`): every listener serving it,
    /// `;`-joined, e.g. `net:localhost:53712~shs:<base64>`; `""` when none does (before
    /// [`App::listen`], and once the app is closing).
    pub fn address(&self, scope: Scope) -> String {
        self.inner.addresses.address(scope)
    }

    /// The same, `None` instead of `""` (JS `app.multiserver.address(scope)`).
    pub fn multiserver_address(&self, scope: Scope) -> Option<String> {
        self.inner.addresses.multiaddress(scope)
    }

    /// Starts the listeners if they are not started yet, and sends [`Event::Listening`]
    /// ([`Builder::start`](super::Builder::start) does this; an app from
    /// [`Builder::build`](super::Builder::build) waits for it). Idempotent; does nothing once
    /// the app is closing.
    pub async fn listen(&self) {
        let inner = &self.inner;
        inner.listened.get_or_init(|| listen::start(inner)).await;
    }

    /// Dials `address` (a multiserver address; the first alternative an outgoing suite understands
    /// is dialled, falling back to later ones if it fails), runs the handshake and starts RPC.
    /// Sends [`Event::Connect`] before returning. The remote gets anonymous permissions on our
    /// methods, as in JS. There is no dial timeout beyond the handshake's per-read timeout.
    /// Outgoing connections are not counted by the incoming caps
    /// ([`Builder::incoming_limits`](super::Builder::incoming_limits)).
    pub async fn connect(&self, address: &str) -> Result<Peer, ConnectError> {
        if self.is_closed() {
            return Err(ConnectError::Closed);
        }
        debug!(%address, "connecting");
        let established = self.inner.multiserver.connect(address).await?;
        let anonymous = self.inner.auth.anonymous().clone();
        session::attach(&self.inner, established, true, anonymous)
    }

    /// Dials the object form `{host, port, key}` (PROTOCOL.md §7.4): `net:<host>:<port>~shs:<key>`,
    /// or `onion:` when the host ends with `.onion`.
    pub async fn connect_to(
        &self,
        host: &str,
        port: u16,
        key: &PublicKey,
    ) -> Result<Peer, ConnectError> {
        self.connect(&object_address(host, port, ObjectKey::Key(key)))
            .await
    }

    /// The counters of the caps on incoming connections (a Rust extension, set with
    /// [`Builder::incoming_limits`](super::Builder::incoming_limits)): connections and handshakes
    /// held now, their peaks, and how many connections were refused at the cap or had to wait for
    /// a handshake slot.
    pub fn incoming_stats(&self) -> IncomingStats {
        self.inner.gate.stats()
    }

    /// Every live connection, both directions, in the order they were made (JS `app.peers`).
    pub fn peers(&self) -> Vec<Peer> {
        self.inner.peers.all()
    }

    /// The live connections with `id` (JS `app.peers[id]`).
    pub fn peers_with(&self, id: &PublicKey) -> Vec<Peer> {
        self.inner.peers.with_id(id)
    }

    /// The app's events from now on. [`Event::Listening`] is sent by [`App::listen`]: to see it,
    /// subscribe on an app from [`Builder::build`](super::Builder::build) before listening (or
    /// from a plugin's [`PluginInit::events`](super::PluginInit::events)).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// A caller into the app's own methods with full permissions, as the app itself (connection
    /// `0`): typed plugin clients work over it.
    pub fn local(&self) -> LocalCaller {
        LocalCaller::new(Arc::clone(&self.inner.table), CallContext::local(self.id()))
    }

    /// Asks the auth chain about `id` (JS `app.auth(id, cb)`).
    pub fn auth(&self, id: PublicKey) -> BoxFuture<'static, AuthDecision> {
        self.inner.auth.decide(id)
    }

    /// A handle that does not keep the app alive.
    pub fn downgrade(&self) -> WeakApp {
        WeakApp::from_inner(&self.inner)
    }

    /// True once [`App::close`] or [`App::close_now`] has been called (JS `app.closed`).
    pub fn is_closed(&self) -> bool {
        self.inner.closing.is_started()
    }

    /// Closes gracefully: stops listening, runs the close hooks (newest first), lets every
    /// connection finish its outstanding calls and say goodbye (forcing those still busy after the
    /// close deadline), waits for every task the app spawned, then sends [`Event::Close`].
    /// Idempotent: later calls wait for the first to finish.
    pub async fn close(&self) {
        shutdown::close(self, false).await;
    }

    /// Closes at once: like [`App::close`], but connections are closed without waiting (their
    /// outstanding calls fail, the peers see the connection end).
    pub async fn close_now(&self) {
        shutdown::close(self, true).await;
    }
}
