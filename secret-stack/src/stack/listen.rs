//! The app's network side: its multiserver registry (dialling) and its listeners.
//!
//! Listening: one listener per incoming entry of `global.connections`, each started on its own so
//! that one failing (port taken, unknown transport) does not stop the others, then
//! [`Event::Listening`] — sent even when some failed, as JS does. Each listener's accepted and
//! secured connections are handed to the app's connections. All the listeners share the app's
//! [`IncomingGate`], so its caps hold for the app as a whole.

use std::sync::{Arc, RwLock, Weak};

use tokio::sync::OnceCell;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::hook_list::HookList;
use crate::multiserver::{
    AddressBook, Connections, DialError, Established, IncomingEntry, IncomingGate, IncomingStats,
    Multiaddress, Multiserver, OutgoingEntry, RegistryError, Scope, Server, Transform, Transport,
};

use super::app::Inner;
use super::connect_hook::ConnectHook;
use super::events::Event;
use super::shutdown::ShutdownSignal;

/// The app's registry, listeners and their addresses. Owned by the app.
pub(crate) struct Listening {
    /// Plugins add transports and transforms to it during their init.
    multiserver: RwLock<Multiserver>,
    /// The outgoing entries of the config, applied again when a plugin adds a transport.
    outgoing: Vec<OutgoingEntry>,
    incoming: Vec<IncomingEntry>,
    /// The caps on incoming connections, shared by every listener.
    gate: IncomingGate,
    addresses: Arc<Addresses>,
    /// The accept loops, one per listener.
    accept_tasks: TaskTracker,
    /// Set once: true if the app started listening, false if it closed first.
    listened: OnceCell<bool>,
    /// The hooks around dialling ([`App::connect`](super::App::connect)).
    connect_hooks: HookList<ConnectHook>,
}

impl Listening {
    /// Not listening yet; `addresses` fills in once it does.
    pub fn new(
        multiserver: Multiserver,
        connections: Connections,
        gate: IncomingGate,
        addresses: Arc<Addresses>,
    ) -> Listening {
        Listening {
            multiserver: RwLock::new(multiserver),
            outgoing: connections.outgoing,
            incoming: connections.incoming,
            gate,
            addresses,
            accept_tasks: TaskTracker::new(),
            listened: OnceCell::new(),
            connect_hooks: HookList::new(),
        }
    }

    /// The hooks around dialling, oldest first.
    pub fn connect_hooks(&self) -> &HookList<ConnectHook> {
        &self.connect_hooks
    }

    /// Dials `address` through the registry's outgoing suites.
    pub async fn dial(&self, address: &str) -> Result<Established, DialError> {
        self.registry().connect(address).await
    }

    /// A snapshot of the registry (cheap: it holds its transports and transforms shared).
    fn registry(&self) -> Multiserver {
        // Every change is one push or one rebuild of the suites: never left half-made.
        self.multiserver
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Registers a plugin's transport (see [`PluginInit::transport`](super::PluginInit::transport))
    /// and the config's outgoing suites that name it.
    pub fn add_transport<T: Transport>(&self, transport: T) -> Result<(), RegistryError> {
        let mut ms = self.multiserver.write().unwrap_or_else(|e| e.into_inner());
        ms.add_transport(transport)?;
        ms.set_outgoing_known(&self.outgoing);
        Ok(())
    }

    /// Registers a plugin's transform and the config's outgoing suites that name it.
    pub fn add_transform<T: Transform>(&self, transform: T) -> Result<(), RegistryError> {
        let mut ms = self.multiserver.write().unwrap_or_else(|e| e.into_inner());
        ms.add_transform(transform)?;
        ms.set_outgoing_known(&self.outgoing);
        Ok(())
    }

    /// Once every plugin is made: sets the outgoing suites again, warning about the entries
    /// whose transport or transform nobody registered.
    pub fn finish_outgoing(&self) {
        let mut ms = self.multiserver.write().unwrap_or_else(|e| e.into_inner());
        ms.clear_outgoing();
        ms.add_outgoing_entries(&self.outgoing);
    }

    /// The listeners' addresses.
    pub fn addresses(&self) -> &Addresses {
        &self.addresses
    }

    /// The counters of the incoming caps.
    pub fn stats(&self) -> IncomingStats {
        self.gate.stats()
    }

    /// Starts the listeners once (see the module docs); later calls wait for the first.
    pub async fn listen(inner: &Arc<Inner>) {
        inner.listening.listened.get_or_init(|| start(inner)).await;
    }

    /// Stops the listeners (or keeps them from ever starting) and waits until their sockets are
    /// released; the app has no address from then on. Returns whether the app had been listening.
    /// The app's shutdown signal must have fired.
    pub async fn stop(&self) -> bool {
        let listened = *self.listened.get_or_init(|| async { false }).await;
        self.addresses.set(AddressBook::default());
        self.accept_tasks.close();
        self.accept_tasks.wait().await;
        listened
    }
}

/// Starts every listener, records their addresses, spawns their accept loops and sends
/// [`Event::Listening`]. Returns false if the app started closing first (nothing is started then).
async fn start(inner: &Arc<Inner>) -> bool {
    if inner.shutdown.is_started() {
        return false;
    }
    let this = &inner.listening;
    let mut servers = Vec::new();
    let registry = this.registry();
    for entry in &this.incoming {
        let suite = format!("{}~{}", entry.transport, entry.transform);
        match registry
            .listen_with(std::slice::from_ref(entry), this.gate.clone())
            .await
        {
            Ok(server) => servers.push((suite, server)),
            Err(e) => warn!("cannot listen with {suite}: {e}"),
        }
    }
    let books: Vec<AddressBook> = servers.iter().map(|(_, s)| s.address_book()).collect();
    this.addresses.set(AddressBook::combine(&books));
    for (suite, server) in servers {
        info!(%suite, address = %server.address(Scope::Device), "listening");
        this.accept_tasks.spawn(accept_loop(
            Arc::downgrade(inner),
            server,
            inner.shutdown.signal(),
        ));
    }
    let _ = inner.events.send(Event::Listening);
    true
}

/// Hands each secured incoming connection to the app's connections until the app stops
/// listening (or is dropped), then closes the listener and waits until its socket is released.
async fn accept_loop(app: Weak<Inner>, mut server: Server, signal: ShutdownSignal) {
    loop {
        tokio::select! {
            () = signal.fired() => break,
            next = server.accept() => {
                let Some(established) = next else { break };
                let Some(inner) = app.upgrade() else { break };
                debug!(address = %established.connection.address, "incoming connection");
                inner.connections.accept(Arc::clone(&inner), established);
            }
        }
    }
    server.shutdown().await;
    debug!("listener closed");
}

/// The addresses of every listener an app started, as one book; empty until it listens.
#[derive(Debug, Default)]
pub(crate) struct Addresses {
    book: RwLock<AddressBook>,
}

impl Addresses {
    fn set(&self, book: AddressBook) {
        *self.book.write().unwrap_or_else(|e| e.into_inner()) = book;
    }

    /// Every listener's addresses for `scope`; `None` when there are none.
    pub fn get(&self, scope: Scope) -> Option<Multiaddress> {
        self.book
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .multiaddress(scope)
    }

    /// The same as text (JS `multiserver.address`).
    pub fn multiaddress(&self, scope: Scope) -> Option<String> {
        self.get(scope).map(|m| m.to_string())
    }

    /// The same, `""` when there are none (JS `getAddress`).
    pub fn address(&self, scope: Scope) -> String {
        self.multiaddress(scope).unwrap_or_default()
    }
}
