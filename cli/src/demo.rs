//! The demo plugin `secret-stack serve` runs: `test`, the interop suite's plugin (the one JS
//! `tests/interop/peer.js` serves), written here with `#[plugin]` so that the command line can be
//! tried against itself and against a JS node with the same calls.
//!
//! | method | kind | behaviour |
//! |---|---|---|
//! | `hello(name)` | async | `"hello " + name` |
//! | `add(a, b)` | sync | `a + b` |
//! | `fail()` | async | error `test.fail: intentional failure` |
//! | `count(n)` | source | `0 .. n-1` |
//! | `bytes(total, chunkSize = 65536)` | source | binary chunks; byte at stream offset `j` is `j % 256` |
//! | `collect()` | sink | stores what it receives, per caller |
//! | `collected()` | async | what the caller's last `collect` stored, binary as `"binary:" + base64` |
//! | `echo()` | duplex | sends back every item as received |
//! | `secret()` | async | `"the secret is 42"`, for the node itself and masters only |
//!
//! One difference with JS: what `collect` stored is kept per caller *id*, not per connection, so
//! that two `secret-stack call` runs with the same `--keys` (two connections) see each other's
//! `collect`. `collected` answers once that caller's last `collect` has finished.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::{StreamExt, stream};
use secret_stack::keys::PublicKey;
use secret_stack::plugin;
use secret_stack::rpc::{Body, CallContext, RemoteError, Sink, Source};
use serde_json::{Number, Value};
use tokio::sync::watch;

/// The default chunk size of `test.bytes`.
const DEFAULT_CHUNK: u64 = 65536;

/// The largest chunk `test.bytes` sends (one chunk is one packet).
const MAX_CHUNK: u64 = 4 * 1024 * 1024;

/// What a caller's last `collect` stored: `None` while it is still running.
type Collected = watch::Receiver<Option<Vec<Value>>>;

/// The `test` plugin; one instance serves every connection of the node.
#[derive(Default)]
pub struct TestPlugin {
    /// Per caller id, the outcome of its last `collect`.
    collected: Mutex<HashMap<PublicKey, Collected>>,
}

fn error(method: &str, message: impl std::fmt::Display) -> RemoteError {
    RemoteError::new(format!("test.{method}: {message}"))
}

#[plugin(name = "test", permission = "anonymous")]
impl TestPlugin {
    /// `"hello " + name`.
    async fn hello(&self, name: String) -> String {
        format!("hello {name}")
    }

    /// `a + b`: integers while they fit, else floating point (as JS numbers).
    fn add(&self, a: Number, b: Number) -> Value {
        let exact = match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a.checked_add(b).map(Value::from),
            _ => None,
        };
        exact.unwrap_or_else(|| {
            Value::from(a.as_f64().unwrap_or(f64::NAN) + b.as_f64().unwrap_or(f64::NAN))
        })
    }

    /// Always fails with `test.fail: intentional failure`.
    async fn fail(&self) -> Result<(), RemoteError> {
        Err(error("fail", "intentional failure"))
    }

    /// `0, 1, …, n-1`.
    fn count(&self, n: u64) -> Source<u64> {
        Source::iter(0..n)
    }

    /// `total` bytes in binary chunks of `chunk_size`; the byte at stream offset `j` is `j % 256`.
    fn bytes(&self, total: u64, chunk_size: Option<u64>) -> Source<Body> {
        let chunk = chunk_size.unwrap_or(DEFAULT_CHUNK);
        if !(1..=MAX_CHUNK).contains(&chunk) {
            return Source::error(error("bytes", "chunkSize must be in 1..=4194304"));
        }
        Source::new(stream::unfold(0u64, move |offset| async move {
            if offset >= total {
                return None;
            }
            let len = chunk.min(total - offset);
            let data: Vec<u8> = (offset..offset + len).map(|j| (j % 256) as u8).collect();
            Some((Body::Binary(data.into()), offset + len))
        }))
    }

    /// Stores every item received, for `collected`.
    async fn collect(&self, ctx: &CallContext, mut items: Sink<Body>) -> Result<(), RemoteError> {
        let (done, stored) = watch::channel(None);
        self.store().insert(ctx.remote, stored);
        let mut got = Vec::new();
        let mut result = Ok(());
        while let Some(item) = items.next().await {
            match item {
                Ok(body) => got.push(collected_form(body)),
                Err(e) => {
                    result = Err(error("collect", e));
                    break;
                }
            }
        }
        // What arrived before an error is kept too.
        done.send_replace(Some(got));
        result
    }

    /// What the caller's last `collect` stored (once it has finished), `[]` if none.
    async fn collected(&self, ctx: &CallContext) -> Result<Vec<Value>, RemoteError> {
        let stored = self.store().get(&ctx.remote).cloned();
        let Some(mut stored) = stored else {
            return Ok(Vec::new());
        };
        match stored.wait_for(Option::is_some).await {
            Ok(items) => Ok(items.as_ref().cloned().unwrap_or_default()),
            Err(_) => Err(error("collected", "the last collect was abandoned")),
        }
    }

    /// Sends back every item as received.
    fn echo(&self, items: Sink<Body>) -> Source<Body> {
        Source::from(items)
    }

    /// A secret only the node itself and its masters may read.
    #[permission(master)]
    async fn secret(&self) -> String {
        "the secret is 42".to_owned()
    }
}

impl TestPlugin {
    fn store(&self) -> std::sync::MutexGuard<'_, HashMap<PublicKey, Collected>> {
        // The map is consistent after every statement: a panic elsewhere cannot break it.
        self.collected.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How `collected` returns an item: binary as `"binary:" + base64`, anything else as received.
fn collected_form(body: Body) -> Value {
    match body {
        Body::Binary(bytes) => Value::String(format!("binary:{}", STANDARD.encode(&bytes))),
        other => other.into_json(),
    }
}
