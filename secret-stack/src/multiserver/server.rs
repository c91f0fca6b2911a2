//! Listening: [`Multiserver::listen`] starts a listener per incoming entry and gives a [`Server`]
//! that yields the connections whose transform succeeded.
//!
//! Every incoming byte stream passes the server's [`IncomingGate`] (caps on connections and on
//! handshakes in progress, see [`super::limits`]) before its transform runs.

use std::fmt;
use std::io;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::accept::accept_loop;
use super::address::Address;
use super::address_book::AddressBook;
use super::config::IncomingEntry;
use super::limits::{IncomingGate, IncomingStats};
use super::registry::{Established, Multiserver, RegistryError, suite_name};
use super::scope::Scope;

/// Established incoming connections waiting for [`Server::accept`].
const ACCEPT_QUEUE: usize = 64;

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

impl Multiserver {
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
        server.book = AddressBook::new(announced);
        Ok(server)
    }
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
