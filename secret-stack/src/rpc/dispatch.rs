//! The callee side: a table of methods keyed by path, and what a method receives and returns.
//!
//! A connection that receives a request checks permissions, looks the path up here, checks the
//! kind, then runs the [`Method`]'s handler with a [`CallContext`], the JSON `args` and, for sinks
//! and duplexes, the [`MethodInput`] stream of the caller's values. The handler's [`Reply`] says
//! what to send back. The `#[plugin]` macro generates these handlers; hand-written ones work the same.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use futures::future::BoxFuture;
use serde_json::Value;

use super::body::Body;
use super::context::CallContext;
use super::error::{RemoteError, RpcError};
use super::hooks::{MethodHook, MethodHooks, NoSuchMethod};
use super::manifest::{CallKind, Manifest};
use super::path_key::{PathKey, PathRef, Segments};

/// The stream of values the caller sends to a sink or duplex method. It ends with `None` after
/// the caller's normal end, or yields one `Err` if the caller ended with an error or the
/// connection died.
pub type MethodInput = Pin<Box<dyn Stream<Item = Result<Body, RpcError>> + Send + 'static>>;

/// The values a source or duplex method sends; an `Err` item ends the stream with that error.
pub type MethodOutput = Pin<Box<dyn Stream<Item = Result<Body, RemoteError>> + Send + 'static>>;

/// What a method gives back to the connection.
pub enum Reply {
    /// async and sync: one value or one error.
    Value(BoxFuture<'static, Result<Body, RemoteError>>),
    /// source and duplex: values to send, polled only when the connection has room.
    Stream(MethodOutput),
    /// sink: resolves when the method has finished consuming its [`MethodInput`] stream.
    Done(BoxFuture<'static, Result<(), RemoteError>>),
}

/// A method implementation: called once per request.
pub type Handler = Arc<dyn Fn(CallContext, Vec<Value>, Option<MethodInput>) -> Reply + Send + Sync>;

/// One callable method: where it lives, its kind, and the code that answers it.
#[derive(Clone)]
pub struct Method {
    /// The method path, e.g. `["test", "hello"]`.
    pub path: Vec<String>,
    /// The call kind, as announced in the manifest.
    pub kind: CallKind,
    /// The permission groups whose members may call it (`"anonymous"`, or any group an `auth`
    /// hook hands out); empty for a method only full access ("master") may call. A plugin's
    /// permission table is derived from these.
    pub groups: Vec<String>,
    /// The implementation.
    pub handler: Handler,
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Method")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("groups", &self.groups)
            .finish()
    }
}

/// The error of adding a method whose path is already taken (or clashes with a namespace).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("method `{}` clashes with an existing entry of the manifest", .0.join("."))]
pub struct DuplicateMethod(pub Vec<String>);

/// All the methods a node serves, with the manifest they add up to, and each method's hooks
/// (see [`hooks`](super::hooks)). Clones share the hooks.
#[derive(Clone, Default)]
pub struct MethodTable {
    methods: HashMap<PathKey, Entry>,
    manifest: Manifest,
}

/// A method and its hooks.
#[derive(Clone)]
struct Entry {
    method: Method,
    hooks: MethodHooks,
}

impl Entry {
    /// Runs the method, through its hooks if it has any.
    fn run(&self, ctx: CallContext, args: Vec<Value>, input: Option<MethodInput>) -> Reply {
        if self.hooks.is_empty() {
            (self.method.handler)(ctx, args, input)
        } else {
            self.hooks.run(&self.method.handler, ctx, args, input)
        }
    }
}

impl MethodTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a method; fails if its path clashes with one already present.
    pub fn insert(&mut self, method: Method) -> Result<(), DuplicateMethod> {
        if !self.manifest.insert(&method.path, method.kind) {
            return Err(DuplicateMethod(method.path));
        }
        let entry = Entry {
            method,
            hooks: MethodHooks::default(),
        };
        self.methods
            .insert(PathKey(entry.method.path.clone()), entry);
        Ok(())
    }

    /// The method at `path`, if any. Looking up allocates nothing.
    pub fn get<S: AsRef<str>>(&self, path: &[S]) -> Option<&Method> {
        self.entry(path).map(|e| &e.method)
    }

    fn entry<S: AsRef<str>>(&self, path: &[S]) -> Option<&Entry> {
        self.methods.get(&PathRef(path) as &dyn Segments)
    }

