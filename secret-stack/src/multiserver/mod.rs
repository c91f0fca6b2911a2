//! Multiserver: how peers find and reach each other.
//!
//! - [`Multiaddress`] and [`Address`]: the address grammar — `;` alternatives of `~`-joined
//!   sections, `!` escapes.
//! - Typed views of sections: [`NetAddress`], [`UnixAddress`], [`WsAddress`], [`ShsAddress`],
//!   [`OnionAddress`] (parse only).
//! - [`object_address()`]: secret-stack's `{host, port, key}` form.
//! - Plugin traits: [`Transport`] (open and accept byte streams) and [`Transform`] (what runs over
//!   them before RPC: [`Shs`], [`NoAuth`]...), like JS `app.multiserver.transport/transform`.
//! - Built-in transports: [`Net`] (TCP), [`Unix`] (Unix sockets, feature `unix`), [`Ws`]
//!   (WebSocket, feature `ws`); both features are on by default.
//! - [`Multiserver`]: transports, transforms and outgoing suites by name; planning and dialling
//!   an address through the outgoing suites (falling back across alternatives); a [`Server`] of
//!   listeners started from [`Connections`] incoming entries; the addresses those listeners
//!   announce ([`AddressBook`]).
//! - [`IncomingLimits`]: caps on incoming connections and handshakes in progress (a Rust
//!   extension).
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

pub(crate) mod accept;
pub(crate) mod address;
pub(crate) mod address_book;
pub(crate) mod config;
pub(crate) mod dial;
pub(crate) mod dial_error;
pub(crate) mod limits;
pub(crate) mod net;
pub(crate) mod noauth;
pub(crate) mod object_address;
pub(crate) mod onion;
pub(crate) mod per_ip;
pub(crate) mod refusal_log;
pub(crate) mod registry;
pub(crate) mod scope;
pub(crate) mod server;
pub(crate) mod shs;
pub(crate) mod transform;
pub(crate) mod transport;
#[cfg(all(unix, feature = "unix"))]
pub(crate) mod unix;
#[cfg(feature = "ws")]
pub(crate) mod ws;

pub use address::{Address, AddressError, Multiaddress, Protocol};
pub use address_book::AddressBook;
pub use config::{Connections, ConnectionsError, IncomingEntry, ListenConfig, OutgoingEntry};
pub use dial::Candidate;
pub use dial_error::{DialError, ParseFailures};
pub use limits::{
    ConnectionSlot, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HANDSHAKES, IncomingGate, IncomingLimits,
    IncomingStats, NO_PER_IP_CAP,
};
pub use net::{DIAL_TIMEOUT, Net, NetAddress};
pub use noauth::NoAuth;
pub use object_address::{ObjectKey, object_address};
pub use onion::OnionAddress;
pub use registry::{Established, Multiserver, RegistryError};
pub use scope::{Scope, UnknownScope};
pub use server::{ListenError, Server};
pub use shs::{Authorize, Shs, ShsAddress};
pub use transform::{Transform, TransformError, TransformInfo};
pub use transport::{Announce, ByteReader, ByteStream, ByteWriter, Listener, Transport};
#[cfg(all(unix, feature = "unix"))]
pub use unix::{Unix, UnixAddress};
#[cfg(feature = "ws")]
pub use ws::{Ws, WsAddress, WsByteStream};
