//! The interop `test` plugin, written with `#[plugin]`: a fixed set of methods under `test.*` that
//! every implementation of the stack serves identically (JS `tests/interop/peer.js` too), so each
//! one can be checked against the others. `secret-stack serve` runs it; the workspace's examples
//! and interop tests use it too.
//!
//! | method | kind | behaviour |
//! |---|---|---|
//! | `hello(name)` | async | `"hello " + name` |
//! | `add(a, b)` | sync | `a + b` |
//! | `fail()` | async | error `test.fail: intentional failure` |
//! | `count(n)` | source | `0 .. n-1` |
//! | `bytes(total, chunkSize = 65536)` | source | binary chunks; byte at stream offset `j` is `j % 256` |
//! | `collect()` | sink | stores what it receives, per connection (or per caller) |
//! | `collected()` | async | what the last `collect` of the connection (or caller) stored, binary items as `"binary:" + base64` |
//! | `echo()` | duplex | sends back every item as received |
//! | `secret()` | async | `"the secret is 42"`, masters only |
//!
//! Everything but `secret` is open to anonymous peers.
//!
//! The `collect` store is kept per connection ([`CallContext::connection`]), as JS does; a plugin
//! made with [`Test::per_caller`] keeps it per caller id instead, so that two connections with
//! the same key see each other's `collect` (what `secret-stack serve` does: every `secret-stack
//! call` is a connection of its own). Clones of a [`Test`] share the store. `collected` answers
//! once the last `collect` of its connection (or caller) has finished: a JS caller's sink
//! callback fires as soon as it has *sent* its end, so it asks `collected` right away, and here
//! the sink runs in its own task that may not have drained its input yet (JS, single-threaded,
//! stores items as they arrive and cannot see the difference).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::{StreamExt, stream};
use secret_stack::keys::PublicKey;
use secret_stack::plugin;
use secret_stack::rpc::{Body, CallContext, Sink, Source};
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use tokio::sync::watch;

/// The mount name of the plugin.
pub const PREFIX: &str = "test";

/// The default chunk size of `test.bytes`.
pub const DEFAULT_CHUNK: u64 = 65536;

/// The largest chunk `test.bytes` agrees to send (a chunk is one packet).
pub const MAX_CHUNK: u64 = 4 * 1024 * 1024;

/// The errors of the `test` plugin. On the wire each is a JS error object whose `message` is the
/// `Display` text (what JS peers compare) and whose `data` is the variant (what typed Rust clients
/// decode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TestError {
    /// What `fail` always answers.
    #[error("test.fail: intentional failure")]
    Intentional,
    /// `bytes` was asked for a chunk size outside `1..=MAX_CHUNK`.
    #[error("test.bytes: chunkSize must be an integer in 1..=4194304, got {0}")]
    BadChunkSize(u64),
    /// The caller of `collect` ended its stream with an error (what arrived before is kept).
    #[error("test.collect: {0}")]
    CollectAborted(String),
    /// The last `collect` of the connection never finished.
    #[error("test.collected: the last collect was abandoned")]
    Abandoned,
}

/// What the last `collect` of a connection (or caller) stored; `None` while it is still running.
type Stored = watch::Receiver<Option<Vec<Value>>>;

/// Whose `collect` a stored list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    /// A connection ([`CallContext::connection`]).
    Connection(u64),
    /// A caller id, whatever its connection.
    Caller(PublicKey),
}

/// The interop `test` plugin. Cheap to clone; clones share the `collect` store.
#[derive(Clone, Default)]
pub struct Test {
    store: Arc<Mutex<HashMap<Owner, Stored>>>,
    per_caller: bool,
}

impl fmt::Debug for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Test")
            .field("stored", &self.lock().len())
            .field("per_caller", &self.per_caller)
            .finish()
    }
}

#[plugin(
    name = "test",
    version = "1.0.0",
    permission = "anonymous",
    client = false
)]
impl Test {
    /// Greets `name`.
    async fn hello(&self, name: String) -> String {
        format!("hello {name}")
    }

