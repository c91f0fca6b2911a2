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

/// All the methods a node serves, with the manifest they add up to.
#[derive(Clone, Default)]
pub struct MethodTable {
    methods: HashMap<PathKey, Method>,
    manifest: Manifest,
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
        self.methods.insert(PathKey(method.path.clone()), method);
        Ok(())
    }

    /// The method at `path`, if any. Looking up allocates nothing.
    pub fn get<S: AsRef<str>>(&self, path: &[S]) -> Option<&Method> {
        self.methods.get(&PathRef(path) as &dyn Segments)
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
        let method = self.get(path).filter(|m| match kind {
            CallKind::Async | CallKind::Sync => !m.kind.is_stream(),
            stream => m.kind == stream,
        });
        let Some(method) = method else {
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
        Ok((method.handler)(ctx, args, input))
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
