//! The [`Multiserver`] registry: transports and transforms by name, the outgoing suites
//! (transport~transform pairs such as `net~shs`) used to dial, and the listeners started from
//! incoming entries ([`Server`]).
//!
//! Dialling: the address's `;` alternatives are read in order and each is matched with the first
//! outgoing suite that parses it. JS multiserver dials only the first match (§7.2); this registry
//! dials the matches in order and **falls back to the next one when a dial or transform fails**,
//! returning every failure if none succeeds. An address that no suite parses fails with the JS text
//! `could not connect to:<address>, only know:<suites>`.
//!
//! Listening: every incoming byte stream passes the server's [`IncomingGate`] (caps on
//! connections and on handshakes in progress, see [`super::limits`]) before its transform runs.

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::accept::accept_loop;
use super::limits::{ConnectionSlot, IncomingGate, IncomingStats};

use super::address::{Address, AddressError, Multiaddress, split_alternatives};
use super::config::{IncomingEntry, OutgoingEntry};
pub use super::dial_error::ConnectError;
use super::dial_error::ParseFailures;
use super::scope::Scope;
use super::transform::{DynTransform, Transform, TransformInfo};
use super::transport::{Connection, DynTransport, Transport};

/// Established incoming connections waiting for [`Server::accept`].
const ACCEPT_QUEUE: usize = 64;

/// Registration mistakes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two transports with one name.
    #[error("a transport named {0:?} is already registered")]
    DuplicateTransport(String),
    /// Two transforms with one name.
    #[error("a transform named {0:?} is already registered")]
    DuplicateTransform(String),
    /// A suite or incoming entry names a transport nobody registered.
    #[error("no transport named {0:?} is registered")]
    UnknownTransport(String),
    /// A suite or incoming entry names a transform nobody registered.
    #[error("no transform named {0:?} is registered")]
    UnknownTransform(String),
}

/// Why [`Multiserver::listen`] failed. Listeners already started by the same call are closed.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// An entry names an unregistered transport or transform.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The transport could not start listening.
    #[error("could not listen with {suite}: {source}")]
    Bind {
        /// The suite, e.g. `net~shs`.
        suite: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A transform that does not authenticate was to run on a listener other machines can reach.
    #[error(
        "refusing to listen with {suite}: {transform} does not authenticate, so it only runs where only this device can connect (loopback or unix socket)"
    )]
    NotDeviceOnly {
        /// The suite.
        suite: String,
        /// The transform's name.
        transform: String,
    },
}

/// A connection whose transform has run: the secured byte stream and who is at the other end.
#[derive(Debug)]
pub struct Established {
    /// The byte stream; its `address` is `<transport section>~<transform section>`, e.g.
    /// `net:127.0.0.1:8008~shs:<remote key>`.
    pub connection: Connection,
    /// What the transform established (remote key, permissions it grants).
    pub info: TransformInfo,
    /// The suite that carried it, e.g. `net~shs`.
    pub suite: String,
    /// For an incoming connection, its place under the server's connection cap
    /// ([`super::IncomingLimits::max_connections`]): keep it until the connection ends, dropping
    /// it lets another connection in. `None` for outgoing connections, which are not capped.
    pub slot: Option<ConnectionSlot>,
}

/// Transports, transforms and outgoing suites. Cheap to clone (shared registrations).
#[derive(Clone, Default)]
pub struct Multiserver {
    transports: Vec<Arc<dyn DynTransport>>,
    transforms: Vec<Arc<dyn DynTransform>>,
    outgoing: Vec<(Arc<dyn DynTransport>, Arc<dyn DynTransform>)>,
}

impl fmt::Debug for Multiserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multiserver")
            .field("transports", &self.transport_names())
            .field("transforms", &self.transform_names())
            .field("outgoing", &self.suites())
            .finish()
    }
}

