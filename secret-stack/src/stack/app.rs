//! A running node: the Rust counterpart of the JS app object.
//!
//! An [`App`] is a cheap handle (clone it freely) on the app's parts, each owned by one module:
//! its identity and served API (here, fixed once built), its connections and their tasks
//! (`connections`), its registry and listeners (`listen`), and its shutdown (`shutdown`).
//! [`App::close`] ends all of them. Dropping the last handle without closing stops listening and
//! drops every connection at once, without waiting.

use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use futures::future::BoxFuture;
use tokio::sync::broadcast;
use tracing::{debug, warn};

use crate::keys::{AppKey, Keypair, PublicKey};
use crate::multiserver::{IncomingStats, ObjectKey, Scope, object_address};
use crate::rpc::{CallContext, LocalCaller, Manifest, MethodTable, PermissionTable, Permissions};

use super::auth::{AuthChain, AuthDecision};
use super::config::Config;
use super::connections::Connections;
use super::error::ConnectError;
use super::events::Event;
use super::listen::Listening;
use super::peer::Peer;
use super::plugins::WeakApp;
use super::shutdown::{self, Shutdown};

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
            .field("peers", &self.inner.connections.all().len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Everything an app holds, as parts with one owner each: who it is, what it serves, its events,
/// its connections, its listeners, and its shutdown.
pub(crate) struct Inner {
    pub(super) identity: Identity,
    pub(super) api: Api,
    pub(super) events: broadcast::Sender<Event>,
    pub(super) connections: Connections,
    pub(super) listening: Listening,
    pub(super) shutdown: Shutdown,
    /// Plugin events, one channel per event type.
    pub(super) plugin_events: super::plugin_events::PluginEvents,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.shutdown.dropped() {
            debug!(id = %self.identity.id(), "app dropped without close: dropping its connections");
            self.connections.drop_all();
        }
    }
}

/// Who the app is: fixed when it is built.
pub(crate) struct Identity {
    keypair: Keypair,
    app_key: AppKey,
    config: Config,
}

impl Identity {
    pub fn new(keypair: Keypair, app_key: AppKey, config: Config) -> Identity {
        Identity {
            keypair,
            app_key,
            config,
        }
    }

    pub fn id(&self) -> PublicKey {
        self.keypair.public()
    }
}

/// What the app serves and to whom. The app exists before its plugins are made (so that their
/// inits can use it), and this is filled in as they are: the methods of each plugin as soon as it
/// is made (for local calls and hooks during init), then everything at once when the last one is
/// ([`Api::finish`]). Until then the app serves nothing to peers, and neither listens nor dials.
/// The auth chain exists from the start (hooks can be added during init); the anonymous
/// permissions it grants are set by `finish`.
pub(crate) struct Api {
    /// Set once, when every plugin is made.
    served: OnceLock<Served>,
    /// The methods of the plugins made so far, while they are being made.
    building: Mutex<Arc<MethodTable>>,
    auth: Arc<AuthChain>,
}

/// What a built app serves.
struct Served {
    manifest: Arc<Manifest>,
    permissions: PermissionTable,
    table: Arc<MethodTable>,
}

/// What an app serves before its plugins are all made: nothing.
struct Unserved {
    manifest: Manifest,
    permissions: PermissionTable,
    table: Arc<MethodTable>,
}

fn unserved() -> &'static Unserved {
    static UNSERVED: LazyLock<Unserved> = LazyLock::new(|| Unserved {
        manifest: Manifest::new(),
        permissions: PermissionTable::default(),
        table: Arc::new(MethodTable::new()),
    });
    &UNSERVED
}

impl Api {
    /// Nothing served yet.
    pub fn new(auth: Arc<AuthChain>) -> Api {
        Api {
            served: OnceLock::new(),
            building: Mutex::new(Arc::new(MethodTable::new())),
            auth,
        }
    }

    /// The methods of the plugins made so far.
    pub fn mounted(&self, table: Arc<MethodTable>) {
        *self.building.lock().unwrap_or_else(|e| e.into_inner()) = table;
    }

    /// Every plugin is made: this is what the app serves from now on.
    pub fn finish(
        &self,
        manifest: Arc<Manifest>,
        permissions: PermissionTable,
        table: Arc<MethodTable>,
        anonymous: Permissions,
    ) {
        self.auth.set_anonymous(anonymous);
        let _ = self.served.set(Served {
            manifest,
            permissions,
            table,
        });
        self.mounted(Arc::new(MethodTable::new()));
    }

    /// True once every plugin is made.
    pub fn is_ready(&self) -> bool {
        self.served.get().is_some()
    }

    /// The method table connections dispatch into (empty until the app is built).
    pub fn table(&self) -> &Arc<MethodTable> {
        self.served.get().map_or(&unserved().table, |s| &s.table)
    }