    /// The hooks of the method at `path`, if there is one.
    pub fn hooks<S: AsRef<str>>(&self, path: &[S]) -> Option<&MethodHooks> {
        self.entry(path).map(|e| &e.hooks)
    }

    /// Wraps the method at `path` in `hook`, as the newest (outermost) hook, for every call the
    /// table dispatches from now on; dropping the registration removes it. Fails, naming what
    /// exists under the path's first segment, when no method is there.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use futures::future::ready;
    /// # use secret_stack::keys::PublicKey;
    /// # use secret_stack::rpc::{Body, CallContext, CallKind, Caller, LocalCaller, Method, MethodTable, RemoteError, Reply};
    /// let mut table = MethodTable::new();
    /// table.insert(Method {
    ///     path: vec!["test".into(), "hello".into()],
    ///     kind: CallKind::Async,
    ///     groups: vec![],
    ///     handler: Arc::new(|_ctx, _args, _input| Reply::Value(Box::pin(ready(Ok(Body::Text("hi".into())))))),
    /// }).unwrap();
    /// // Refuses every call from a connection (local calls have connection 0).
    /// let registration = table.hook(&["test", "hello"], |ctx, args, input, next| {
    ///     if ctx.connection != 0 {
    ///         return Reply::Value(Box::pin(ready(Err(RemoteError::new("not from peers")))));
    ///     }
    ///     next.call(ctx, args, input)
    /// }).unwrap();
    /// assert!(table.hook(&["test", "bye"], |ctx, args, input, next| next.call(ctx, args, input))
    ///     .unwrap_err().to_string().contains("test.hello"));
    /// # drop(registration);
    /// ```
    pub fn hook<S, F>(
        &self,
        path: &[S],
        hook: F,
    ) -> Result<crate::plugin::HookRegistration, NoSuchMethod>
    where
        S: AsRef<str>,
        F: Fn(CallContext, Vec<Value>, Option<MethodInput>, super::hooks::Next) -> Reply
            + Send
            + Sync
            + 'static,
    {
        self.add_hook(path, Arc::new(hook))
    }

    /// [`hook`](Self::hook) with the hook already boxed.
    pub(crate) fn add_hook<S: AsRef<str>>(
        &self,
        path: &[S],
        hook: MethodHook,
    ) -> Result<crate::plugin::HookRegistration, NoSuchMethod> {
        match self.entry(path) {
            Some(entry) => {
                tracing::debug!(path = %super::permissions::join(path), "method hook added");
                Ok(entry.hooks.add(hook))
            }
            None => Err(self.no_such_method(path)),
        }
    }

    /// The error for hooking `path` where no method is, listing what is under its mount.
    pub(crate) fn no_such_method<S: AsRef<str>>(&self, path: &[S]) -> NoSuchMethod {
        let mount = path.first().map_or("", AsRef::as_ref).to_owned();
        let mut available: Vec<String> = self
            .methods
            .values()
            .filter(|e| e.method.path.first().is_some_and(|m| *m == mount))
            .map(|e| e.method.path.join("."))
            .collect();
        available.sort();
        NoSuchMethod {
            path: path.iter().map(AsRef::as_ref).collect::<Vec<_>>().join("."),
            mount,
            available,
        }
    }

    /// The manifest of every method in the table.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Answers one request the way JS muxrpc 8 does: permissions first (so an unknown method is a
    /// permission error for a restricted peer), then the manifest entry and its kind, then the
    /// handler. `kind` is `Async` for every non-stream request (sync methods answer those too).
    ///
    /// The error messages are the exact JS ones.
    pub fn dispatch<S: AsRef<str>>(
        &self,
        ctx: CallContext,
        path: &[S],
        kind: CallKind,
        args: Vec<Value>,
        input: Option<MethodInput>,
    ) -> Result<Reply, RemoteError> {
        ctx.permissions.check(path)?;
        let entry = self.entry(path).filter(|e| match kind {
            CallKind::Async | CallKind::Sync => !e.method.kind.is_stream(),
            stream => e.method.kind == stream,
        });
        let Some(entry) = entry else {
            let kind = if kind == CallKind::Sync {
                CallKind::Async
            } else {
                kind
            };
            return Err(RemoteError::new(format!(
                "no {kind}:{}",
                super::permissions::join(path)
            )));
        };
        Ok(entry.run(ctx, args, input))
    }

    /// The number of methods.
    pub fn len(&self) -> usize {
        self.methods.len()
    }

    /// True if the table has no methods.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }
}
