//! The addresses a [`Server`](super::Server)'s listeners announce, by scope, as typed
//! multiserver addresses.

use std::sync::Arc;

use super::address::{Address, Multiaddress};
use super::scope::Scope;

/// One listener's addresses (with its transform section), by scope.
pub(super) type ListenerAddresses = Vec<(Scope, Vec<Address>)>;

/// The addresses of a [`Server`](super::Server)'s listeners, by scope. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    listeners: Arc<[ListenerAddresses]>,
}

impl AddressBook {
    /// The book of listeners announcing `listeners`, each by scope.
    pub(super) fn new(listeners: Vec<ListenerAddresses>) -> AddressBook {
        AddressBook {
            listeners: Arc::from(listeners),
        }
    }

    /// One book holding every listener of `books`, in order (an app's listeners, started one
    /// server each).
    pub fn combine<'a>(books: impl IntoIterator<Item = &'a AddressBook>) -> AddressBook {
        let listeners: Vec<ListenerAddresses> = books
            .into_iter()
            .flat_map(|book| book.listeners.iter().cloned())
            .collect();
        AddressBook::new(listeners)
    }

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
