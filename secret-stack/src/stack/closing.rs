//! What plugins and users see of the app's shutdown: the [`Closing`] future ([`App::closing`]) that
//! resolves as soon as closing starts, and close hooks added while the app runs
//! ([`App::close_hook`]). Both are views on the one shutdown signal of the app, not a second
//! mechanism.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::FutureExt;
use tracing::debug;

use crate::hook_list::HookRegistration;

use super::app::App;
use super::shutdown::{ShutdownSignal, close_hook};

/// The waiting part of a [`Closing`], made on its first pending poll.
type Wait = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// A future that resolves once its app starts closing ([`App::close`], [`App::close_now`], or the
/// last [`App`] dropped), at once if it already has; see [`App::closing`]. Cheap to clone (every
/// clone waits on its own), `Send + Sync + Unpin`, and it does not keep the app alive. After it
/// resolved, polling it again resolves again.
pub struct Closing {
    signal: ShutdownSignal,
    wait: Option<Wait>,
}

impl Closing {
    /// True once the app has started closing: the future would resolve at once.
    pub fn is_closing(&self) -> bool {
        self.signal.has_fired()
    }
}

impl Clone for Closing {
    fn clone(&self) -> Self {
        Closing {
            signal: self.signal.clone(),
            wait: None,
        }
    }
}

impl std::fmt::Debug for Closing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closing")
            .field("closing", &self.is_closing())
            .finish()
    }
}

impl Future for Closing {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.signal.has_fired() {
            this.wait = None;
            return Poll::Ready(());
        }
        let signal = this.signal.clone();
        let wait = this
            .wait
            .get_or_insert_with(|| Box::pin(async move { signal.fired().await }));
        wait.poll_unpin(cx)
    }
}

impl App {
    /// A future that resolves when this app starts closing (JS has none: its plugins hook
    /// `close`). A plugin that serves endless ("live") sources ends them on it — e.g. with
    /// [`StreamExt::take_until`](futures::StreamExt::take_until) — so that [`App::close`] does
    /// not have to wait out its deadline for them (see the crate docs, "Ending live sources when
    /// the app closes"). It fires before the close hooks run.
    ///
    /// ```
    /// # use futures::StreamExt;
    /// # use secret_stack::prelude::*;
    /// # async fn demo(app: App) {
    /// let ticks = futures::stream::repeat(1u8).take_until(app.closing());
    /// # }
    /// ```
    pub fn closing(&self) -> Closing {
        Closing {
            signal: self.inner.shutdown.signal(),
            wait: None,
        }
    }

    /// Adds a close hook to the running app (JS `app.close.hook(fn)` after start): run when the
    /// app closes, after it stopped listening and before its connections are closed, before the
    /// hooks added earlier (newest first, as every close hook). It stays until the returned
    /// registration is dropped ([`HookRegistration::keep`] keeps it for the app's life). The hooks
    /// that run are those registered when closing starts: one added later does not run.
    ///
    /// ```
    /// # use secret_stack::prelude::*;
    /// # async fn demo(app: App) {
    /// app.close_hook(|app| async move {
    ///     tracing::info!(id = %app.id(), "saving state before the connections close");
    /// })
    /// .keep();
    /// app.close().await;
    /// # }
    /// ```
    pub fn close_hook<F, Fut>(&self, hook: F) -> HookRegistration
    where
        F: Fn(App) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        debug!("close hook added at run time");
        self.inner.shutdown.add_hook(close_hook(hook))
    }
}
