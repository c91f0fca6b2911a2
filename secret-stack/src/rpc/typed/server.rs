//! The callee side of generated handlers: turning what a method returned into a [`Reply`].
//!
//! The traits here ([`IntoSource`], [`IntoDone`], and [`MethodResult`]) let one generated call
//! handle every accepted return shape: `T`, `Result<T, E>`, `Source<T>`, `Result<Source<T>, E>`,
//! `()` and `Result<(), E>`, directly or from an `async fn`.

use std::future::{Future, ready};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};

use super::Body;
use super::error::{MethodResult, ToRemoteError};
use super::stream::{Sink, Source};
use serde_json::Value;

use crate::rpc::context::CallContext;
use crate::rpc::dispatch::{Method, MethodInput, Reply};
use crate::rpc::error::RemoteError;
use crate::rpc::manifest::{CallKind, Manifest};

/// The reply of a call refused before the method ran (bad arguments), in the shape its kind needs.
pub fn reject(kind: CallKind, error: RemoteError) -> Reply {
    tracing::debug!(%error, "call refused before the method ran");
    match kind {
        CallKind::Source | CallKind::Duplex => {
            Reply::Stream(Box::pin(stream::once(ready(Err(error)))))
        }
        CallKind::Sink => Reply::Done(Box::pin(ready(Err(error)))),
        CallKind::Async | CallKind::Sync => Reply::Value(Box::pin(ready(Err(error)))),
    }
}

/// Encodes a plain return value.
pub fn value<T>(
    method: &'static str,
    value: T,
    encode: fn(T) -> Result<Body, String>,
) -> Result<Body, RemoteError> {
    encode(value).map_err(|e| encode_error(method, &e))
}

/// Encodes a `Result` return value: the value, or the method's error as an error object.
pub fn result_value<R: MethodResult>(
    method: &'static str,
    result: R,
    encode: fn(R::Ok) -> Result<Body, String>,
    error: fn(R::Err) -> RemoteError,
) -> Result<Body, RemoteError> {
    match result.into_result() {
        Ok(v) => value(method, v, encode),
        Err(e) => Err(error(e)),
    }
}

/// Converts a method's error; generated code names it with the error type, so that a type that
/// cannot be an error is reported at that type.
pub fn method_error<E: ToRemoteError>(error: E) -> RemoteError {
    error.to_remote_error()
}

/// The reply of a sync method: its answer, already computed.
pub fn reply_value(answer: Result<Body, RemoteError>) -> Reply {
    Reply::Value(Box::pin(ready(answer)))
}

/// The reply of an async method: its answer, when the future resolves.
pub fn reply_async<F>(answer: F) -> Reply
where
    F: Future<Output = Result<Body, RemoteError>> + Send + 'static,
{
    Reply::Value(Box::pin(answer))
}

/// What a source or duplex method may return: a [`Source`], or a `Result` of one (an `Err` ends
/// the stream at once with that error).
pub trait IntoSource {
    /// The type of the items.
    type Item;
    /// The source, or the error that replaces it.
    fn into_source(self) -> Result<Source<Self::Item>, RemoteError>;
}

impl<T> IntoSource for Source<T> {
    type Item = T;
    fn into_source(self) -> Result<Source<T>, RemoteError> {
        Ok(self)
    }
}

impl<T, E: ToRemoteError> IntoSource for Result<Source<T>, E> {
    type Item = T;
    fn into_source(self) -> Result<Source<T>, RemoteError> {
        self.map_err(|e| e.to_remote_error())
    }
}

/// The reply of a (non-async) source or duplex method.
pub fn reply_source<R>(
    method: &'static str,
    source: R,
    encode: fn(R::Item) -> Result<Body, String>,
) -> Reply
where
    R: IntoSource,
    R::Item: Send + 'static,
{
    match source.into_source() {
        Ok(s) => Reply::Stream(s.into_outgoing(method, encode)),
        Err(e) => Reply::Stream(Box::pin(stream::once(ready(Err(e))))),
    }
}

