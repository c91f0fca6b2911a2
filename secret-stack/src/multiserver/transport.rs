//! The [`Transport`] plugin trait: a way to open byte streams to a peer (`net`, `unix`, `ws`, or one
//! a plugin adds), and to listen for them, plus the [`ByteStream`] they produce.
//!
//! This is the Rust side of JS `app.multiserver.transport({name, create})`. A transport parses its
//! own section of an address into a typed address, dials it, and listens according to a
//! [`ListenConfig`]. The registry ([`super::Multiserver`]) only sees transports through an erased
//! form, so each transport keeps its own address type.

use std::any::Any;
use std::fmt;
use std::io;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::warn;

use super::address::{AddressError, Protocol};
use super::config::ListenConfig;
use super::scope::Scope;

/// The reading half of a byte stream.
pub type ByteReader = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a byte stream; `shutdown` ends our direction (EOF at the peer).
pub type ByteWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// A duplex byte stream to a peer with what is known about it.
pub struct ByteStream {
    /// Bytes from the peer. EOF when the peer shut its side down.
    pub reader: ByteReader,
    /// Bytes to the peer.
    pub writer: ByteWriter,
    /// The peer's multiserver address as far as known: the transport section (e.g.
    /// `net:127.0.0.1:53712`), then, after transforms ran, `~` and each transform's section
    /// (e.g. `~shs:<remote key>`). This is JS's `stream.address`.
    pub address: String,
    /// The name of the transport that carried it (`net`, `ws`...), JS's `stream.meta`.
    pub transport: String,
}

impl ByteStream {
    /// Wraps a reader and writer.
    pub fn new<R, W>(
        reader: R,
        writer: W,
        address: impl Into<String>,
        transport: impl Into<String>,
    ) -> ByteStream
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        ByteStream {
            reader: Box::new(reader),
            writer: Box::new(writer),
            address: address.into(),
            transport: transport.into(),
        }
    }

    /// Splits a single duplex stream (e.g. a socket type without an owned split) into a connection.
    pub fn from_duplex<S>(
        stream: S,
        address: impl Into<String>,
        transport: impl Into<String>,
    ) -> ByteStream
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (reader, writer) = tokio::io::split(stream);
        ByteStream::new(reader, writer, address, transport)
    }
}

impl fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteStream")
            .field("address", &self.address)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// A way to reach peers. Implement it to add a transport (JS `app.multiserver.transport`).
///
/// Futures are boxed (no `async-trait`); they may borrow `self` and the address.
pub trait Transport: Send + Sync + 'static {
    /// What this transport's section parses to.
    type Address: Send + Sync + 'static;

    /// The transport's name, as used in suites (`net~shs`) and in `connections` config keys.
    fn name(&self) -> &str;

    /// Parses this transport's section of an address (the first section), or says why not. Must
    /// reject sections of other protocols with [`AddressError::WrongProtocol`].
    fn parse(&self, section: &Protocol) -> Result<Self::Address, AddressError>;

    /// Opens a byte stream to `address`. The returned [`ByteStream::address`] is the transport
    /// section of the peer as this side sees it (JS records the remote IP and port for `net`).
    fn connect<'a>(&'a self, address: &'a Self::Address) -> BoxFuture<'a, io::Result<ByteStream>>;

    /// Starts listening as `config` says.
    fn listen<'a>(
        &'a self,
        config: &'a ListenConfig,
    ) -> BoxFuture<'a, io::Result<Box<dyn Listener>>>;
}

/// A started listener: yields incoming byte streams and says how to reach it.
/// Dropping it stops listening.
pub trait Listener: Send + 'static {
    /// Waits for the next incoming byte stream. An error is about this accept only (e.g. too many
    /// open files); the caller may keep accepting.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<ByteStream>>;

    /// The scopes this listener serves.
    fn scopes(&self) -> &[Scope];

    /// The transport sections that reach this listener from `scope`, one per host (empty when it
    /// does not serve `scope`, or has no host there).
    fn address(&self, scope: Scope) -> Vec<Protocol>;

    /// True when only processes on this machine can connect (loopback address, unix socket).
    /// Transforms that do not authenticate (`noauth`) refuse other listeners.
    fn is_device_only(&self) -> bool;
}

