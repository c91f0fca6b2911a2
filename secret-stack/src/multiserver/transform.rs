//! The [`Transform`] plugin trait: what runs over a fresh byte stream before RPC starts (the secret
//! handshake and box stream for `shs`, nothing for `noauth`, or one a plugin adds), and what it
//! learned about the peer ([`TransformInfo`]).
//!
//! This is the Rust side of JS `app.multiserver.transform({name, create})`.
//!
//! [`super::Shs`] (secret handshake + box stream) and [`super::NoAuth`] implement it here.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::io;

use futures::future::BoxFuture;

use super::address::{AddressError, Protocol};
use super::transport::ByteStream;
use crate::keys::PublicKey;
use crate::rpc::Permissions;

/// What a transform established about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformInfo {
    /// The peer's identity (for `noauth`: our own key, as JS reports it).
    pub remote: PublicKey,
    /// The section appended to the connection's address, e.g. `shs:<remote key>` or
    /// `noauth:<local key>`.
    pub section: Protocol,
    /// Permissions the transform grants by itself (`noauth`: full), or `None` to let the stack
    /// decide (auth hook, anonymous).
    pub permissions: Option<Permissions>,
}

/// Why a transform failed.
///
/// Both variants are transparent in the error chain: `Display` and
/// [`source`](std::error::Error::source) are those of the error inside, so JS error texts
/// (`shs.client: ...`) come through unchanged and nothing is said twice.
#[derive(Debug)]
pub enum TransformError {
    /// The byte stream failed.
    Io(io::Error),
    /// The handshake was refused or broken.
    Handshake {
        /// The transform's name.
        transform: String,
        /// What went wrong.
        source: Box<dyn Error + Send + Sync>,
    },
}

impl From<io::Error> for TransformError {
    fn from(error: io::Error) -> Self {
        TransformError::Io(error)
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransformError::Io(e) => e.fmt(f),
            TransformError::Handshake { source, .. } => source.fmt(f),
        }
    }
}

impl Error for TransformError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TransformError::Io(e) => e.source(),
            TransformError::Handshake { source, .. } => source.source(),
        }
    }
}

/// What runs over a byte stream before RPC. Implement it to add a transform
/// (JS `app.multiserver.transform`).
pub trait Transform: Send + Sync + 'static {
    /// What this transform's section of a dialled address parses to.
    type Address: Send + Sync + 'static;

    /// The transform's name, as used in suites (`net~shs`) and in `transform:` config values.
    fn name(&self) -> &str;

    /// Parses this transform's section of an address we are to dial, or says why not. Must reject
    /// sections of other protocols with [`AddressError::WrongProtocol`].
    fn parse(&self, section: &Protocol) -> Result<Self::Address, AddressError>;

    /// Runs the dialling side over `connection`.
    fn client<'a>(
        &'a self,
        connection: ByteStream,
        address: &'a Self::Address,
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>>;

    /// Runs the accepting side over `connection`.
    fn server<'a>(
        &'a self,
        connection: ByteStream,
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>>;

    /// The section this node prints after its listeners' transport sections (`shs:<our key>`,
    /// `noauth`).
    fn local_section(&self) -> Protocol;

    /// True if this transform must only run on listeners only this machine can reach
    /// ([`super::Listener::is_device_only`]), because it does not authenticate. Default `false`.
    fn requires_device_only(&self) -> bool {
        false
    }
}

/// A transform with its address type erased, as the registry holds it.
pub(crate) trait DynTransform: Send + Sync {
    fn name(&self) -> &str;
    fn parse(&self, section: &Protocol) -> Result<Box<dyn Any + Send + Sync>, AddressError>;
    fn client<'a>(
        &'a self,
        connection: ByteStream,
        address: &'a (dyn Any + Send + Sync),
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>>;
    fn server<'a>(
        &'a self,
        connection: ByteStream,
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>>;
    fn local_section(&self) -> Protocol;
    fn requires_device_only(&self) -> bool;
}

impl<T: Transform> DynTransform for T {
    fn name(&self) -> &str {
        Transform::name(self)
    }

    fn parse(&self, section: &Protocol) -> Result<Box<dyn Any + Send + Sync>, AddressError> {
        Transform::parse(self, section).map(|a| Box::new(a) as Box<dyn Any + Send + Sync>)
    }

    fn client<'a>(
        &'a self,
        connection: ByteStream,
        address: &'a (dyn Any + Send + Sync),
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>> {
        match address.downcast_ref::<T::Address>() {
            Some(address) => Transform::client(self, connection, address),
            None => Box::pin(async {
                Err(TransformError::Io(io::Error::other(
                    "internal error: address parsed by another transform",
                )))
            }),
        }
    }

    fn server<'a>(
        &'a self,
        connection: ByteStream,
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>> {
        Transform::server(self, connection)
    }

    fn local_section(&self) -> Protocol {
        Transform::local_section(self)
    }

    fn requires_device_only(&self) -> bool {
        Transform::requires_device_only(self)
    }
}
