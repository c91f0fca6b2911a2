//! The interop `test` plugin: a fixed set of methods under `test.*` that every implementation of the
//! stack serves identically, so each one can be checked against the others (see [`crate::checks`]).
//!
//! | method | kind | behaviour |
//! |---|---|---|
//! | `hello(name)` | async | `"hello " + name` |
//! | `add(a, b)` | sync | `a + b` |
//! | `fail()` | async | error `test.fail: intentional failure` |
//! | `count(n)` | source | `0 .. n-1` |
//! | `bytes(total, chunkSize = 65536)` | source | binary chunks; byte at stream offset `j` is `j % 256` |
//! | `collect()` | sink | stores what it receives |
//! | `collected()` | async | what the last `collect` stored, binary items as `"binary:" + base64` |
//! | `echo()` | duplex | sends back every item as received |
//! | `secret()` | async | `"the secret is 42"`, masters only |
//!
//! The `collect` store belongs to one [`methods`] call: build the methods once per connection for
//! per-connection storage (if one table serves many connections, the store is kept per caller id).
//!
//! `collected` answers once the last `collect` has finished: a JS caller's sink callback fires as
//! soon as it has *sent* its end, so it asks `collected` right away, and here the sink runs in its
//! own task that may not have drained its input yet (JS, single-threaded, stores items as they
//! arrive and cannot see the difference).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::{FutureExt, StreamExt, stream};
use secret_stack::keys::PublicKey;
use secret_stack::rpc::{
    Body, CallContext, CallKind, Incoming, Method, Permissions, RemoteError, Reply,
};
use serde_json::Value;
use tokio::sync::watch;

/// The mount name of the plugin.
pub const PREFIX: &str = "test";

/// The default chunk size of `test.bytes`.
pub const DEFAULT_CHUNK: u64 = 65536;

/// The largest chunk `test.bytes` agrees to send (a chunk is one packet).
pub const MAX_CHUNK: u64 = 4 * 1024 * 1024;

/// The method names, relative to [`PREFIX`], with their kinds.
pub const METHODS: [(&str, CallKind); 9] = [
    ("hello", CallKind::Async),
    ("add", CallKind::Sync),
    ("fail", CallKind::Async),
    ("count", CallKind::Source),
    ("bytes", CallKind::Source),
    ("collect", CallKind::Sink),
    ("collected", CallKind::Async),
    ("echo", CallKind::Duplex),
    ("secret", CallKind::Async),
];

/// What anonymous peers may call, as entries of secret-stack's `permissions.anonymous.allow`:
/// everything but `test.secret`.
pub fn anonymous_allow() -> Vec<String> {
    METHODS
        .iter()
        .filter(|(name, _)| *name != "secret")
        .map(|(name, _)| format!("{PREFIX}.{name}"))
        .collect()
}

/// The permissions of a connection to the plugin: full for the node's own key and masters,
/// everything but `test.secret` for anyone else.
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

/// Per caller: what its last `collect` stored, `None` while that collect is still running.
type Store = Arc<Mutex<HashMap<PublicKey, watch::Receiver<Option<Vec<Value>>>>>>;

fn error(method: &str, message: &str) -> RemoteError {
    RemoteError::new(format!("{PREFIX}.{method}: {message}"))
}

fn value(result: Result<Body, RemoteError>) -> Reply {
    Reply::Value(futures::future::ready(result).boxed())
}

fn failed_stream(e: RemoteError) -> Reply {
    Reply::Stream(stream::once(async move { Err(e) }).boxed())
}

fn method(
    name: &str,
    kind: CallKind,
    f: impl Fn(CallContext, Vec<Value>, Option<Incoming>) -> Reply + Send + Sync + 'static,
) -> Method {
    Method {
        path: vec![PREFIX.to_owned(), name.to_owned()],
        kind,
        handler: Arc::new(f),
    }
}

/// A non-negative integer argument.
fn count_arg(args: &[Value], i: usize) -> Option<u64> {
    args.get(i).and_then(Value::as_u64)
}

