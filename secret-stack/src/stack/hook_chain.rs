//! Walking a chain of hooks for one call (the `auth` and `connect` chains): the hooks registered
//! when the call started, run newest first, each handed the rest below it; a hook that panics
//! gives a fixed answer instead of taking the app down.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::hook_list::HookList;

/// The hooks still to run for one call: the older part of a snapshot.
pub(crate) struct Rest<H> {
    /// The call's hooks, oldest first.
    hooks: Arc<[H]>,
    /// How many of them (counted from the oldest) are still to run.
    below: usize,
}

impl<H> Clone for Rest<H> {
    fn clone(&self) -> Self {
        Rest {
            hooks: Arc::clone(&self.hooks),
            below: self.below,
        }
    }
}

impl<H: Clone + Send + Sync + 'static> Rest<H> {
    /// Every hook registered in `list` now.
    pub fn all(list: &HookList<H>) -> Rest<H> {
        let hooks: Arc<[H]> = Arc::from(list.snapshot());
        let below = hooks.len();
        Rest { hooks, below }
    }

    /// The newest hook still to run and the rest below it; `None` at the bottom of the chain.
    pub fn pop(self) -> Option<(H, Rest<H>)> {
        let index = self.below.checked_sub(1)?;
        let hook = self.hooks.get(index)?.clone();
        Some((
            hook,
            Rest {
                hooks: self.hooks,
                below: index,
            },
        ))
    }
}

impl<H> Rest<H> {
    /// How many hooks are still to run.
    pub fn len(&self) -> usize {
        self.below
    }
}

/// Runs the future `call` makes; if making or awaiting it panics, answers `on_panic()` instead.
pub(crate) async fn guarded<T, F>(call: impl FnOnce() -> F, on_panic: impl FnOnce() -> T) -> T
where
    F: Future<Output = T>,
{
    let Ok(future) = std::panic::catch_unwind(AssertUnwindSafe(call)) else {
        return on_panic();
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(answer) => answer,
        Err(_) => on_panic(),
    }
}

/// A boxed `ready` answer, for the bottom of a chain.
pub(crate) fn ready<T: Send + 'static>(answer: T) -> BoxFuture<'static, T> {
    futures::future::ready(answer).boxed()
}
