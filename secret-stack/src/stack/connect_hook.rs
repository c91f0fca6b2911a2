//! The `connect` hooks (JS `app.connect.hook((fn, [address, cb]) => …)`): functions wrapped around
//! [`App::connect`] that can observe a dial, refuse it, redirect it to another address, or look at
//! (or drop) the connection it made.
//!
//! Hooks compose like the auth chain: the most recently added runs first and either answers or
//! passes the dial on with [`ConnectNext::run`] (the older hooks, then the dial itself). Each dial
//! runs the hooks registered when it started. With no hook, [`App::connect`] checks one atomic
//! counter and dials.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use tracing::{debug, warn};

use crate::hook_list::HookRegistration;

use super::app::App;
use super::connections;
use super::error::ConnectError;
use super::peer::Peer;

/// A hook around [`App::connect`]: gets the address being dialled and the rest of the chain.
pub type ConnectHook = Arc<
    dyn Fn(String, ConnectNext) -> BoxFuture<'static, Result<Peer, ConnectError>> + Send + Sync,
>;

/// The rest of the connect chain below a hook: the older hooks, then the dial itself.
#[derive(Clone)]
pub struct ConnectNext {
    app: App,
    /// The hooks of this dial, oldest first.
    hooks: Arc<[ConnectHook]>,
    /// How many hooks (counted from the oldest) are still below.
    below: usize,
}

impl std::fmt::Debug for ConnectNext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectNext")
            .field("hooks_below", &self.below)
            .finish()
    }
}

impl ConnectNext {
    /// Passes the dial on to the rest of the chain (JS: calling `fn` from inside the hook), to
    /// `address` — the one the hook was given, or another to redirect the dial.
    pub fn run(self, address: String) -> BoxFuture<'static, Result<Peer, ConnectError>> {
        run_from(self.app, self.hooks, self.below, address)
    }
}

/// [`App::connect`]: through the hooks registered now, if any, then the dial.
pub(crate) async fn connect(app: &App, address: &str) -> Result<Peer, ConnectError> {
    let list = app.inner.listening.connect_hooks();
    if list.is_empty() {
        return dial(app, address).await;
    }
    let hooks: Arc<[ConnectHook]> = Arc::from(list.snapshot());
    let below = hooks.len();
    let result = run_from(app.clone(), hooks, below, address.to_owned()).await;
    if let Err(ConnectError::Refused { address, reason }) = &result {
        debug!(%address, %reason, "dial refused by a connect hook");
    }
    result
}

/// Runs the hooks below index `below` (newest first), then the dial.
fn run_from(
    app: App,
    hooks: Arc<[ConnectHook]>,
    below: usize,
    address: String,
) -> BoxFuture<'static, Result<Peer, ConnectError>> {
    let Some(hook) = below
        .checked_sub(1)
        .and_then(|index| hooks.get(index).cloned())
    else {
        return async move { dial(&app, &address).await }.boxed();
    };
    let next = ConnectNext {
        app,
        hooks,
        below: below - 1,
    };
    // A hook that panics (building or awaiting its future) refuses the dial; the app carries on.
    async move {
        let refused = |address: &str| {
            warn!(%address, "connect: a hook panicked; the dial is refused");
            ConnectError::refused(address, "a connect hook panicked")
        };
        let future =
            match std::panic::catch_unwind(AssertUnwindSafe(|| hook(address.clone(), next))) {
                Ok(future) => future,
                Err(_) => return Err(refused(&address)),
            };
        AssertUnwindSafe(future)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(refused(&address)))
    }
    .boxed()
}

/// The dial itself, below every hook: dial, handshake, start RPC, register the peer.
async fn dial(app: &App, address: &str) -> Result<Peer, ConnectError> {
    if app.is_closed() {
        return Err(ConnectError::Closed);
    }
    debug!(%address, "connecting");
    let established = app.inner.listening.dial(address).await?;
    let anonymous = app.inner.api.auth().anonymous().clone();
    connections::attach(&app.inner, established, true, anonymous)
}

impl App {
    /// Adds a connect hook (JS `app.connect.hook((fn, [address, cb]) => …)`): every
    /// [`App::connect`] (and [`App::connect_to`]) from now on calls it with the address and the
    /// rest of the chain. It may pass the dial on (`next.run(address).await`), redirect it
    /// (`next.run(other).await`), refuse it (return [`ConnectError::Refused`], e.g. with
    /// [`ConnectError::refused`]) or look at the peer it got. The newest hook runs first. It stays
    /// until the returned registration is dropped ([`HookRegistration::keep`] keeps it for the
    /// app's life). A hook that panics refuses the dial.
    ///
    /// ```
    /// # use secret_stack::prelude::*;
    /// # use secret_stack::stack::ConnectError;
    /// # async fn demo(app: App) {
    /// // Refuse to dial anything but the local machine.
    /// app.connect_hook(|address, next| async move {
    ///     if address.starts_with("net:127.0.0.1:") {
    ///         next.run(address).await
    ///     } else {
    ///         Err(ConnectError::refused(address, "only local peers"))
    ///     }
    /// })
    /// .keep();
    /// let refused = app.connect("net:example.org:8008~shs:AAAA").await;
    /// assert!(matches!(refused, Err(ConnectError::Refused { .. })));
    /// # }
    /// ```
    pub fn connect_hook<F, Fut>(&self, hook: F) -> HookRegistration
    where
        F: Fn(String, ConnectNext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Peer, ConnectError>> + Send + 'static,
    {
        debug!("connect hook added");
        let hook: ConnectHook = Arc::new(move |address, next| Box::pin(hook(address, next)));
        self.inner.listening.connect_hooks().add(hook)
    }
}
