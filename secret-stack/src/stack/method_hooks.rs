//! Method hooks and typed needs at the app level: [`App::hook`] / [`App::hook_path`] on a running
//! app, [`PluginInit::hook`] / [`PluginInit::hook_path`] / [`PluginInit::need`] while plugins are
//! made. The hooks themselves are described in [`rpc::hooks`](crate::rpc::hooks) (untyped) and
//! [`HookTarget`] (typed).

use std::sync::Arc;

use serde_json::Value;

use crate::plugin::{HookRegistration, HookTarget, NeedLink, PluginType};
use crate::rpc::hooks::WrongKind;
use crate::rpc::typed::hook::typed_hook;
use crate::rpc::{
    CallContext, HookError, LocalCaller, MethodInput, MethodTable, Next, NoSuchMethod, Reply,
    TypedNext,
};

use super::app::App;
use super::names::mount_name;
use super::plugins::PluginInit;

/// Why [`PluginInit::need`] could not give a plugin's handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NeedError {
    /// The plugin is not made yet: it was not added, or it comes later and is not in the
    /// needing plugin's `needs` (which is what makes it come first).
    #[error(
        "plugin {needing:?} asked for plugin {needed:?}, which is not initialised yet: add it to the \
         builder and to `needs({needed_type})` of {needing:?} so it is made first"
    )]
    NotMade {
        /// The plugin asking.
        needing: String,
        /// The plugin asked for.
        needed: String,
        /// How to name it in `needs(...)`.
        needed_type: String,
    },
    /// A plugin of that name was added, but it is not of the type asked for.
    #[error("plugin {needed:?} is not of type {type_name}: another plugin of that name was added")]
    OtherType {
        /// The plugin asked for.
        needed: String,
        /// The type asked for.
        type_name: &'static str,
    },
}

/// Registers a typed hook in `table`, checking the target is there with the same kind.
fn add_typed<T, F>(table: &MethodTable, hook: F) -> Result<HookRegistration, HookError>
where
    T: HookTarget,
    F: Fn(CallContext, T::Args, TypedNext<T>) -> T::Out + Send + Sync + 'static,
{
    let path = T::full_path();
    let served = table
        .get(&path)
        .map(|m| m.kind)
        .ok_or_else(|| table.no_such_method(&path))?;
    if served != T::KIND {
        return Err(WrongKind {
            path: path.join("."),
            wanted: T::KIND,
            served,
        }
        .into());
    }
    Ok(table.add_hook(&path, typed_hook::<T, F>(hook))?)
}

impl App {
    /// Hooks a method named through its plugin's type (JS `api.<plugin>.<method>.hook(…)`), with
    /// its arguments as a tuple of their Rust types and its answer as its Rust type. The hook
    /// wraps every call from now on, local and remote alike, the newest hook outermost; it is
    /// removed when the returned registration is dropped (`.keep()` keeps it).
    ///
    /// What the hook returns depends on the method's kind (see [`HookTarget`]): a
    /// [`HookFuture`](crate::rpc::HookFuture) of the answer for async/sync methods, a
    /// [`HookStream`](crate::rpc::HookStream) of the items for sources and duplexes.
    ///
    /// ```
    /// use futures::{FutureExt, StreamExt};
    /// use secret_stack::plugin;
    /// use secret_stack::rpc::{RemoteError, Source};
    /// # use secret_stack::stack::{Config, SecretStack};
    ///
    /// pub struct Log;
    /// #[plugin(name = "log")]
    /// impl Log {
    ///     async fn get(&self, seq: u64) -> String { format!("entry {seq}") }
    ///     fn history(&self, author: String) -> Source<String> { Source::iter([author]) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = Config::from_json(serde_json::json!({"global": {"caps": {"shs": "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s="}}}))?;
    /// let app = SecretStack::builder().plugin(Log).build(config)?;
    /// // Refuse entry 0, answer the rest in upper case.
    /// app.hook(Log::GET, |ctx, (seq,), next| {
    ///     if seq == 0 {
    ///         return futures::future::ready(Err(RemoteError::new("entry 0 is private"))).boxed();
    ///     }
    ///     next.call(ctx, (seq,)).map(|answer| answer.map(|s| s.to_uppercase())).boxed()
    /// })?
    /// .keep();
    /// // Never serve the history of "mallory".
    /// let _registration = app.hook(Log::HISTORY, |ctx, (author,), next| {
    ///     next.call(ctx, (author,))
    ///         .filter(|item| futures::future::ready(item.as_deref() != Ok("mallory")))
    ///         .boxed()
    /// })?;
    /// let log = LogClient::new(app.local());
    /// assert_eq!(log.get(1).await?, "ENTRY 1");
    /// assert!(log.get(0).await.is_err());
    /// assert_eq!(log.history("mallory".into()).count().await, 0);
    /// # app.close().await;
    /// # Ok(()) }
    /// ```
    pub fn hook<T, F>(&self, target: T, hook: F) -> Result<HookRegistration, HookError>
    where
        T: HookTarget,
        F: Fn(CallContext, T::Args, TypedNext<T>) -> T::Out + Send + Sync + 'static,
    {
        let _ = target;
        add_typed::<T, F>(&self.inner.api.current_table(), hook)
    }