/// One alternative of an address matched with the suite that will dial it.
pub struct Candidate {
    /// Index of the alternative in the address.
    pub alternative: usize,
    /// The alternative's text.
    pub address: String,
    /// The suite's name, e.g. `net~shs`.
    pub suite: String,
    transport: Arc<dyn DynTransport>,
    transform: Arc<dyn DynTransform>,
    transport_address: Box<dyn Any + Send + Sync>,
    transform_address: Box<dyn Any + Send + Sync>,
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("alternative", &self.alternative)
            .field("address", &self.address)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Multiserver {
    /// An empty registry.
    pub fn new() -> Multiserver {
        Multiserver::default()
    }

    /// Registers a transport.
    pub fn add_transport<T: Transport>(
        &mut self,
        transport: T,
    ) -> Result<&mut Self, RegistryError> {
        let name = Transport::name(&transport).to_owned();
        if self.transport(&name).is_some() {
            return Err(RegistryError::DuplicateTransport(name));
        }
        self.transports.push(Arc::new(transport));
        Ok(self)
    }

    /// Registers a transform.
    pub fn add_transform<T: Transform>(
        &mut self,
        transform: T,
    ) -> Result<&mut Self, RegistryError> {
        let name = Transform::name(&transform).to_owned();
        if self.transform(&name).is_some() {
            return Err(RegistryError::DuplicateTransform(name));
        }
        self.transforms.push(Arc::new(transform));
        Ok(self)
    }

    /// Adds an outgoing suite; suites are tried in the order added.
    pub fn add_outgoing(
        &mut self,
        transport: &str,
        transform: &str,
    ) -> Result<&mut Self, RegistryError> {
        let t = self
            .transport(transport)
            .ok_or_else(|| RegistryError::UnknownTransport(transport.to_owned()))?;
        let f = self
            .transform(transform)
            .ok_or_else(|| RegistryError::UnknownTransform(transform.to_owned()))?;
        self.outgoing.push((t, f));
        Ok(self)
    }

    /// Adds every outgoing entry whose transport and transform are registered, skipping (with a
    /// warning) the others, as JS does.
    pub fn add_outgoing_entries(&mut self, entries: &[OutgoingEntry]) -> &mut Self {
        for entry in entries {
            if let Err(e) = self.add_outgoing(&entry.transport, &entry.transform) {
                warn!(
                    "multiserver: skipping outgoing {}~{}: {e}",
                    entry.transport, entry.transform
                );
            }
        }
        self
    }

    /// Names of the registered transports, in registration order.
    pub fn transport_names(&self) -> Vec<String> {
        self.transports
            .iter()
            .map(|t| t.name().to_owned())
            .collect()
    }

    /// Names of the registered transforms, in registration order.
    pub fn transform_names(&self) -> Vec<String> {
        self.transforms
            .iter()
            .map(|t| t.name().to_owned())
            .collect()
    }

    /// The outgoing suites as JS names them: `net~shs;ws~shs` (empty string when none).
    pub fn suites(&self) -> String {
        self.outgoing
            .iter()
            .map(|(t, f)| suite_name(t.as_ref(), f.as_ref()))
            .collect::<Vec<_>>()
            .join(";")
    }

    fn transport(&self, name: &str) -> Option<Arc<dyn DynTransport>> {
        self.transports.iter().find(|t| t.name() == name).cloned()
    }

    fn transform(&self, name: &str) -> Option<Arc<dyn DynTransform>> {
        self.transforms.iter().find(|t| t.name() == name).cloned()
    }

    /// Matches each alternative of `address` with the first outgoing suite that parses it, in
    /// order; alternatives no suite parses are left out. Fails with
    /// [`ConnectError::Unparseable`] when none is left.
    pub fn plan(&self, address: &str) -> Result<Vec<Candidate>, ConnectError> {
        let mut candidates = Vec::new();
        let mut reasons = Vec::new();
        for (index, text) in split_alternatives(address).into_iter().enumerate() {
            let parsed = match text.parse::<Address>() {
                Ok(parsed) => parsed,
                Err(e) => {
                    reasons.push((text.to_owned(), e));
                    continue;
                }
            };
            for (transport, transform) in &self.outgoing {
                match parse_with(transport, transform, &parsed) {
                    Ok((transport_address, transform_address)) => {
                        candidates.push(Candidate {
                            alternative: index,
                            address: text.to_owned(),
                            suite: suite_name(transport.as_ref(), transform.as_ref()),
                            transport: transport.clone(),
                            transform: transform.clone(),
                            transport_address,
                            transform_address,
                        });
                        break;
                    }
                    Err(e) => reasons.push((text.to_owned(), e)),
                }
            }
        }
        if candidates.is_empty() {
            return Err(ConnectError::Unparseable {
                address: address.to_owned(),
                suites: self.suites(),
                reasons: ParseFailures(reasons),
            });
        }
        Ok(candidates)
    }

    /// Dials `address` (a multiserver address string) and runs the transform's client side; see
    /// the module docs for the fallback across alternatives.
    pub async fn connect(&self, address: &str) -> Result<Established, ConnectError> {
        let mut failures = Vec::new();
        for candidate in self.plan(address)? {
            match dial(&candidate).await {
                Ok(established) => return Ok(established),
                Err(e) => {
                    debug!(address = %candidate.address, "multiserver: dial failed: {e}");
                    failures.push(e);
                }
            }
        }
        if failures.len() == 1
            && let Some(only) = failures.pop()
        {
            return Err(only);
        }
        Err(ConnectError::Exhausted(failures))
    }

    /// Starts a listener for each entry and runs the transform's server side on every incoming
    /// byte stream, under the default [`IncomingLimits`](super::IncomingLimits). On error the
    /// listeners started so far are closed.
    pub async fn listen(&self, entries: &[IncomingEntry]) -> Result<Server, ListenError> {
        self.listen_with(entries, IncomingGate::default()).await
    }

    /// [`Multiserver::listen`] with the caps and counters of `gate`, which may be shared with
    /// other servers (the stack shares one across all the listeners of an app).
    pub async fn listen_with(
        &self,
        entries: &[IncomingEntry],
        gate: IncomingGate,
    ) -> Result<Server, ListenError> {
        let (sender, receiver) = mpsc::channel(ACCEPT_QUEUE);
        let mut server = Server {
            receiver,
            tasks: Vec::new(),
            book: AddressBook::default(),
            gate: gate.clone(),
        };
        let mut announced = Vec::new();
        for entry in entries {
            let transport = self
                .transport(&entry.transport)
                .ok_or_else(|| RegistryError::UnknownTransport(entry.transport.clone()))?;
            let transform = self
                .transform(&entry.transform)
                .ok_or_else(|| RegistryError::UnknownTransform(entry.transform.clone()))?;
            let suite = suite_name(transport.as_ref(), transform.as_ref());
            let listener =
                transport
                    .listen(&entry.config)
                    .await
                    .map_err(|source| ListenError::Bind {
                        suite: suite.clone(),
                        source,
                    })?;
            if transform.requires_device_only() && !listener.is_device_only() {
                return Err(ListenError::NotDeviceOnly {
                    suite,
                    transform: transform.name().to_owned(),
                });
            }
            let local = transform.local_section();
            let by_scope = Scope::ALL
                .into_iter()
                .map(|scope| {
                    let addresses = listener
                        .address(scope)
                        .into_iter()
                        .filter_map(|section| Address::new(vec![section, local.clone()]))
                        .collect();
                    (scope, addresses)
                })
                .collect();
            announced.push(by_scope);
            server.tasks.push(tokio::spawn(accept_loop(
                listener,
                transform,
                suite,
                sender.clone(),
                gate.clone(),
            )));
        }
        server.book = AddressBook {
            listeners: Arc::from(announced),
        };
        Ok(server)
    }
}

fn suite_name(transport: &dyn DynTransport, transform: &dyn DynTransform) -> String {
    format!("{}~{}", transport.name(), transform.name())
}

type Parsed = (Box<dyn Any + Send + Sync>, Box<dyn Any + Send + Sync>);

fn parse_with(
    transport: &Arc<dyn DynTransport>,
    transform: &Arc<dyn DynTransform>,
    address: &Address,
) -> Result<Parsed, AddressError> {
    let [first, second] = address.sections() else {
        return Err(AddressError::SectionCount {
            address: address.to_string(),
            suite: suite_name(transport.as_ref(), transform.as_ref()),
            expected: 2,
            got: address.sections().len(),
        });
    };
    Ok((transport.parse(first)?, transform.parse(second)?))
}

async fn dial(candidate: &Candidate) -> Result<Established, ConnectError> {
    let connection = candidate
        .transport
        .connect(candidate.transport_address.as_ref())
        .await
        .map_err(|source| ConnectError::Dial {
            address: candidate.address.clone(),
            source,
        })?;
    let transport_address = connection.address.clone();
    let (mut connection, info) = candidate
        .transform
        .client(connection, candidate.transform_address.as_ref())
        .await
        .map_err(|source| ConnectError::Transform {
            address: candidate.address.clone(),
            source,
        })?;
    connection.address = format!("{transport_address}~{}", info.section);
    debug!(address = %connection.address, suite = %candidate.suite, "multiserver: connected");
    Ok(Established {
        connection,
        info,
        suite: candidate.suite.clone(),
        slot: None,
    })
}

/// Running listeners. Dropping it (or [`Server::close`]) stops them and aborts handshakes in
/// progress; connections already handed out stay open.
pub struct Server {
    receiver: mpsc::Receiver<Established>,
    tasks: Vec<JoinHandle<()>>,
    book: AddressBook,
    gate: IncomingGate,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listeners", &self.tasks.len())
            .field("device_address", &self.address(Scope::Device))
            .finish()
    }
}

