//! The two stream types of a plugin method: [`Source<T>`], the values a source or duplex method
//! sends, and [`Sink<T>`], the values a sink or duplex method receives.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{self, BoxStream, Stream, StreamExt};

use super::Body;
use super::error::ToRemoteError;
use crate::rpc::dispatch::{MethodInput, MethodOutput};
use crate::rpc::error::{RemoteError, RpcError};

/// The values a source (or duplex) method sends to its caller, then an end or one error.
///
/// Returning `Source<T>` from a `#[plugin]` method makes it a `source` (a `duplex` if it also
/// takes a [`Sink`]). The connection polls it only when it has room to send, so a slow caller
/// slows the producer down.
pub struct Source<T> {
    inner: BoxStream<'static, Result<T, RemoteError>>,
}

impl<T: Send + 'static> Source<T> {
    /// Sends every item of `stream`, then a normal end.
    pub fn new<S>(stream: S) -> Self
    where
        S: Stream<Item = T> + Send + 'static,
    {
        Source {
            inner: stream.map(Ok).boxed(),
        }
    }

    /// Sends the `Ok` items of `stream`; an `Err` item ends the stream with that error.
    pub fn try_new<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        E: ToRemoteError,
    {
        Source {
            inner: stream
                .map(|item| item.map_err(|e| e.to_remote_error()))
                .boxed(),
        }
    }

    /// Sends the items of an iterator.
    pub fn iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Source::new(stream::iter(items))
    }

    /// Ends at once.
    pub fn empty() -> Self {
        Source::new(stream::empty())
    }

    /// Ends at once with `error`.
    pub fn error<E: ToRemoteError>(error: E) -> Self {
        Source {
            inner: stream::once(futures::future::ready(Err(error.to_remote_error()))).boxed(),
        }
    }

    /// The stream the connection sends, each item encoded with `encode`.
    pub(crate) fn into_outgoing(
        self,
        method: &'static str,
        encode: fn(T) -> Result<Body, String>,
    ) -> MethodOutput {
        Box::pin(self.inner.map(move |item| {
            item.and_then(|value| {
                encode(value).map_err(|e| {
                    tracing::debug!(method, error = %e, "a source item could not be encoded");
                    RemoteError::new(format!("{method}: cannot encode item: {e}"))
                })
            })
        }))
    }
}

impl<T> Stream for Source<T> {
    type Item = Result<T, RemoteError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T: Send + 'static> FromIterator<T> for Source<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Source::iter(iter.into_iter().collect::<Vec<T>>())
    }
}

impl<T: Send + 'static> From<Sink<T>> for Source<T> {
    /// Echoes what a sink receives: its items, then its end or its error.
    fn from(sink: Sink<T>) -> Self {
        Source::try_new(sink)
    }
}

impl<T> fmt::Debug for Source<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

/// The values the caller sends to a sink (or duplex) method, decoded into `T`.
///
/// Taking a `Sink<T>` parameter makes a `#[plugin]` method a `sink` (a `duplex` if it also returns
/// a [`Source`]). It yields `Ok` items until the caller ends; an `Err` item means the caller ended
/// with an error, the connection was lost, or an item could not be decoded into `T` (the message
/// then names the method and the item's position). Dropping it tells the caller to stop.
pub struct Sink<T> {
    input: Option<MethodInput>,
    method: &'static str,
    decode: fn(Body) -> Result<T, String>,
    received: u64,
}

impl<T> Sink<T> {
    /// Wraps the caller's values of a call to `method`, decoding each with `decode`.
    pub(crate) fn new(
        input: Option<MethodInput>,
        method: &'static str,
        decode: fn(Body) -> Result<T, String>,
    ) -> Self {
        Sink {
            input,
            method,
            decode,
            received: 0,
        }
    }

    /// The number of items received so far.
    pub fn received(&self) -> u64 {
        self.received
    }
}

impl<T> Stream for Sink<T> {
    type Item = Result<T, RpcError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(input) = this.input.as_mut() else {
            return Poll::Ready(None);
        };
        let item = match input.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                this.input = None;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(e))) => {
                this.input = None;
                Err(e)
            }
            Poll::Ready(Some(Ok(body))) => {
                this.received += 1;
                (this.decode)(body).map_err(|e| {
                    RpcError::InvalidValue(format!("{}: item {}: {e}", this.method, this.received))
                })
            }
        };
        Poll::Ready(Some(item))
    }
}

/// The item type of a [`Sink`], so that `#[rpc(kind = "sink")]` can see through a type alias.
pub trait SinkItem {
    /// The type of the items.
    type Item;
}

impl<T> SinkItem for Sink<T> {
    type Item = T;
}

impl<T> fmt::Debug for Sink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink")
            .field("method", &self.method)
            .field("received", &self.received)
            .field("ended", &self.input.is_none())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::typed::WireFormat;
    use crate::rpc::typed::codec::decode_json;

    #[tokio::test]
    async fn sink_decodes_and_names_bad_items() {
        let input: MethodInput = Box::pin(stream::iter(vec![
            Ok(Body::Json(1.into())),
            Ok(Body::Text("x".into())),
        ]));
        let items: Vec<_> = Sink::new(Some(input), "t.collect", decode_json::<u32>)
            .collect()
            .await;
        assert_eq!(items.len(), 2);
        assert!(matches!(items[0], Ok(1)));
        let Err(RpcError::InvalidValue(msg)) = &items[1] else {
            panic!("expected a decode error, got {:?}", items[1]);
        };
        assert_eq!(
            msg,
            "t.collect: item 2: invalid type: string \"x\", expected u32"
        );
    }

    #[tokio::test]
    async fn source_from_sink_echoes_the_error() {
        let input: MethodInput = Box::pin(stream::iter(vec![
            Ok(Body::Text("a".into())),
            Err(RpcError::ConnectionLost),
        ]));
        let sink = Sink::new(Some(input), "t.echo", Body::from_body);
        let out: Vec<_> = Source::from(sink)
            .into_outgoing("t.echo", Body::into_body)
            .collect()
            .await;
        assert_eq!(out[0], Ok(Body::Text("a".into())));
        assert_eq!(
            out[1].as_ref().unwrap_err().message,
            "unexpected end of parent stream"
        );
    }
}
