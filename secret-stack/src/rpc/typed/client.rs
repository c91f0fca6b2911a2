//! The caller side of typed clients: [`CallError<E>`], which keeps a method's own error apart
//! from everything else that can go wrong, and the helpers generated clients call to place a
//! call through any [`Caller`] and decode its answer.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, ready};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Body;
use crate::rpc::caller::Caller;
use crate::rpc::error::{RemoteError, RpcError};

/// Why a typed call failed: the method's own error, or anything else.
///
/// `E` is the error type of the method's `Result`; methods that cannot fail use
/// [`Infallible`], so only [`CallError::Rpc`] can happen.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError<E> {
    /// The method ran and failed with its own error (decoded from the error object's `data`).
    Method(E),
    /// Anything else: the connection, permissions, an unknown method, arguments the callee
    /// refused, an answer that did not decode, or an error object without typed data (such as
    /// one from a JS peer).
    Rpc(RpcError),
}

impl<E> CallError<E> {
    /// The method's own error, if that is what happened.
    pub fn method_error(&self) -> Option<&E> {
        match self {
            CallError::Method(e) => Some(e),
            CallError::Rpc(_) => None,
        }
    }

    /// The refusal this is, if the peer refused the call for the caller's permissions (see
    /// [`RpcError::permission_refusal`]).
    pub fn permission_refusal(&self) -> Option<crate::rpc::PermissionRefusal> {
        match self {
            CallError::Rpc(e) => e.permission_refusal(),
            CallError::Method(_) => None,
        }
    }

    /// The error object the callee sent, if the callee answered with an untyped error.
    pub fn remote(&self) -> Option<&RemoteError> {
        match self {
            CallError::Rpc(RpcError::Remote(e)) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Method(e) => e.fmt(f),
            CallError::Rpc(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Method(e) => Some(e),
            CallError::Rpc(e) => Some(e),
        }
    }
}

impl<E> From<RpcError> for CallError<E> {
    fn from(error: RpcError) -> Self {
        CallError::Rpc(error)
    }
}

/// The answer of a typed async, sync or sink call: what a generated client's method returns.
///
/// It is a boxed [`Future`](std::future::Future) (`Send + 'static`, so it can be spawned) whose
/// output is `Result<T, CallError<E>>`: `T` is the method's answer as its Rust type (`()` for a
/// sink), `E` the method's own error type (`Infallible` for a method that cannot fail), and
/// [`CallError::Rpc`] the failures of the call itself (connection lost, a refused permission,
/// an answer that does not decode). Await it; dropping it before the answer forgets the call.
///
/// ```
/// # use secret_stack::prelude::*;
/// # pub struct Hello;
/// # #[plugin(name = "hello")]
/// # impl Hello { async fn greet(&self, name: String) -> String { format!("hello {name}") } }
/// # async fn demo(peer: Peer) -> Result<(), Box<dyn std::error::Error>> {
/// let answer: secret_stack::rpc::TypedFuture<String, std::convert::Infallible> =
///     HelloClient::new(peer).greet("you".into());
/// assert_eq!(answer.await?, "hello you");
/// # Ok(()) }
/// ```
pub type TypedFuture<T, E> = BoxFuture<'static, Result<T, CallError<E>>>;

/// The items of a typed source or duplex call: what a generated client's streaming method
/// returns.
///
/// It is a boxed [`Stream`](futures::Stream) (`Send + 'static`) of `Result<T, CallError<E>>`:
/// each item is one value the peer sent, decoded as `T`; an `Err` item is the stream's end with
/// an error (the method's own `E`, or [`CallError::Rpc`]), after which the stream yields nothing.
/// A clean end is the stream's end. Dropping it before the end aborts the call, so the peer stops
/// producing.
///
/// ```
/// # use secret_stack::prelude::*;
/// use futures::StreamExt;
/// # pub struct Count;
/// # #[plugin(name = "count")]
/// # impl Count { fn up_to(&self, n: u32) -> Source<u32> { Source::iter(0..n) } }
/// # async fn demo(peer: Peer) -> Result<(), Box<dyn std::error::Error>> {
/// let mut items = CountClient::new(peer).up_to(3);
/// while let Some(item) = items.next().await {
///     println!("{}", item?);
/// }
/// # Ok(()) }
/// ```
pub type TypedStream<T, E> = BoxStream<'static, Result<T, CallError<E>>>;

/// Reads the method's typed error out of an error object's `data`, when it has one that decodes.
pub fn decode_typed_error<E: DeserializeOwned>(error: RpcError) -> CallError<E> {
    if let RpcError::Remote(RemoteError {
        data: Some(data), ..
    }) = &error
        && let Ok(typed) = serde_json::from_value::<E>((**data).clone())
    {
        return CallError::Method(typed);
    }
    CallError::Rpc(error)
}

/// The error of a method without a typed error.
pub fn decode_untyped_error(error: RpcError) -> CallError<Infallible> {
    CallError::Rpc(error)
}

/// Places an async or sync call and decodes its answer.
pub fn call<C, T, E>(
    caller: &C,
    method: &'static str,
    path: &[&str],
    args: Result<Vec<Value>, RpcError>,
    decode: fn(Body) -> Result<T, String>,
    error: fn(RpcError) -> CallError<E>,
) -> impl Future<Output = Result<T, CallError<E>>> + Send + 'static
where
    C: Caller + ?Sized,
    T: 'static,
    E: 'static,
{
    let answer: BoxFuture<'static, Result<Body, RpcError>> = match args {
        Ok(args) => caller.call(path, args),
        Err(e) => Box::pin(ready(Err(e))),
    };
    async move {
        match answer.await {
            Ok(body) => decode(body).map_err(|e| reply_error(method, &e)),
            Err(e) => Err(error(e)),
        }
    }
}

