//! The `connect` hooks (JS `app.connect.hook((fn, [address, cb]) => …)`): functions wrapped around
//! [`App::connect`] that can observe a dial, refuse it, redirect it to another address, or look at
//! (or drop) the connection it made.
//!
//! Hooks compose like the auth chain: the most recently added runs first and either answers or
//! passes the dial on with [`ConnectNext::run`] (the older hooks, then the dial itself). Each dial
//! runs the hooks registered when it started. With no hook, [`App::connect`] checks one atomic
//! counter and dials.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use tracing::{debug, warn};

use crate::hook_list::HookRegistration;

use super::app::App;
use super::connections;
use super::error::ConnectError;
use super::hook_chain::{Rest, guarded};
use super::peer::Peer;

/// A hook around [`App::connect`]: gets the address being dialled and the rest of the chain.
pub type ConnectHook = Arc<
    dyn Fn(String, ConnectNext) -> BoxFuture<'static, Result<Peer, ConnectError>> + Send + Sync,
>;

/// The rest of the connect chain below a hook: the older hooks, then the dial itself.
#[derive(Clone)]
pub struct ConnectNext {
    app: App,
    rest: Rest<ConnectHook>,
}

impl std::fmt::Debug for ConnectNext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectNext")
            .field("hooks_below", &self.rest.len())
            .finish()
    }
}

impl ConnectNext {
    /// Passes the dial on to the rest of the chain (JS: calling `fn` from inside the hook), to
    /// `address` — the one the hook was given, or another to redirect the dial.
    pub fn run(self, address: String) -> BoxFuture<'static, Result<Peer, ConnectError>> {
        run_from(self.app, self.rest, address)
    }
}

/// [`App::connect`]: through the hooks registered now, if any, then the dial.
pub(crate) async fn connect(app: &App, address: &str) -> Result<Peer, ConnectError> {
    let list = app.inner.listening.connect_hooks();
    if list.is_empty() {
        return dial(app, address).await;
    }
    let result = run_from(app.clone(), Rest::all(list), address.to_owned()).await;
    if let Err(ConnectError::Refused { address, reason }) = &result {
        debug!(%address, %reason, "dial refused by a connect hook");
    }
    result
}

/// Runs the `rest` of the hooks (newest first), then the dial.
fn run_from(
    app: App,
    rest: Rest<ConnectHook>,
    address: String,
) -> BoxFuture<'static, Result<Peer, ConnectError>> {
    let Some((hook, rest)) = rest.pop() else {
        return async move { dial(&app, &address).await }.boxed();
    };
    let next = ConnectNext { app, rest };
    // A hook that panics (building or awaiting its future) refuses the dial; the app carries on.
    let refused = {
        let address = address.clone();
        move || {
            warn!(%address, "connect: a hook panicked; the dial is refused");
            Err(ConnectError::refused(address, "a connect hook panicked"))
        }
    };
    guarded(move || hook(address, next), refused).boxed()
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
