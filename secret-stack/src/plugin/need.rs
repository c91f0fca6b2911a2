//! Typed access between plugins: [`PluginType`], which `#[plugin]` implements so that a plugin can
//! be named through its Rust type, and [`NeedLink`], what a generated typed handle is made from.

use std::sync::Arc;

use crate::rpc::{CallContext, LocalCaller, MethodHooks};

use super::Plugin;

/// A plugin known by its Rust type: its name, its needs, and the typed handle other plugins get
/// when they need it. `#[plugin]` implements it; the handle is `<Type>Handle`.
///
/// A plugin that lists a type in `needs(...)` gets its handle from
/// [`PluginInit::need`](crate::stack::PluginInit::need) during its init.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plugin type",
    label = "not a `#[plugin]` type",
    note = "only types whose impl block has `#[plugin(name = \"...\")]` can be needed by type; name other plugins by their string name: `needs(\"name\")`"
)]
pub trait PluginType: Plugin + Sized {
    /// The plugin's name (as [`Plugin::name`] gives).
    const NAME: &'static str;
    /// The names of the plugins it needs.
    const NEEDS: &'static [&'static str];
    /// The typed in-process handle other plugins call it through.
    type Handle: Clone + Send + Sync + 'static;

    /// The handle on `plugin`, as mounted in the app `link` describes.
    fn handle(plugin: Arc<Self>, link: &NeedLink) -> Self::Handle;
}

/// What a typed handle needs from the app it calls into: the method hooks of its target (checked
/// on each call: no hook → a direct Rust call), and a local caller for calls that go through hooks.
#[derive(Debug, Clone)]
pub struct NeedLink {
    pub(crate) mount: String,
    pub(crate) caller: LocalCaller,
}

impl NeedLink {
    /// The caller of calls through the hooks (the app calling itself, with full permissions).
    pub fn caller(&self) -> LocalCaller {
        self.caller.clone()
    }

    /// The context of direct calls (the app's own identity, connection `0`).
    pub fn context(&self) -> CallContext {
        self.caller.context().clone()
    }

    /// The hooks of the target's method at `path` (relative to the mount); an empty list if the
    /// app has no such method (which a generated handle never asks for).
    pub fn hooks(&self, path: &[&str]) -> MethodHooks {
        let mount = (!self.mount.is_empty()).then_some(self.mount.as_str());
        let full: Vec<&str> = mount.into_iter().chain(path.iter().copied()).collect();
        self.caller.hooks(&full).cloned().unwrap_or_default()
    }
}