/// Opens a source call and decodes its items.
pub fn source<C, T, E>(
    caller: &C,
    method: &'static str,
    path: &[&str],
    args: Result<Vec<Value>, RpcError>,
    decode: fn(Body) -> Result<T, String>,
    error: fn(RpcError) -> CallError<E>,
) -> TypedStream<T, E>
where
    C: Caller + ?Sized,
    T: Send + 'static,
    E: Send + 'static,
{
    match args {
        Ok(args) => decode_items(method, caller.source(path, args), decode, error),
        Err(e) => stream::once(ready(Err(CallError::Rpc(e)))).boxed(),
    }
}

/// Opens a sink call, sends `items`, and resolves with the callee's end.
pub fn sink<C, S, E>(
    caller: &C,
    method: &'static str,
    path: &[&str],
    args: Result<Vec<Value>, RpcError>,
    items: S,
    encode: fn(S::Item) -> Result<Body, String>,
    error: fn(RpcError) -> CallError<E>,
) -> impl Future<Output = Result<(), CallError<E>>> + Send + 'static
where
    C: Caller + ?Sized,
    S: Stream + Send + 'static,
    E: 'static,
{
    let (items, failure) = typed_items(method, items, encode);
    let end: BoxFuture<'static, Result<(), RpcError>> = match args {
        Ok(args) => caller.sink(path, args, items),
        Err(e) => Box::pin(ready(Err(e))),
    };
    async move {
        let end = end.await;
        if let Some(e) = failure.take() {
            return Err(CallError::Rpc(e));
        }
        end.map_err(error)
    }
}

