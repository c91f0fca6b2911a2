//! The callee of the muxrpc vectors (`muxrpc-exchanges.json`, `callee_manifest`) written with the
//! `#[plugin]` macro, plus one method with arguments of many types, so the engine and dispatch
//! targets run the macro's argument decoding on whatever a peer sends.
//!
//! Every method is bounded: streams end after at most 64 items, so an execution stays short
//! whatever numbers the fuzzer asks for.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt as _;
use secret_stack::keys::PublicKey;
use secret_stack::plugin;
use secret_stack::rpc::{Body, CallContext, MethodTable, Permissions, Sink, Source};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The most items a source of this plugin sends.
pub const MAX_ITEMS: u32 = 64;

/// A structured argument.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// Abscissa.
    pub x: i32,
    /// Ordinate.
    pub y: i32,
    /// An optional label.
    #[serde(default)]
    pub label: Option<String>,
}

/// The vectors' callee.
#[derive(Default)]
pub struct Callee {
    collected: Mutex<Vec<Value>>,
}

#[plugin(name = "callee", version = "1.0.0", permission = "anonymous")]
impl Callee {
    /// The manifest, as JS `manifest` answers.
    #[rpc(name = "manifest")]
    fn manifest_json(&self) -> Value {
        json!({"manifest": "sync", "hello": "async", "empty": "async", "add": "sync",
            "fail": "async", "throwsSync": "sync", "secret": "async", "nested": {"deep": "async"},
            "count": "source", "failingSource": "source", "ticks": "source", "collect": "sink",
            "echo": "duplex"})
    }

    /// Greets `name`.
    async fn hello(&self, name: String) -> String {
        format!("hello, {name}")
    }

    /// The empty string (written as JSON `""`, never as an empty body).
    async fn empty(&self) -> String {
        String::new()
    }

    /// Adds, refusing to overflow.
    fn add(&self, a: i64, b: i64) -> Result<i64, String> {
        a.checked_add(b).ok_or_else(|| "add: overflow".to_owned())
    }

    /// Always fails.
    async fn fail(&self) -> Result<(), String> {
        Err("intentional failure".to_owned())
    }

    /// Always fails, synchronously.
    #[rpc(name = "throwsSync")]
    fn throws_sync(&self) -> Result<(), String> {
        Err("sync failure".to_owned())
    }

    /// Only for full access.
    #[permission(master)]
    async fn secret(&self) -> String {
        "the secret".to_owned()
    }

    /// A method below a namespace.
    #[rpc(name = "nested.deep")]
    async fn deep(&self) -> String {
        "deep".to_owned()
    }

    /// 0, 1, …, min(n, 64) - 1.
    fn count(&self, n: u32) -> Source<u32> {
        Source::iter(0..n.min(MAX_ITEMS))
    }

    /// One value, then an error.
    #[rpc(name = "failingSource")]
    fn failing_source(&self) -> Source<u32> {
        Source::try_new(futures::stream::iter([
            Ok(1),
            Err("source failure".to_owned()),
        ]))
    }

    /// A few values, yielding to the runtime between them.
    fn ticks(&self, n: Option<u8>) -> Source<u32> {
        let n = u32::from(n.unwrap_or(3)).min(MAX_ITEMS);
        Source::new(futures::stream::iter(0..n).then(|i| async move {
            tokio::task::yield_now().await;
            i
        }))
    }

    /// Stores what the caller sends.
    async fn collect(&self, mut items: Sink<Value>) -> Result<(), String> {
        let mut got = Vec::new();
        while let Some(item) = items.next().await {
            got.push(item.map_err(|e| e.to_string())?);
        }
        let mut stored = self.collected.lock().unwrap_or_else(|p| p.into_inner());
        stored.clear();
        stored.extend(got);
        Ok(())
    }

    /// Echoes every item.
    fn echo(&self, input: Sink<Body>) -> Source<Body> {
        Source::from(input)
    }

    /// Arguments of many types, echoed back as JSON.
    #[allow(clippy::too_many_arguments)]
    fn typed(
        &self,
        a: u8,
        b: Option<String>,
        c: Vec<i32>,
        d: Point,
        e: bool,
        f: f64,
        g: Option<Vec<Option<u64>>>,
        h: Bytes,
    ) -> Value {
        json!([a, b, c, d, e, f, g, h.len()])
    }
}

/// The vectors' permissions for most scenarios: everything but `secret`.
pub fn default_permissions() -> Permissions {
    Permissions {
        allow: None,
        deny: Some(vec!["secret".to_owned()]),
    }
}

/// The permissions a mode byte selects: the default, full, or the vectors' allow-lists.
pub fn permissions(choice: u8) -> Permissions {
    match choice % 4 {
        0 => default_permissions(),
        1 => Permissions::full(),
        2 => Permissions::allow(["manifest", "hello"]),
        _ => Permissions::allow(["hello"]),
    }
}

/// The method table serving a [`Callee`] at the root (paths like `["hello"]`).
pub fn table() -> Arc<MethodTable> {
    let mut table = MethodTable::new();
    for method in secret_stack::plugin::Plugin::methods(Arc::new(Callee::default())) {
        if let Err(clash) = table.insert(method) {
            unreachable!("the callee's methods are distinct: {clash}");
        }
    }
    Arc::new(table)
}

/// The context of a peer with `permissions`.
pub fn context(permissions: Permissions) -> CallContext {
    CallContext::new(PublicKey([7; 32]), permissions, 1)
}