impl Server {
    /// The next incoming connection whose transform succeeded; `None` once no listener is left.
    /// Failed handshakes are logged (debug) and skipped, as in JS. Keep its
    /// [`slot`](Established::slot) while the connection lives, or the connection cap does not
    /// count it.
    pub async fn accept(&mut self) -> Option<Established> {
        self.receiver.recv().await
    }

    /// This node's address for `scope`: every listener serving it, with its transform section,
    /// `;`-joined; `""` when none does (JS `getAddress`).
    pub fn address(&self, scope: Scope) -> String {
        self.book.address(scope)
    }

    /// The counters of the server's [`IncomingGate`] (shared with other servers using the same
    /// gate): connections and handshakes held, peaks, refusals.
    pub fn incoming_stats(&self) -> IncomingStats {
        self.gate.stats()
    }

    /// A handle to the addresses that outlives moving the server into an accept task.
    pub fn address_book(&self) -> AddressBook {
        self.book.clone()
    }

    /// Stops listening.
    pub fn close(self) {}

    /// Stops listening and waits until every listener task has ended, so its socket is released
    /// when this returns (dropping the server only asks the tasks to stop). Handshakes in progress
    /// are aborted.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            // A cancelled task is the expected outcome; a panicked one has nothing left to release.
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One listener's addresses (with its transform section), by scope.
type ListenerAddresses = Vec<(Scope, Vec<Address>)>;

/// The addresses of a [`Server`]'s listeners, by scope. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    listeners: Arc<[ListenerAddresses]>,
}

impl AddressBook {
    /// Every address serving `scope`, in listener order; `None` when there is none
    /// (JS `multiserver.address` returns null then).
    pub fn multiaddress(&self, scope: Scope) -> Option<Multiaddress> {
        let addresses = self
            .listeners
            .iter()
            .flatten()
            .filter(|(s, _)| *s == scope)
            .flat_map(|(_, addresses)| addresses.iter().cloned())
            .collect();
        Multiaddress::new(addresses)
    }

    /// The same as a string; `""` when there is none (JS `getAddress`).
    pub fn address(&self, scope: Scope) -> String {
        self.multiaddress(scope)
            .map(|m| m.to_string())
            .unwrap_or_default()
    }
}
