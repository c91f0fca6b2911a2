//! The interop `test` plugin, written with `#[plugin]`: a fixed set of methods under `test.*` that
//! every implementation of the stack serves identically, so each one can be checked against the
//! others (see [`crate::checks`] and `tests/interop/README.md`).
//!
//! | method | kind | behaviour |
//! |---|---|---|
//! | `hello(name)` | async | `"hello " + name` |
//! | `add(a, b)` | sync | `a + b` |
//! | `fail()` | async | error `test.fail: intentional failure` |
//! | `count(n)` | source | `0 .. n-1` |
//! | `bytes(total, chunkSize = 65536)` | source | binary chunks; byte at stream offset `j` is `j % 256` |
//! | `collect()` | sink | stores what it receives, per connection |
//! | `collected()` | async | what the last `collect` of the connection stored, binary items as `"binary:" + base64` |
//! | `echo()` | duplex | sends back every item as received |
//! | `secret()` | async | `"the secret is 42"`, masters only |
//!
//! Everything but `secret` is open to anonymous peers.
//!
//! The `collect` store is kept per connection ([`CallContext::connection`]); clones of a [`Test`]
//! share it. `collected` answers once the last `collect` of its connection has finished: a JS
//! caller's sink callback fires as soon as it has *sent* its end, so it asks `collected` right
//! away, and here the sink runs in its own task that may not have drained its input yet (JS,
//! single-threaded, stores items as they arrive and cannot see the difference).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::{StreamExt, stream};
use secret_stack::rpc::{Body, CallContext, Method, Permissions, Sink, Source};
use secret_stack::{Plugin, plugin};
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

/// What the last `collect` of a connection stored; `None` while it is still running.
type Stored = watch::Receiver<Option<Vec<Value>>>;

/// The interop `test` plugin. Cheap to clone; clones share the `collect` store.
#[derive(Clone, Default)]
pub struct Test {
    store: Arc<Mutex<HashMap<u64, Stored>>>,
}

