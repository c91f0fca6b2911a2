//! Multiserver: how peers find and reach each other (PROTOCOL.md §7, §8.6).
//!
//! - [`address`]: the address grammar — `;` alternatives of `~`-joined sections, `!` escapes.
//! - Typed views of sections: [`NetAddress`], [`UnixAddress`], [`WsAddress`], [`ShsAddress`],
//!   [`OnionAddress`] (parse only).
//! - [`object_address()`]: secret-stack's `{host, port, key}` form.
//! - Plugin traits: [`Transport`] (open and accept byte streams) and [`Transform`] (what runs over
//!   them before RPC: [`Shs`], [`NoAuth`]...), like JS `app.multiserver.transport/transform`.
//! - Built-in transports: [`Net`] (TCP), [`Unix`] (Unix sockets), [`Ws`] (WebSocket).
//! - [`Multiserver`]: the registry that dials an address through its outgoing suites (falling back
//!   across alternatives) and starts a [`Server`] from [`Connections`] incoming entries.
//! - [`limits`]: caps on incoming connections and handshakes in progress ([`IncomingLimits`], a
//!   Rust extension).
//!
//! ```no_run
//! # async fn demo(key: secret_stack::keys::PublicKey) -> Result<(), Box<dyn std::error::Error>> {
//! use secret_stack::multiserver::{IncomingEntry, ListenConfig, Multiserver, Net, NoAuth, Scope};
//!
//! let mut ms = Multiserver::new();
//! ms.add_transport(Net)?.add_transform(NoAuth::new(key))?.add_outgoing("net", "noauth")?;
//! let mut server = ms
//!     .listen(&[IncomingEntry {
//!         transport: "net".into(),
//!         transform: "noauth".into(),
//!         config: ListenConfig::new(Scope::Device, "127.0.0.1"),
//!     }])
//!     .await?;
//! let address = server.address(Scope::Device); // e.g. "net:127.0.0.1:53712~noauth"
//! let client = ms.connect(&address).await?;
//! let incoming = server.accept().await;
//! # Ok(()) }
//! ```

mod accept;
pub mod address;
pub mod config;
pub mod limits;
pub mod net;
pub mod noauth;
pub mod object_address;
pub mod onion;
mod per_ip;
pub mod registry;
pub mod scope;
pub mod shs;
pub mod transform;
pub mod transport;
#[cfg(unix)]
pub mod unix;
pub mod ws;

pub use address::{Address, AddressError, Multiaddress, Protocol};
pub use config::{ConfigError, Connections, IncomingEntry, ListenConfig, OutgoingEntry};
pub use limits::{
    ConnectionSlot, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HANDSHAKES, IncomingGate, IncomingLimits,
    IncomingStats, NO_PER_IP_CAP,
};
pub use net::{Net, NetAddress};
pub use noauth::NoAuth;
pub use object_address::{ObjectKey, object_address};
pub use onion::OnionAddress;
pub use registry::{
    AddressBook, Candidate, ConnectError, Established, ListenError, Multiserver, RegistryError,
    Server,
};
pub use scope::Scope;
pub use shs::{Authorize, Shs, ShsAddress};
pub use transform::{Transform, TransformError, TransformInfo};
pub use transport::{Announce, BoxReader, BoxWriter, Connection, Listener, Transport};
#[cfg(unix)]
pub use unix::{Unix, UnixAddress};
pub use ws::{Ws, WsAddress, WsByteStream};