/// The host part of what a host/port listener announces (JS net and ws `stringify`): the scopes it
/// serves, the configured host, the `external` names for the public scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Scopes served.
    pub scopes: Vec<Scope>,
    /// The configured host, if any.
    pub host: Option<String>,
    /// Names printed for the public scope instead of the host.
    pub external: Vec<String>,
}

impl Announce {
    /// The hosts printed for `scope`: none if it is not served; the `external` names for
    /// [`Scope::Public`] when there are some; else the configured host; else the scope's own host
    /// ([`Scope::host`]). A configured wildcard host (`0.0.0.0`, `::`) is not printable and falls
    /// through to the scope's host (JS would print the wildcard).
    pub fn hosts(&self, scope: Scope) -> Vec<String> {
        if !self.scopes.contains(&scope) {
            return Vec::new();
        }
        if scope == Scope::Public && !self.external.is_empty() {
            return self.external.clone();
        }
        match &self.host {
            Some(host) if !is_wildcard(host) => vec![host.clone()],
            _ => scope.host().into_iter().collect(),
        }
    }

    /// The sections a listener of `transport` prints for `scope`: `section` of each host of
    /// [`Announce::hosts`], leaving out (with a warning) those it cannot print.
    pub(crate) fn sections(
        &self,
        scope: Scope,
        transport: &str,
        section: impl Fn(String) -> Result<Protocol, AddressError>,
    ) -> Vec<Protocol> {
        printable(transport, self.hosts(scope).into_iter().map(section))
    }
}

/// The sections a listener announces: the printable ones of `sections`, a warning for the others
/// (a host or path the address grammar cannot carry).
pub(crate) fn printable(
    transport: &str,
    sections: impl IntoIterator<Item = Result<Protocol, AddressError>>,
) -> Vec<Protocol> {
    sections
        .into_iter()
        .filter_map(|section| {
            section
                .map_err(|e| warn!("{transport}: cannot print listener address: {e}"))
                .ok()
        })
        .collect()
}

/// True for `0.0.0.0`, `::` and the empty host.
pub(crate) fn is_wildcard(host: &str) -> bool {
    host.is_empty()
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
}

/// A transport with its address type erased, as the registry holds it.
pub(crate) trait DynTransport: Send + Sync {
    fn name(&self) -> &str;
    fn parse(&self, section: &Protocol) -> Result<Box<dyn Any + Send + Sync>, AddressError>;
    fn connect<'a>(
        &'a self,
        address: &'a (dyn Any + Send + Sync),
    ) -> BoxFuture<'a, io::Result<ByteStream>>;
    fn listen<'a>(
        &'a self,
        config: &'a ListenConfig,
    ) -> BoxFuture<'a, io::Result<Box<dyn Listener>>>;
}

impl<T: Transport> DynTransport for T {
    fn name(&self) -> &str {
        Transport::name(self)
    }

    fn parse(&self, section: &Protocol) -> Result<Box<dyn Any + Send + Sync>, AddressError> {
        Transport::parse(self, section).map(|a| Box::new(a) as Box<dyn Any + Send + Sync>)
    }

    fn connect<'a>(
        &'a self,
        address: &'a (dyn Any + Send + Sync),
    ) -> BoxFuture<'a, io::Result<ByteStream>> {
        match address.downcast_ref::<T::Address>() {
            Some(address) => Transport::connect(self, address),
            None => Box::pin(async {
                Err(io::Error::other(
                    "internal error: address parsed by another transport",
                ))
            }),
        }
    }

    fn listen<'a>(
        &'a self,
        config: &'a ListenConfig,
    ) -> BoxFuture<'a, io::Result<Box<dyn Listener>>> {
        Transport::listen(self, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_prefers_external_for_public() {
        let a = Announce {
            scopes: vec![Scope::Device, Scope::Public],
            host: Some("0.0.0.0".into()),
            external: vec!["a.example".into()],
        };
        assert_eq!(a.hosts(Scope::Public), ["a.example"]);
        assert_eq!(a.hosts(Scope::Device), ["localhost"]);
        assert!(a.hosts(Scope::Local).is_empty());
    }
}
