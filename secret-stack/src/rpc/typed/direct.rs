//! Direct calls of typed handles: a `#[plugin]` method called as Rust by another plugin (while it
//! has no hook), its answer shaped like a generated client's, so that a handle's method returns
//! the same types whether the call went direct or through the app's dispatch.

use futures::stream::{self, StreamExt};

use super::client::{CallError, TypedStream};
use super::error::MethodResult;
use super::server::IntoSource;
use super::stream::Source;
use crate::rpc::error::RpcError;

/// A method's `Result` as a client's answer: its error is the method's own.
pub fn direct_value<R: MethodResult>(result: R) -> Result<R::Ok, CallError<R::Err>> {
    result.into_result().map_err(CallError::Method)
}

/// A source method's answer when it returns a `Result` of a source.
pub fn direct_result_source<R, T, E>(
    result: R,
    error: fn(RpcError) -> CallError<E>,
) -> TypedStream<T, E>
where
    R: MethodResult<Ok = Source<T>, Err = E>,
    T: Send + 'static,
    E: Send + 'static,
{
    direct_items(result.into_result().map_err(CallError::Method), error)
}

/// A source method's answer when it returns a source (or an alias of one).
pub fn direct_source<S, E>(
    source: S,
    error: fn(RpcError) -> CallError<E>,
) -> TypedStream<S::Item, E>
where
    S: IntoSource,
    S::Item: Send + 'static,
    E: Send + 'static,
{
    direct_items(
        source.into_source().map_err(|e| error(RpcError::Remote(e))),
        error,
    )
}

/// The answer of an `async fn` source: its items once the future resolved.
pub fn direct_async_source<F, T, E>(source: F) -> TypedStream<T, E>
where
    F: Future<Output = TypedStream<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    stream::once(source).flatten().boxed()
}

/// A source's items as a client would see them: an error item (the method's own error, or one
/// the source ended with, decoded as a client decodes it) ends the stream.
fn direct_items<T, E>(
    source: Result<Source<T>, CallError<E>>,
    error: fn(RpcError) -> CallError<E>,
) -> TypedStream<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    match source {
        Ok(items) => items
            .map(move |item| item.map_err(|e| error(RpcError::Remote(e))))
            .boxed(),
        Err(e) => stream::once(futures::future::ready(Err(e))).boxed(),
    }
}
