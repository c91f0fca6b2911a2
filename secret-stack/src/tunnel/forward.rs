//! The portal's part of a tunnel: pass a duplex call on to another peer and pipe both ways.
//!
//! The items travel unchanged (binary stays binary) and one at a time: the caller's items are
//! taken from its receive queue only when the onward connection has room to send, and the
//! onward peer's items likewise, so a slow reader at either end slows the other end down and the
//! portal holds at most the engines' bounded queues per tunnel (see
//! [`RpcConfig::stream_buffer`](crate::rpc::RpcConfig::stream_buffer)).

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::rpc::{Caller, MethodInput, MethodOutput, RemoteError, RpcError};

/// The message a JS portal ends a tunnel with when the onward connection goes away.
pub const HANGUP: &str = "unexpected hangup";

/// Places the duplex call `path(args)` through `onward`, feeds it the items of `input` (the
/// duplex a caller opened on us) and returns the onward peer's items as our answer.
///
/// The ends pass through too: the caller's end ends the onward call; the onward peer's end or
/// error ends our answer (its error as it was sent). When the onward connection is lost, our
/// answer ends with the error [`HANGUP`], as a JS portal's does. An error end from the caller
/// reaches the onward peer as a normal end: a muxrpc caller cannot send an error end.
pub fn forward<C: Caller + ?Sized>(
    onward: &C,
    path: &[&str],
    args: Vec<Value>,
    input: MethodInput,
) -> MethodOutput {
    onward
        .duplex(path, args, until_error(input))
        .map(|item| item.map_err(onward_error))
        .boxed()
}

/// The items of `stream` up to its first error, which ends it as a normal end would: what a
/// caller's half of a stream can carry.
pub(crate) fn until_error<T, E>(
    stream: impl Stream<Item = Result<T, E>> + Send + 'static,
) -> BoxStream<'static, T>
where
    T: Send + 'static,
    E: Send + 'static,
{
    stream
        .take_while(|item| std::future::ready(item.is_ok()))
        .filter_map(|item| std::future::ready(item.ok()))
        .boxed()
}

fn onward_error(error: RpcError) -> RemoteError {
    match error {
        RpcError::ConnectionLost => RemoteError::new(HANGUP),
        other => other.into(),
    }
}
