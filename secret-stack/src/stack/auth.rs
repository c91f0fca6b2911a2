//! Who may do what on an incoming connection: the chain of auth hooks and the
//! default answer, the Rust counterpart of JS's hookable `app.auth(id, cb)`.
//!
//! Hooks compose like `app.auth.hook`: the most recently added runs first and either answers or
//! falls through by calling [`AuthNext::run`]; at the bottom the default answers
//! [`AuthDecision::Allow`] with full access for the app's own key and the configured masters
//! (`global.master`), and [`AuthDecision::Anonymous`] for everyone else.
//!
//! The answer is applied during the secret handshake (between its messages 3 and 4): a
//! [`AuthDecision::Reject`] makes the server hang up, and the client sees exactly what a JS client
//! sees (`shs.client: server hung up when we sent hello (phase 3)…`). Connections we dialled give
//! the remote anonymous permissions whatever the chain says, as in JS.
//!
//! Hooks come from the builder, from plugins at init and, while the app runs, from
//! [`App::auth_hook`]; each decision runs the hooks registered when it started (a hook removed
//! meanwhile still finishes the decisions it is part of).

use std::future::Future;
use std::sync::{Arc, LazyLock, OnceLock};

use futures::FutureExt;
use futures::future::BoxFuture;
use tracing::{debug, warn};

use crate::hook_list::{HookList, HookRegistration};
use crate::keys::PublicKey;
use crate::rpc::Permissions;

use super::app::App;
use super::hook_chain::{Rest, guarded, ready};

/// The answer to "may this peer connect, and with which permissions?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// Accept with these permissions (`Permissions::full()` is "master" access).
    Allow(Permissions),
    /// Accept with the app's `anonymous` permissions (JS: `cb()` or any truthy non-object).
    Anonymous,
    /// Refuse the connection (JS: `cb(err)` or `cb(null, false)`); the text is logged.
    Reject(String),
}

/// A hook in the auth chain: gets the client's key and the rest of the chain.
pub type AuthHook =
    Arc<dyn Fn(PublicKey, AuthNext) -> BoxFuture<'static, AuthDecision> + Send + Sync>;

/// Makes an [`AuthHook`] from an async closure.
pub(crate) fn auth_hook<F, Fut>(hook: F) -> AuthHook
where
    F: Fn(PublicKey, AuthNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = AuthDecision> + Send + 'static,
{
    Arc::new(move |id, next| Box::pin(hook(id, next)))
}

/// The rest of the chain below a hook: the older hooks, then the default answer.
#[derive(Clone)]
pub struct AuthNext {
    chain: Arc<AuthChain>,
    rest: Rest<AuthHook>,
}

impl std::fmt::Debug for AuthNext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthNext")
            .field("hooks_below", &self.rest.len())
            .finish()
    }
}

impl AuthNext {
    /// Asks the rest of the chain (JS: calling the original function from inside a hook).
    pub fn run(self, id: PublicKey) -> BoxFuture<'static, AuthDecision> {
        self.chain.run_from(self.rest, id)
    }
}

/// Every hook plus the default answer, ready to decide.
pub(crate) struct AuthChain {
    /// In the order added; the last runs first.
    hooks: HookList<AuthHook>,
    own: PublicKey,
    masters: Vec<PublicKey>,
    /// Set once the app's plugins are made (their permissions make it up); none before.
    anonymous: OnceLock<Permissions>,
}

impl AuthChain {
    /// A chain with its anonymous permissions known (the app's builder uses
    /// [`pending`](Self::pending), as those come from its plugins).
    #[cfg(test)]
    pub fn new(
        hooks: Vec<AuthHook>,
        own: PublicKey,
        masters: Vec<PublicKey>,
        anonymous: Permissions,
    ) -> Arc<AuthChain> {
        let chain = AuthChain::pending(hooks, own, masters);
        chain.set_anonymous(anonymous);
        chain
    }

    /// A chain whose anonymous permissions are set later ([`set_anonymous`](Self::set_anonymous)),
    /// for an app whose plugins are not made yet; until then anonymous peers get nothing.
    pub fn pending(
        hooks: Vec<AuthHook>,
        own: PublicKey,
        masters: Vec<PublicKey>,
    ) -> Arc<AuthChain> {
        let list = HookList::new();
        for hook in hooks {
            list.add(hook).keep();
        }
        Arc::new(AuthChain {
            hooks: list,
            own,
            masters,
            anonymous: OnceLock::new(),
        })
    }

    /// Sets the permissions anonymous peers get (once; later calls are ignored).
    pub fn set_anonymous(&self, anonymous: Permissions) {
        let _ = self.anonymous.set(anonymous);
    }

    /// The permissions anonymous peers get.
    pub fn anonymous(&self) -> &Permissions {
        static NOTHING: LazyLock<Permissions> =
            LazyLock::new(|| Permissions::allow(Vec::<String>::new()));
        self.anonymous.get().unwrap_or(&NOTHING)
    }