/// The reply of an `async fn` source or duplex method: its items once the future resolved.
pub fn reply_async_source<F>(
    method: &'static str,
    source: F,
    encode: fn(<F::Output as IntoSource>::Item) -> Result<Body, String>,
) -> Reply
where
    F: Future + Send + 'static,
    F::Output: IntoSource,
    <F::Output as IntoSource>::Item: Send + 'static,
{
    let items = stream::once(source).flat_map(move |s| match s.into_source() {
        Ok(s) => s.into_outgoing(method, encode),
        Err(e) => Box::pin(stream::once(ready(Err(e)))),
    });
    Reply::Stream(Box::pin(items))
}

/// What a sink method may return: `()` or `Result<(), E>`.
pub trait IntoDone {
    /// The end the caller receives.
    fn into_done(self) -> Result<(), RemoteError>;
}

impl IntoDone for () {
    fn into_done(self) -> Result<(), RemoteError> {
        Ok(())
    }
}

impl<E: ToRemoteError> IntoDone for Result<(), E> {
    fn into_done(self) -> Result<(), RemoteError> {
        self.map_err(|e| e.to_remote_error())
    }
}

/// The reply of a (non-async) sink method.
pub fn reply_done<R: IntoDone>(result: R) -> Reply {
    Reply::Done(Box::pin(ready(result.into_done())))
}

/// The reply of an `async fn` sink method. The method is started at once, up to its first
/// `.await` (see `start_now`).
pub fn reply_async_done<F>(result: F) -> Reply
where
    F: Future + Send + 'static,
    F::Output: IntoDone,
{
    Reply::Done(start_now(Box::pin(async move { result.await.into_done() })))
}

/// Polls `future` once, right now, so that the method body runs up to its first `.await` while
/// the request is dispatched, then returns it (already resolved, or still to be awaited).
///
/// A JS callee runs a sink's handler synchronously when the request arrives, before any later
/// request on the connection. An `async fn` only starts when its future is first polled, and the
/// connection polls each sink on its own task: without this, a call that arrives after a sink
/// (such as `collected` after `collect` in the interop plugin) could run before the sink has even
/// started, and see the state from before it. The first poll uses a no-op waker; that is sound
/// because whoever awaits the returned future polls it again and registers its own waker.
fn start_now<T>(mut future: BoxFuture<'static, T>) -> BoxFuture<'static, T>
where
    T: Send + 'static,
{
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(value) => Box::pin(ready(value)),
        Poll::Pending => future,
    }
}

fn encode_error(method: &str, error: &str) -> RemoteError {
    tracing::debug!(method, %error, "a method's result could not be encoded");
    RemoteError::new(format!("{method}: cannot encode the result: {error}"))
}

/// The `Sink<T>` argument of a sink or duplex method: the caller's values of a call to `method`,
/// each decoded with `decode`.
pub fn sink_input<T>(
    input: Option<MethodInput>,
    method: &'static str,
    decode: fn(Body) -> Result<T, String>,
) -> Sink<T> {
    Sink::new(input, method, decode)
}

/// A method from its relative path, kind, permission groups and handler.
pub fn method<F>(path: &[&str], kind: CallKind, groups: &[&str], handler: F) -> Method
where
    F: Fn(CallContext, Vec<Value>, Option<MethodInput>) -> Reply + Send + Sync + 'static,
{
    Method {
        path: path.iter().map(|&p| p.to_owned()).collect(),
        kind,
        groups: groups.iter().map(|&g| g.to_owned()).collect(),
        handler: Arc::new(handler),
    }
}

/// The manifest of methods given as (relative path, kind).
pub fn manifest(methods: &[(&[&str], CallKind)]) -> Manifest {
    let mut manifest = Manifest::new();
    for (path, kind) in methods {
        // The macro has already refused paths that clash.
        let inserted = manifest.insert(path, *kind);
        debug_assert!(inserted, "clashing path {path:?}");
    }
    manifest
}