    /// Hooks the method at `path` (mount name first, e.g. `["log", "get"]`) of a plugin known only
    /// by name, untyped: the hook gets the JSON `args`, the caller's input stream (sinks and
    /// duplexes) and the [`Next`] to call, and returns the [`Reply`]; see
    /// [`rpc::hooks`](crate::rpc::hooks) and [`MethodTable::hook`] for an example. Fails, listing
    /// the methods under the mount, when there is no method at `path`.
    pub fn hook_path<S, F>(&self, path: &[S], hook: F) -> Result<HookRegistration, NoSuchMethod>
    where
        S: AsRef<str>,
        F: Fn(CallContext, Vec<Value>, Option<MethodInput>, Next) -> Reply + Send + Sync + 'static,
    {
        self.inner.api.current_table().hook(path, hook)
    }
}

impl PluginInit<'_> {
    /// [`App::hook`] from a plugin's init: hooks a method of a plugin made before this one (one
    /// this plugin `needs`). The hook stays for the app's life unless the registration is dropped;
    /// keep it in the plugin's state, or call `.keep()`.
    pub fn hook<T, F>(&self, target: T, hook: F) -> Result<HookRegistration, HookError>
    where
        T: HookTarget,
        F: Fn(CallContext, T::Args, TypedNext<T>) -> T::Out + Send + Sync + 'static,
    {
        let _ = target;
        add_typed::<T, F>(self.table, hook)
    }

    /// [`App::hook_path`] from a plugin's init, for a plugin made before this one.
    pub fn hook_path<S, F>(&self, path: &[S], hook: F) -> Result<HookRegistration, NoSuchMethod>
    where
        S: AsRef<str>,
        F: Fn(CallContext, Vec<Value>, Option<MethodInput>, Next) -> Reply + Send + Sync + 'static,
    {
        self.table.hook(path, hook)
    }

    /// A caller into the methods of the plugins made so far (those made before this one: the
    /// ones it needs come first), as the app itself (full permissions, connection `0`): untyped
    /// calls, or any generated client, during init. The app itself
    /// ([`PluginInit::app`]) can only be reached once every plugin is made.
    pub fn local(&self) -> LocalCaller {
        LocalCaller::new(
            Arc::new(self.table.clone()),
            CallContext::local(self.keypair.public()),
        )
    }

    /// The typed handle (`<Type>Handle`, generated by `#[plugin]`) of a plugin this one needs:
    /// its methods take and return Rust types. A call is a direct Rust call while the method has
    /// no hook (sinks and duplexes excepted, which always go through the app's dispatch), and
    /// goes through the app's dispatch, hence through the method's hooks (arguments and answer
    /// encoded to JSON and back), while it has one. Calls run as the app itself: full
    /// permissions, the app's own id, connection `0`.
    ///
    /// The plugin must be made before this one: name it in `needs(...)` of this plugin's
    /// `#[plugin]` and add this plugin with [`Builder::plugin_init`](super::Builder::plugin_init).
    /// See the example there.
    pub fn need<P: PluginType>(&self) -> Result<P::Handle, NeedError> {
        let made = self.made.get(P::NAME).ok_or_else(|| NeedError::NotMade {
            needing: self.name.to_owned(),
            needed: P::NAME.to_owned(),
            needed_type: std::any::type_name::<P>()
                .rsplit("::")
                .next()
                .unwrap_or_default()
                .to_owned(),
        })?;
        let plugin: Arc<P> =
            Arc::clone(&made.any)
                .downcast::<P>()
                .map_err(|_| NeedError::OtherType {
                    needed: P::NAME.to_owned(),
                    type_name: std::any::type_name::<P>(),
                })?;
        let link = NeedLink {
            mount: mount_name(P::NAME),
            caller: self.local(),
        };
        Ok(P::handle(plugin, &link))
    }
}