/// Opens a duplex call: sends `items` while yielding the callee's decoded items.
#[allow(clippy::too_many_arguments)]
pub fn duplex<C, S, T, E>(
    caller: &C,
    method: &'static str,
    path: &[&str],
    args: Result<Vec<Value>, RpcError>,
    items: S,
    encode: fn(S::Item) -> Result<Body, String>,
    decode: fn(Body) -> Result<T, String>,
    error: fn(RpcError) -> CallError<E>,
) -> TypedStream<T, E>
where
    C: Caller + ?Sized,
    S: Stream + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let args = match args {
        Ok(args) => args,
        Err(e) => return stream::once(ready(Err(CallError::Rpc(e)))).boxed(),
    };
    let (items, failure) = typed_items(method, items, encode);
    let answers = decode_items(method, caller.duplex(path, args, items), decode, error);
    // After the callee's end, report an item of ours that could not be encoded.
    let tail = stream::once(async move { failure.take() })
        .filter_map(|e| ready(e.map(|e| Err(CallError::Rpc(e)))));
    answers.chain(tail).boxed()
}

/// The first item of a sink or duplex call that could not be encoded (the items stop there).
#[derive(Debug, Clone, Default)]
struct ItemFailure(Arc<Mutex<Option<RpcError>>>);

impl ItemFailure {
    fn set(&self, error: RpcError) {
        let mut slot = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        slot.get_or_insert(error);
    }

    fn take(&self) -> Option<RpcError> {
        match self.0.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}

/// Encodes the caller's items; the first that fails to encode ends them and is kept in the
/// returned `ItemFailure`.
fn typed_items<S>(
    method: &'static str,
    items: S,
    encode: fn(S::Item) -> Result<Body, String>,
) -> (BoxStream<'static, Body>, ItemFailure)
where
    S: Stream + Send + 'static,
{
    let failure = ItemFailure::default();
    let slot = failure.clone();
    let mut sent = 0u64;
    let bodies = items.scan((), move |_, item| {
        sent += 1;
        ready(match encode(item) {
            Ok(body) => Some(body),
            Err(e) => {
                slot.set(RpcError::InvalidValue(format!(
                    "{method}: item {sent}: {e}"
                )));
                None
            }
        })
    });
    (bodies.boxed(), failure)
}

fn decode_items<T, E>(
    method: &'static str,
    answers: BoxStream<'static, Result<Body, RpcError>>,
    decode: fn(Body) -> Result<T, String>,
    error: fn(RpcError) -> CallError<E>,
) -> TypedStream<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    answers
        .map(move |item| match item {
            Ok(body) => decode(body).map_err(|e| reply_error(method, &e)),
            Err(e) => Err(error(e)),
        })
        .boxed()
}

fn reply_error<E>(method: &str, error: &str) -> CallError<E> {
    CallError::Rpc(RpcError::InvalidValue(format!(
        "{method}: cannot decode the answer: {error}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    enum Oops {
        Broken,
    }

    #[test]
    fn typed_errors_decode_from_data_only() {
        let with =
            RpcError::Remote(RemoteError::new("broken").with_data(serde_json::json!("Broken")));
        assert_eq!(
            decode_typed_error::<Oops>(with),
            CallError::Method(Oops::Broken)
        );
        let js = RpcError::Remote(RemoteError::new("broken"));
        assert!(matches!(
            decode_typed_error::<Oops>(js),
            CallError::Rpc(RpcError::Remote(_))
        ));
        let other =
            RpcError::Remote(RemoteError::new("x").with_data(serde_json::json!({"unrelated": 1})));
        assert!(decode_typed_error::<Oops>(other).remote().is_some());
    }

    #[test]
    fn typed_callers_tell_a_permission_refusal_apart() {
        let js = "method:board,post is on list of disallowed methods";
        let refused = decode_typed_error::<Oops>(RpcError::Remote(RemoteError::new(js)));
        let refusal = refused.permission_refusal().map(|r| r.dotted());
        assert_eq!(refusal.as_deref(), Some("board.post"));
        let CallError::Rpc(rpc) = &refused else {
            panic!("not a method error: {refused:?}")
        };
        assert!(rpc.to_string().contains("`board.post`"), "{rpc}");
        let own = decode_typed_error::<Oops>(RpcError::Remote(
            RemoteError::new(js).with_data(serde_json::json!("Broken")),
        ));
        assert_eq!(own.permission_refusal(), None);
    }
}