    /// The methods local calls and hooks reach: while plugins are made, those made so far.
    pub fn current_table(&self) -> Arc<MethodTable> {
        match self.served.get() {
            Some(served) => Arc::clone(&served.table),
            None => Arc::clone(&self.building.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }

    /// The auth chain.
    pub fn auth(&self) -> &Arc<AuthChain> {
        &self.auth
    }

    fn manifest(&self) -> &Manifest {
        self.served
            .get()
            .map_or(&unserved().manifest, |s| &s.manifest)
    }

    fn permissions(&self) -> &PermissionTable {
        self.served
            .get()
            .map_or(&unserved().permissions, |s| &s.permissions)
    }
}

impl App {
    /// The app's identity (JS `app.id`; its text form is `@<base64>.ed25519`).
    pub fn id(&self) -> PublicKey {
        self.inner.identity.id()
    }

    /// The app's key pair.
    pub fn keypair(&self) -> &Keypair {
        &self.inner.identity.keypair
    }

    /// The app key (network key) its handshakes use.
    pub fn app_key(&self) -> AppKey {
        self.inner.identity.app_key
    }

    /// The config the app runs with: defaults laid under the given config, with
    /// `global.connections` filled in (JS `app.config`).
    pub fn config(&self) -> &Config {
        &self.inner.identity.config
    }

    /// The merged manifest (JS `app.getManifest()`, in its key order), also what the `manifest`
    /// method answers (as [`Manifest::to_json`]).
    pub fn manifest(&self) -> &Manifest {
        self.inner.api.manifest()
    }

    /// The merged permission groups (JS `create.permissions`, in its key order), e.g.
    /// `{"anonymous": {"allow": ["manifest", …]}}` as [`PermissionTable::to_json`].
    pub fn permissions(&self) -> &PermissionTable {
        self.inner.api.permissions()
    }

    /// What anonymous peers may call: the merged `anonymous` group.
    pub fn anonymous(&self) -> &Permissions {
        self.inner.api.auth().anonymous()
    }

    /// Every method the app serves (none while its plugins are being made: use
    /// [`App::local`] then).
    pub fn methods(&self) -> &Arc<MethodTable> {
        self.inner.api.table()
    }

    /// This app's address for `scope` (JS `app.getAddress(scope)`): every listener serving it,
    /// `;`-joined, e.g. `net:localhost:53712~shs:<base64>`; `""` when none does (before
    /// [`App::listen`], and once the app is closing).
    pub fn address(&self, scope: Scope) -> String {
        self.inner.listening.addresses().address(scope)
    }

    /// The same, `None` instead of `""` (JS `app.multiserver.address(scope)`).
    pub fn multiserver_address(&self, scope: Scope) -> Option<String> {
        self.inner.listening.addresses().multiaddress(scope)
    }

    /// Starts the listeners if they are not started yet, and sends [`Event::Listening`]
    /// ([`Builder::start`](super::Builder::start) does this; an app from
    /// [`Builder::build`](super::Builder::build) waits for it). Idempotent; does nothing once
    /// the app is closing.
    pub async fn listen(&self) {
        if !self.inner.api.is_ready() {
            warn!("listen() called while the app's plugins are being made: ignored");
            return;
        }
        Listening::listen(&self.inner).await;
    }

    /// Dials `address` (a multiserver address; the first alternative an outgoing suite understands
    /// is dialled, falling back to later ones if it fails), runs the handshake and starts RPC.
    /// Sends [`Event::Connect`] before returning. The remote gets anonymous permissions on our
    /// methods, as in JS. A `net` dial nobody answers gives up after
    /// [`DIAL_TIMEOUT`](crate::multiserver::DIAL_TIMEOUT) (15 s); the handshake then has its own
    /// per-read timeout.
    /// Outgoing connections are not counted by the incoming caps
    /// ([`Builder::incoming_limits`](super::Builder::incoming_limits)).
    /// Goes through the connect hooks first ([`App::connect_hook`]), which may refuse or
    /// redirect the dial.
    pub async fn connect(&self, address: &str) -> Result<Peer, ConnectError> {
        if !self.inner.api.is_ready() {
            return Err(ConnectError::NotBuilt);
        }
        super::connect_hook::connect(self, address).await
    }

    /// Dials the object form `{host, port, key}`: `net:<host>:<port>~shs:<key>`,
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
        self.inner.listening.stats()
    }

    /// Every live connection, both directions, in the order they were made (JS `app.peers`).
    pub fn peers(&self) -> Vec<Peer> {
        self.inner.connections.all()
    }

    /// The live connections with `id` (JS `app.peers[id]`).
    pub fn peers_with(&self, id: &PublicKey) -> Vec<Peer> {
        self.inner.connections.with_id(id)
    }

    /// The app's events from now on. [`Event::Listening`] is sent by [`App::listen`]: to see it,
    /// subscribe on an app from [`Builder::build`](super::Builder::build) before listening (or
    /// from a plugin's [`PluginInit::events`](super::PluginInit::events)).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// A caller into the app's own methods with full permissions, as the app itself (connection
    /// `0`): typed plugin clients work over it. While the app's plugins are being made (from a
    /// plugin's init), it reaches the plugins made so far.
    pub fn local(&self) -> LocalCaller {
        LocalCaller::new(
            self.inner.api.current_table(),
            CallContext::local(self.id()),
        )
    }

    /// Asks the auth chain about `id` (JS `app.auth(id, cb)`).
    pub fn auth(&self, id: PublicKey) -> BoxFuture<'static, AuthDecision> {
        self.inner.api.auth().decide(id)
    }

    /// A handle that does not keep the app alive.
    pub fn downgrade(&self) -> WeakApp {
        WeakApp::from_inner(&self.inner)
    }

    /// True once [`App::close`] or [`App::close_now`] has been called (JS `app.closed`).
    pub fn is_closed(&self) -> bool {
        self.inner.shutdown.is_started()
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