/// The plugin's methods, with a fresh `collect` store.
pub fn methods() -> Vec<Method> {
    let store: Store = Arc::default();
    let collect_store = Arc::clone(&store);
    vec![
        method("hello", CallKind::Async, |_, args, _| {
            value(match args.first() {
                Some(Value::String(name)) => Ok(Body::Text(format!("hello {name}"))),
                _ => Err(error("hello", "name must be a string")),
            })
        }),
        method("add", CallKind::Sync, |_, args, _| {
            value(match (args.first(), args.get(1)) {
                (Some(Value::Number(a)), Some(Value::Number(b))) => {
                    let sum = match (a.as_i64(), b.as_i64()) {
                        (Some(a), Some(b)) => a.checked_add(b).map(Value::from),
                        _ => None,
                    };
                    let sum = sum.unwrap_or_else(|| {
                        Value::from(a.as_f64().unwrap_or(f64::NAN) + b.as_f64().unwrap_or(f64::NAN))
                    });
                    Ok(Body::Json(sum))
                }
                _ => Err(error("add", "a and b must be numbers")),
            })
        }),
        method("fail", CallKind::Async, |_, _, _| {
            value(Err(error("fail", "intentional failure")))
        }),
        method("count", CallKind::Source, |_, args, _| {
            match count_arg(&args, 0) {
                Some(n) => {
                    Reply::Stream(stream::iter((0..n).map(|i| Ok(Body::Json(i.into())))).boxed())
                }
                None => failed_stream(error("count", "n must be a non-negative integer")),
            }
        }),
        method("bytes", CallKind::Source, |_, args, _| {
            let chunk = match args.get(1) {
                None | Some(Value::Null) => Some(DEFAULT_CHUNK),
                Some(_) => count_arg(&args, 1),
            };
            match (count_arg(&args, 0), chunk) {
                (Some(total), Some(chunk)) if (1..=MAX_CHUNK).contains(&chunk) => {
                    Reply::Stream(bytes_source(total, chunk).map(Ok).boxed())
                }
                _ => failed_stream(error(
                    "bytes",
                    "total must be a non-negative integer and chunkSize an integer in 1..=4194304",
                )),
            }
        }),
        method("collect", CallKind::Sink, move |ctx, _, input| {
            let (done, stored) = watch::channel(None);
            collect_store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(ctx.remote, stored);
            let Some(mut input) = input else {
                return Reply::Done(async { Err(error("collect", "no input")) }.boxed());
            };
            Reply::Done(
                async move {
                    let mut got = Vec::new();
                    let mut result = Ok(());
                    while let Some(item) = input.next().await {
                        match item {
                            Ok(body) => got.push(collected_form(body)),
                            Err(e) => {
                                result = Err(error("collect", &e.to_string()));
                                break;
                            }
                        }
                    }
                    // What arrived before an error is kept too.
                    done.send_replace(Some(got));
                    result
                }
                .boxed(),
            )
        }),
        method("collected", CallKind::Async, move |ctx, _, _| {
            let stored = store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&ctx.remote)
                .cloned();
            Reply::Value(
                async move {
                    let Some(mut stored) = stored else {
                        return Ok(Body::Json(Value::Array(Vec::new())));
                    };
                    match stored.wait_for(Option::is_some).await {
                        Ok(items) => Ok(Body::Json(Value::Array(
                            items.as_ref().cloned().unwrap_or_default(),
                        ))),
                        Err(_) => Err(error("collected", "the last collect was abandoned")),
                    }
                }
                .boxed(),
            )
        }),
        method("echo", CallKind::Duplex, |_, _, input| match input {
            Some(input) => Reply::Stream(
                input
                    .map(|item| item.map_err(|e| error("echo", &e.to_string())))
                    .boxed(),
            ),
            None => failed_stream(error("echo", "no input")),
        }),
        method("secret", CallKind::Async, |_, _, _| {
            value(Ok(Body::from("the secret is 42")))
        }),
    ]
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
pub fn bytes_source(total: u64, chunk: u64) -> impl futures::Stream<Item = Body> + Send {
    stream::unfold(0u64, move |offset| async move {
        if offset >= total {
            return None;
        }
        let len = chunk.min(total - offset);
        let data: Vec<u8> = (offset..offset + len).map(|j| (j % 256) as u8).collect();
        Some((Body::Binary(Bytes::from(data)), offset + len))
    })
}
