//! Method hooks: code that wraps a method the way JS `hoox` wraps the functions a plugin returns.
//!
//! A hook receives the call (its [`CallContext`], its JSON `args` and, for sinks and duplexes, the
//! caller's [`MethodInput`]) and a [`Next`] that runs the rest of the chain. It can observe the
//! call, refuse it (answer an error without calling `next`), rewrite the arguments, replace the
//! answer, or wrap the streams (map or filter the items of the [`Reply::Stream`] it gets back, or
//! of the input it passes on). The newest hook is the outermost, as in JS:
//!
//! ```text
//! hooks added A, then B:   call → B → A → method
//! ```
//!
//! Hooks apply wherever a [`MethodTable`](super::MethodTable) dispatches: calls from peers,
//! [`LocalCaller`](super::LocalCaller) calls and typed handles alike. A method without hooks pays
//! one atomic load per call for the feature.
//!
//! Register them through [`App::hook_path`](crate::stack::App::hook_path),
//! [`PluginInit::hook_path`](crate::stack::PluginInit::hook_path) or
//! [`MethodTable::hook`](super::MethodTable::hook); the typed form is
//! [`App::hook`](crate::stack::App::hook).

use std::sync::Arc;

use serde_json::Value;

use super::context::CallContext;
use super::dispatch::{Handler, MethodInput, Reply};
use crate::hook_list::HookList;

/// An untyped method hook: `(context, args, input, next) -> reply`. See the [module docs](self).
pub type MethodHook =
    Arc<dyn Fn(CallContext, Vec<Value>, Option<MethodInput>, Next) -> Reply + Send + Sync>;

/// The hooks of one method, oldest first. Clones share the list.
#[derive(Clone)]
pub struct MethodHooks {
    list: HookList<MethodHook>,
}

impl Default for MethodHooks {
    fn default() -> Self {
        MethodHooks {
            list: HookList::new(),
        }
    }
}

impl std::fmt::Debug for MethodHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodHooks")
            .field("empty", &self.is_empty())
            .finish()
    }
}

impl MethodHooks {
    /// True when the method has no hook: one atomic load.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds `hook` as the newest (outermost); it stays until the registration is dropped.
    pub(crate) fn add(&self, hook: MethodHook) -> crate::plugin::HookRegistration {
        self.list.add(hook)
    }

    /// Runs `handler` through the hooks registered now (the newest outermost).
    pub(crate) fn run(
        &self,
        handler: &Handler,
        ctx: CallContext,
        args: Vec<Value>,
        input: Option<MethodInput>,
    ) -> Reply {
        let hooks: Arc<[MethodHook]> = Arc::from(self.list.snapshot());
        let next = Next {
            index: hooks.len(),
            hooks,
            handler: Arc::clone(handler),
        };
        next.call(ctx, args, input)
    }
}

/// The rest of a hook chain: the older hooks, then the method itself.
pub struct Next {
    hooks: Arc<[MethodHook]>,
    /// How many hooks are still to run (`hooks[..index]`, the newest of them first).
    index: usize,
    handler: Handler,
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("hooks_left", &self.index)
            .finish()
    }
}

impl Next {
    /// Runs the rest of the chain with these arguments (possibly rewritten) and input (possibly
    /// wrapped), and gives back its reply (which the hook may transform before returning it).
    pub fn call(self, ctx: CallContext, args: Vec<Value>, input: Option<MethodInput>) -> Reply {
        match self.index.checked_sub(1) {
            None => (self.handler)(ctx, args, input),
            Some(index) => {
                let hook = Arc::clone(&self.hooks[index]);
                let next = Next {
                    hooks: self.hooks,
                    index,
                    handler: self.handler,
                };
                hook(ctx, args, input, next)
            }
        }
    }
}

/// The error of hooking a path where no method is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot hook `{path}`: no such method; the methods under `{mount}` are: {}",
    if .available.is_empty() { "none (no plugin is mounted there)".to_owned() } else { .available.join(", ") }
)]
pub struct NoSuchMethod {
    /// The dotted path asked for.
    pub path: String,
    /// Its first segment (the mount name of the plugin).
    pub mount: String,
    /// The dotted paths of the methods that exist under that mount.
    pub available: Vec<String>,
}

/// A hook that wants a method of another kind than the one at its path (a typed hook whose
/// target's kind differs from the served method's, when a plugin of the same name but another
/// type is mounted there).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot hook `{path}`: the hook is for a {wanted} method but the app serves a {served} there; \
     check that the plugin mounted under that name is the one the hook was written for"
)]
pub struct WrongKind {
    /// The dotted path.
    pub path: String,
    /// The kind the hook was written for.
    pub wanted: super::CallKind,
    /// The kind the app serves.
    pub served: super::CallKind,
}

/// Why a hook could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// No method at the path.
    #[error(transparent)]
    NoSuchMethod(#[from] NoSuchMethod),
    /// A method of another kind at the path.
    #[error(transparent)]
    WrongKind(#[from] WrongKind),
}