    /// `a + b`: exact for integers that fit `i64`, a float otherwise (like JS numbers; a sum that
    /// is not finite answers `null`, as `JSON.stringify` would).
    fn add(&self, a: Number, b: Number) -> Value {
        if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64())
            && let Some(sum) = a.checked_add(b)
        {
            return Value::from(sum);
        }
        let float = |n: &Number| n.as_f64().unwrap_or(f64::NAN);
        Value::from(float(&a) + float(&b))
    }

    /// Always fails with [`TestError::Intentional`].
    async fn fail(&self) -> Result<(), TestError> {
        Err(TestError::Intentional)
    }

    /// 0, 1, …, n-1, produced lazily (an aborted count stops at once).
    fn count(&self, n: u64) -> Source<u64> {
        Source::new(stream::iter(0..n))
    }

    /// `total` bytes in binary chunks of `chunk_size` (default [`DEFAULT_CHUNK`], at most
    /// [`MAX_CHUNK`]); the byte at stream offset `j` is `j % 256`.
    fn bytes(&self, total: u64, chunk_size: Option<u64>) -> Result<Source<Bytes>, TestError> {
        let chunk = chunk_size.unwrap_or(DEFAULT_CHUNK);
        if !(1..=MAX_CHUNK).contains(&chunk) {
            return Err(TestError::BadChunkSize(chunk));
        }
        Ok(Source::new(byte_chunks(total, chunk)))
    }

    /// Stores what the caller sends, for `collected` on the same connection.
    async fn collect(&self, ctx: &CallContext, mut items: Sink<Body>) -> Result<(), TestError> {
        let (done, stored) = watch::channel(None);
        self.lock().insert(self.owner(ctx), stored);
        let mut got = Vec::new();
        let mut result = Ok(());
        while let Some(item) = items.next().await {
            match item {
                Ok(body) => got.push(collected_form(body)),
                Err(e) => {
                    result = Err(TestError::CollectAborted(e.to_string()));
                    break;
                }
            }
        }
        // What arrived before an error is kept too.
        done.send_replace(Some(got));
        result
    }

    /// The items the last `collect` of this connection (or caller) stored, once it has finished
    /// (`[]` if there was none).
    async fn collected(&self, ctx: &CallContext) -> Result<Vec<Value>, TestError> {
        let stored = self.lock().get(&self.owner(ctx)).cloned();
        let Some(mut stored) = stored else {
            return Ok(Vec::new());
        };
        match stored.wait_for(Option::is_some).await {
            Ok(items) => Ok(items.as_ref().cloned().unwrap_or_default()),
            Err(_) => Err(TestError::Abandoned),
        }
    }

    /// Sends back every item as received, keeping strings, JSON and binary apart.
    fn echo(&self, input: Sink<Body>) -> Source<Body> {
        Source::from(input)
    }

    /// Only for callers with full access.
    #[permission(master)]
    async fn secret(&self) -> String {
        "the secret is 42".to_owned()
    }
}

impl Test {
    /// A plugin whose `collect` store is kept per caller id rather than per connection.
    pub fn per_caller() -> Test {
        Test {
            per_caller: true,
            ..Test::default()
        }
    }

    /// Drops what `collect` stored for `connection` (call it when the connection has ended).
    pub fn forget(&self, connection: u64) {
        self.lock().remove(&Owner::Connection(connection));
    }

    fn owner(&self, ctx: &CallContext) -> Owner {
        if self.per_caller {
            Owner::Caller(ctx.remote)
        } else {
            Owner::Connection(ctx.connection)
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Owner, Stored>> {
        // The map is consistent after every statement; a panic elsewhere cannot break it.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How `collected` returns a stored item over JSON: a binary item becomes the string `"binary:"`
/// followed by its standard base64 (with padding); any other item is returned as received.
pub fn collected_form(body: Body) -> Value {
    match body {
        Body::Binary(bytes) => Value::String(format!("binary:{}", STANDARD.encode(&bytes))),
        other => other.into_json(),
    }
}

/// `total` bytes in chunks of `chunk`, the byte at offset `j` being `j % 256`.
pub fn byte_chunks(total: u64, chunk: u64) -> impl futures::Stream<Item = Bytes> + Send {
    stream::unfold(0u64, move |offset| async move {
        if offset >= total {
            return None;
        }
        let len = chunk.min(total - offset);
        let data: Vec<u8> = (offset..offset + len).map(|j| (j % 256) as u8).collect();
        Some((Bytes::from(data), offset + len))
    })
}
