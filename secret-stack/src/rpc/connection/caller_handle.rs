//! [`CallerHandle`]: a weak handle to a connection, the one a call came over (JS's `this` in a
//! muxrpc method), through which a handler calls the calling peer back.

use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use super::config::RpcConfig;
use super::end::SessionEnd;
use super::handle::RpcHandle;
use super::state::Shared;
#[cfg(doc)]
use crate::rpc::{Caller, RpcError};

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

    /// The session while its state exists, else an ended one.
    fn session(&self) -> RpcHandle {
        self.rpc().unwrap_or_else(ended)
    }

    /// True once the connection takes no new calls (closing, over, or gone).
    pub fn is_closed(&self) -> bool {
        self.rpc().is_none_or(|rpc| rpc.is_closed())
    }
}

crate::rpc::caller::forward_caller!(
    /// Calls go to the connection while its session lasts, and fail with [`RpcError::Closed`]
    /// after.
    impl for CallerHandle, |this| &this.session()
);

/// A session that has ended: every call on it fails with [`RpcError::Closed`], as on a real
/// session after its end. Made only when a call is placed on a handle whose session is gone.
fn ended() -> RpcHandle {
    let (commands, _) = mpsc::unbounded_channel();
    let shared = Shared::new(RpcConfig::default(), commands);
    shared.lock().end = Some(SessionEnd::Closed);
    RpcHandle::from_shared(Arc::new(shared))
}
