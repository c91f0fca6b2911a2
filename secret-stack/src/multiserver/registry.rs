//! The [`Multiserver`] registry: transports and transforms by name, and the outgoing suites
//! (transport~transform pairs such as `net~shs`) used to dial, tried in the order added. Dialling
//! is in [`dial`](super::dial), listening in [`server`](super::server).

use std::fmt;
use std::sync::Arc;

use tracing::warn;

use super::config::OutgoingEntry;
use super::limits::ConnectionSlot;
use super::transform::{DynTransform, Transform, TransformInfo};
use super::transport::{ByteStream, DynTransport, Transport};

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

/// A connection whose transform has run: the secured byte stream and who is at the other end.
#[derive(Debug)]
pub struct Established {
    /// The byte stream; its `address` is `<transport section>~<transform section>`, e.g.
    /// `net:127.0.0.1:8008~shs:<remote key>`.
    pub connection: ByteStream,
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
    pub(super) outgoing: Vec<(Arc<dyn DynTransport>, Arc<dyn DynTransform>)>,
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

    /// Drops every outgoing suite.
    pub(crate) fn clear_outgoing(&mut self) {
        self.outgoing.clear();
    }

    /// Sets the outgoing suites to the entries whose transport and transform are registered,
    /// quietly: more may be registered later (by plugins), and
    /// [`Multiserver::add_outgoing_entries`] warns about the rest once they all are.
    pub(crate) fn set_outgoing_known(&mut self, entries: &[OutgoingEntry]) {
        self.outgoing.clear();
        for entry in entries {
            if let (Some(t), Some(f)) = (
                self.transport(&entry.transport),
                self.transform(&entry.transform),
            ) {
                self.outgoing.push((t, f));
            }
        }
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

    pub(super) fn transport(&self, name: &str) -> Option<Arc<dyn DynTransport>> {
        self.transports.iter().find(|t| t.name() == name).cloned()
    }

    pub(super) fn transform(&self, name: &str) -> Option<Arc<dyn DynTransform>> {
        self.transforms.iter().find(|t| t.name() == name).cloned()
    }
}

/// A suite's name: `<transport>~<transform>`, e.g. `net~shs`.
pub(super) fn suite_name(transport: &dyn DynTransport, transform: &dyn DynTransform) -> String {
    format!("{}~{}", transport.name(), transform.name())
}