    /// Runs the whole chain for `id`, with the hooks registered now.
    pub fn decide(self: &Arc<Self>, id: PublicKey) -> BoxFuture<'static, AuthDecision> {
        self.run_from(Rest::all(&self.hooks), id)
    }

    /// Adds `hook` as the newest (outermost) for every decision from now on.
    pub fn add_hook(&self, hook: AuthHook) -> HookRegistration {
        self.hooks.add(hook)
    }

    /// The permissions for `id`, or `None` when the chain rejects it.
    pub async fn permissions_for(self: Arc<Self>, id: PublicKey) -> Option<Permissions> {
        match self.decide(id).await {
            AuthDecision::Allow(permissions) => Some(permissions),
            AuthDecision::Anonymous => Some(self.anonymous().clone()),
            AuthDecision::Reject(reason) => {
                debug!(%id, "auth: rejected: {reason}");
                None
            }
        }
    }

    /// Runs the `rest` of the hooks (newest first), then the default.
    fn run_from(
        self: &Arc<Self>,
        rest: Rest<AuthHook>,
        id: PublicKey,
    ) -> BoxFuture<'static, AuthDecision> {
        let Some((hook, rest)) = rest.pop() else {
            return ready(self.default_decision(id));
        };
        let next = AuthNext {
            chain: Arc::clone(self),
            rest,
        };
        // A hook that panics (building or awaiting its future) rejects; the app carries on.
        guarded(move || hook(id, next), move || panicked(id)).boxed()
    }

    fn default_decision(&self, id: PublicKey) -> AuthDecision {
        if id == self.own || self.masters.contains(&id) {
            AuthDecision::Allow(Permissions::full())
        } else {
            AuthDecision::Anonymous
        }
    }
}

impl App {
    /// Adds an auth hook to the running app (JS `app.auth.hook(fn)` after start): it is the newest,
    /// so it runs first — before the builder's and the plugins' hooks and those added earlier —
    /// for every connection from now on, and answers or falls through with `next.run(id).await`.
    /// It stays until the returned registration is dropped ([`HookRegistration::keep`] keeps it
    /// for the app's life). Connections already made keep their permissions.
    ///
    /// ```
    /// # use secret_stack::prelude::*;
    /// # use secret_stack::stack::AuthDecision;
    /// # async fn demo(app: App, blocked: PublicKey) {
    /// let registration = app.auth_hook(move |id, next| async move {
    ///     if id == blocked {
    ///         AuthDecision::Reject("blocked".into())
    ///     } else {
    ///         next.run(id).await
    ///     }
    /// });
    /// assert_eq!(app.auth(blocked).await, AuthDecision::Reject("blocked".into()));
    /// drop(registration); // the hook is gone
    /// assert_ne!(app.auth(blocked).await, AuthDecision::Reject("blocked".into()));
    /// # }
    /// ```
    pub fn auth_hook<F, Fut>(&self, hook: F) -> HookRegistration
    where
        F: Fn(PublicKey, AuthNext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = AuthDecision> + Send + 'static,
    {
        debug!("auth hook added at run time");
        self.inner.api.auth().add_hook(auth_hook(hook))
    }
}

fn panicked(id: PublicKey) -> AuthDecision {
    warn!(%id, "auth: a hook panicked; rejecting the connection");
    AuthDecision::Reject("auth hook panicked".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: PublicKey = PublicKey([1; 32]);
    const MASTER: PublicKey = PublicKey([2; 32]);
    const OTHER: PublicKey = PublicKey([3; 32]);
    const BAD: PublicKey = PublicKey([4; 32]);

    #[tokio::test]
    async fn default_answers() {
        let chain = AuthChain::new(
            Vec::new(),
            OWN,
            vec![MASTER],
            Permissions::allow(["manifest"]),
        );
        assert_eq!(
            chain.decide(OWN).await,
            AuthDecision::Allow(Permissions::full())
        );
        assert_eq!(
            chain.decide(MASTER).await,
            AuthDecision::Allow(Permissions::full())
        );
        assert_eq!(chain.decide(OTHER).await, AuthDecision::Anonymous);
    }

    #[tokio::test]
    async fn newest_hook_runs_first_and_can_fall_through() {
        let older = auth_hook(|id, next: AuthNext| async move {
            if id == OTHER {
                AuthDecision::Allow(Permissions::allow(["friends"]))
            } else {
                next.run(id).await
            }
        });
        let newer = auth_hook(|id, next: AuthNext| async move {
            if id == BAD || id == OTHER {
                AuthDecision::Reject("blocked".into())
            } else {
                next.run(id).await
            }
        });
        let panicky = auth_hook(|id, next: AuthNext| async move {
            if id == PublicKey([9; 32]) {
                panic!("hook bug");
            }
            next.run(id).await
        });
        let chain = AuthChain::new(
            vec![older, newer, panicky],
            OWN,
            vec![],
            Permissions::default(),
        );
        assert_eq!(
            chain.decide(OTHER).await,
            AuthDecision::Reject("blocked".into())
        );
        assert_eq!(
            chain.decide(OWN).await,
            AuthDecision::Allow(Permissions::full())
        );
        assert!(matches!(
            chain.decide(PublicKey([9; 32])).await,
            AuthDecision::Reject(_)
        ));
        assert_eq!(chain.clone().permissions_for(BAD).await, None);
        assert_eq!(
            chain.permissions_for(MASTER).await,
            Some(Permissions::default())
        );
    }
}
