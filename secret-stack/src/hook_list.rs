//! The one mechanism behind every run-time hook (method hooks, `auth`, `connect`): an ordered list
//! that can grow and shrink while the app runs, read without a lock, and whose entries are removed
//! by dropping the [`HookRegistration`] that adding them returned.
//!
//! Readers take a snapshot (`Arc<[H]>`, oldest first), so a chain that is running keeps the hooks it
//! started with even if one is removed meanwhile. An empty list costs one atomic load to check.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};

/// A growable, shrinkable list of hooks, oldest first. Clones share the list.
pub(crate) struct HookList<H> {
    shared: Arc<Shared<H>>,
}

impl<H> Clone for HookList<H> {
    fn clone(&self) -> Self {
        HookList {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<H> Default for HookList<H> {
    fn default() -> Self {
        HookList {
            shared: Arc::new(Shared {
                len: AtomicUsize::new(0),
                next_id: AtomicU64::new(0),
                entries: RwLock::new(Arc::from(Vec::new())),
            }),
        }
    }
}

struct Shared<H> {
    /// The number of hooks, readable without the lock.
    len: AtomicUsize,
    next_id: AtomicU64,
    /// `(id, hook)`, oldest first. Replaced whole on every change.
    entries: RwLock<Arc<[(u64, H)]>>,
}

impl<H: Clone + Send + Sync + 'static> HookList<H> {
    /// An empty list.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// True when no hook is registered: one atomic load, no lock.
    pub(crate) fn is_empty(&self) -> bool {
        self.shared.len.load(Ordering::Acquire) == 0
    }

    /// The hooks registered now, oldest first (so the newest, outermost in a chain, is last).
    pub(crate) fn snapshot(&self) -> Vec<H> {
        if self.is_empty() {
            return Vec::new();
        }
        let entries = self.read();
        entries.iter().map(|(_, h)| h.clone()).collect()
    }

    /// Adds a hook as the newest; it stays until the returned registration is dropped (or for the
    /// list's whole life after [`HookRegistration::keep`]).
    pub(crate) fn add(&self, hook: H) -> HookRegistration {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut entries = self
                .shared
                .entries
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let mut next: Vec<(u64, H)> = entries.iter().cloned().collect();
            next.push((id, hook));
            self.shared.len.store(next.len(), Ordering::Release);
            *entries = Arc::from(next);
        }
        let weak: Weak<Shared<H>> = Arc::downgrade(&self.shared);
        HookRegistration {
            remove: Some(Box::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.remove(id);
                }
            })),
        }
    }

    fn read(&self) -> Arc<[(u64, H)]> {
        Arc::clone(
            &self
                .shared
                .entries
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }
}

impl<H: Clone> Shared<H> {
    fn remove(&self, id: u64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let next: Vec<(u64, H)> = entries.iter().filter(|(i, _)| *i != id).cloned().collect();
        self.len.store(next.len(), Ordering::Release);
        *entries = Arc::from(next);
    }
}

/// A hook's registration: the hook stays in place while this is alive and is removed when it is
/// dropped. Call [`keep`](HookRegistration::keep) to leave the hook in place for the app's whole
/// life (as every JS hook is).
///
/// ```
/// # fn demo(registration: secret_stack::plugin::HookRegistration) {
/// // …keep `registration` in the plugin's state to remove the hook later by dropping it,
/// // or keep the hook for good:
/// registration.keep();
/// # }
/// ```
#[must_use = "the hook is removed as soon as its registration is dropped; call `.keep()` to keep it"]
pub struct HookRegistration {
    remove: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl HookRegistration {
    /// Leaves the hook in place for as long as the app lives.
    pub fn keep(mut self) {
        self.remove = None;
    }
}

impl std::fmt::Debug for HookRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookRegistration")
            .field("kept", &self.remove.is_none())
            .finish()
    }
}

impl Drop for HookRegistration {
    fn drop(&mut self) {
        if let Some(remove) = self.remove.take() {
            remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_come_out_oldest_first_and_leave_when_their_registration_drops() {
        let list: HookList<&'static str> = HookList::new();
        assert!(list.is_empty());
        let a = list.add("a");
        let b = list.add("b");
        list.add("c").keep();
        assert_eq!(list.snapshot(), vec!["a", "b", "c"]);
        drop(b);
        assert_eq!(list.snapshot(), vec!["a", "c"]);
        drop(a);
        assert_eq!(list.snapshot(), vec!["c"]);
        assert!(!list.is_empty());
    }

    #[test]
    fn a_registration_outliving_its_list_drops_quietly() {
        let list: HookList<u8> = HookList::new();
        let registration = list.add(1);
        drop(list);
        drop(registration);
    }
}
