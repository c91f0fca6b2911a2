//! [`CallerHandle`]: a weak handle to a connection, the one a call came over (JS's `this` in a
//! muxrpc method), through which a handler calls the calling peer back.

use std::sync::{Arc, Weak};

use futures::future::{self, BoxFuture};
use futures::stream::{self, BoxStream};
use futures::{FutureExt, StreamExt};
use serde_json::Value;

use super::handle::RpcHandle;
use super::state::Shared;
use crate::rpc::body::Body;
use crate::rpc::caller::Caller;
use crate::rpc::error::RpcError;

/// A handle to a connection that does not keep it alive: what
/// [`CallContext::caller`](crate::rpc::CallContext::caller) gives a handler to call the peer
/// that called it (JS: `sbot.peers[this.id][0]`), and what [`RpcHandle::downgrade`] makes.
///
/// It implements [`Caller`], so every typed client works over it (`FooClient::new(handle)`), as do
/// its inherent calls through [`CallerHandle::rpc`]. Calls are placed on the connection as long
/// as its session lasts; once the session has ended (or its state is gone) every call fails at once
/// with [`RpcError::Closed`] (`stream is closed`, JS's text for a call on a closed connection)
/// instead of waiting. Keeping a handle costs a pointer and keeps no socket, task or buffer alive;
/// cloning it and handing it to each call allocates nothing.
///
/// ```
/// use secret_stack::plugin;
/// use secret_stack::rpc::CallContext;
///
/// struct Ask;
///
/// #[plugin(name = "ask", version = "1.0.0", permission = "anonymous")]
/// impl Ask {
///     /// Asks the caller for its nickname through the caller's own `ask.nick` (JS: `this.id`,
///     /// then `sbot.peers[this.id][0].ask.nick(cb)`).
///     async fn who(&self, ctx: &CallContext) -> Result<String, String> {
///         let Some(caller) = ctx.caller() else {
///             return Ok("myself".into()); // a local call has no connection to call back
///         };
///         AskClient::new(caller).nick().await.map_err(|e| e.to_string())
///     }
///
///     /// This node's nickname.
///     async fn nick(&self) -> String {
///         "Alice".into()
///     }
/// }
/// ```
#[derive(Clone)]
pub struct CallerHandle {
    session: Weak<Shared>,
}

impl std::fmt::Debug for CallerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerHandle")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl CallerHandle {
    pub(super) fn new(shared: &Arc<Shared>) -> CallerHandle {
        CallerHandle {
            session: Arc::downgrade(shared),
        }
    }

    /// The whole [`RpcHandle`] (typed `call::<T>`, sinks fed through channels, deadlines) while the
    /// session's state exists; `None` once it is gone. A handle made from a session that has ended
    /// but is still referenced answers every call with [`RpcError::Closed`].
    pub fn rpc(&self) -> Option<RpcHandle> {
        self.session.upgrade().map(RpcHandle::from_shared)
    }

    /// True once the connection takes no new calls (closing, over, or gone).
    pub fn is_closed(&self) -> bool {
        self.rpc().is_none_or(|rpc| rpc.is_closed())
    }
}

impl Caller for CallerHandle {
    fn call(&self, path: &[&str], args: Vec<Value>) -> BoxFuture<'static, Result<Body, RpcError>> {
        match self.rpc() {
            Some(rpc) => rpc.request(path, args).boxed(),
            None => future::ready(Err(RpcError::Closed)).boxed(),
        }
    }

    fn source(
        &self,
        path: &[&str],
        args: Vec<Value>,
    ) -> BoxStream<'static, Result<Body, RpcError>> {
        match self.rpc() {
            Some(rpc) => rpc.source(path, args).boxed(),
            None => stream::once(future::ready(Err(RpcError::Closed))).boxed(),
        }
    }

    fn sink(
        &self,
        path: &[&str],
        args: Vec<Value>,
        items: BoxStream<'static, Body>,
    ) -> BoxFuture<'static, Result<(), RpcError>> {
        match self.rpc() {
            Some(rpc) => rpc.sink_from(path, args, items),
            None => future::ready(Err(RpcError::Closed)).boxed(),
        }
    }

    fn duplex(
        &self,
        path: &[&str],
        args: Vec<Value>,
        items: BoxStream<'static, Body>,
    ) -> BoxStream<'static, Result<Body, RpcError>> {
        match self.rpc() {
            Some(rpc) => rpc.duplex_with(path, args, items).boxed(),
            None => stream::once(future::ready(Err(RpcError::Closed))).boxed(),
        }
    }
}