impl fmt::Debug for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Test")
            .field("connections", &self.lock().len())
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
        self.lock().insert(ctx.connection, stored);
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

    /// The items the last `collect` of this connection stored, once it has finished (`[]` if
    /// there was none).
    async fn collected(&self, ctx: &CallContext) -> Result<Vec<Value>, TestError> {
        let stored = self.lock().get(&ctx.connection).cloned();
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
    /// Drops what `collect` stored for `connection` (call it when the connection has ended).
    pub fn forget(&self, connection: u64) {
        self.lock().remove(&connection);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Stored>> {
        // The map is consistent after every statement; a panic elsewhere cannot break it.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The plugin's methods mounted under [`PREFIX`], with a fresh store: for serving the plugin from
/// a bare [`MethodTable`](secret_stack::rpc::MethodTable) without a stack.
pub fn methods() -> Vec<Method> {
    Arc::new(Test::default())
        .methods()
        .into_iter()
        .map(|mut m| {
            m.path.insert(0, PREFIX.to_owned());
            m
        })
        .collect()
}

/// The permissions of a connection to a bare method table serving [`methods`]: full for the
/// node's own key and masters, everything but `test.secret` for anyone else (as a deny list; a
/// stack app uses the allow list of its `anonymous` group instead).
pub fn permissions(is_self_or_master: bool) -> Permissions {
    if is_self_or_master {
        Permissions::full()
    } else {
        Permissions {
            allow: None,
            deny: Some(vec![format!("{PREFIX}.secret")]),
        }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures::channel::mpsc;
    use secret_stack::keys::PublicKey;
    use secret_stack::rpc::{Caller, LocalCaller, MethodTable};
    use serde_json::json;

    use super::*;

    fn caller(table: &Arc<MethodTable>, connection: u64) -> LocalCaller {
        let ctx = CallContext::new(PublicKey([1; 32]), Permissions::full(), connection);
        LocalCaller::new(Arc::clone(table), ctx)
    }

    fn table() -> Arc<MethodTable> {
        let mut table = MethodTable::new();
        for m in methods() {
            table.insert(m).unwrap_or_else(|e| panic!("{e:?}"));
        }
        Arc::new(table)
    }

    #[test]
    fn manifest_and_permissions_are_the_js_plugin_s() {
        use secret_stack::PluginDescription;
        let test = Arc::new(Test::default());
        assert_eq!(
            test.manifest().to_json(),
            json!({"hello": "async", "add": "sync", "fail": "async", "count": "source",
                "bytes": "source", "collect": "sink", "collected": "async", "echo": "duplex",
                "secret": "async"})
        );
        let anonymous = Permissions::allow([
            "hello",
            "add",
            "fail",
            "count",
            "bytes",
            "collect",
            "collected",
            "echo",
        ]);
        assert_eq!(
            test.permissions(),
            BTreeMap::from([("anonymous".to_owned(), anonymous)])
        );
        assert_eq!((test.name(), test.version()), ("test", "1.0.0"));
    }

    #[tokio::test]
    async fn collected_waits_for_a_collect_that_is_still_receiving() {
        let table = table();
        let caller = caller(&table, 7);
        let (tx, rx) = mpsc::unbounded();
        let sink = caller.sink(&["test", "collect"], vec![], rx.boxed());
        // Asked before the sink got anything, and polled first: it must wait for the sink's end
        // instead of answering what was there before (JS callers do exactly this).
        let collected = caller.call(&["test", "collected"], vec![]);
        for item in [
            Body::from_json(json!(1)),
            Body::Binary(Bytes::from_static(b"\x00\xff")),
        ] {
            tx.unbounded_send(item)
                .unwrap_or_else(|e| panic!("send: {e}"));
        }
        drop(tx);
        let (got, end) = futures::join!(collected, sink);
        assert_eq!(end, Ok(()));
        assert_eq!(got, Ok(Body::Json(json!([1, "binary:AP8="]))));
    }

    #[tokio::test]
    async fn the_store_is_per_connection() {
        let table = table();
        let (a, b) = (caller(&table, 1), caller(&table, 2));
        let items = stream::iter([Body::from("x")]).boxed();
        assert_eq!(a.sink(&["test", "collect"], vec![], items).await, Ok(()));
        assert_eq!(
            a.call(&["test", "collected"], vec![]).await,
            Ok(Body::Json(json!(["x"])))
        );
        assert_eq!(
            b.call(&["test", "collected"], vec![]).await,
            Ok(Body::Json(json!([])))
        );
    }

    #[tokio::test]
    async fn forget_drops_a_connection_s_items() {
        let test = Test::default();
        let plugin = Arc::new(test.clone());
        let mut table = MethodTable::new();
        for mut m in plugin.methods() {
            m.path.insert(0, PREFIX.to_owned());
            table.insert(m).unwrap_or_else(|e| panic!("{e:?}"));
        }
        let table = Arc::new(table);
        let a = caller(&table, 3);
        let items = stream::iter([Body::from_json(json!(5))]).boxed();
        assert_eq!(a.sink(&["test", "collect"], vec![], items).await, Ok(()));
        test.forget(3);
        assert_eq!(
            a.call(&["test", "collected"], vec![]).await,
            Ok(Body::Json(json!([])))
        );
    }

    #[tokio::test]
    async fn bad_chunk_sizes_are_typed_errors() {
        let table = table();
        let items: Vec<_> = caller(&table, 1)
            .source(&["test", "bytes"], vec![json!(10), json!(0)])
            .collect()
            .await;
        let [Err(secret_stack::rpc::RpcError::Remote(e))] = items.as_slice() else {
            panic!("expected one error, got {items:?}");
        };
        assert_eq!(
            e.message,
            "test.bytes: chunkSize must be an integer in 1..=4194304, got 0"
        );
        assert_eq!(e.data.as_deref(), Some(&json!({"BadChunkSize": 0})));
    }
}
