//! What the stack tests (`stack.rs`, `stack_lifecycle.rs`) share: configs, plugins written by hand
//! against the `Plugin` trait (the unnamed plugin of the JS `live` run, and `demo-kit` with every
//! other call kind), and helpers for apps, events and JS error texts.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::{FutureExt, StreamExt, stream};
use secret_stack::keys::{Keypair, PublicKey};
use secret_stack::plugin::Plugin;
use secret_stack::rpc::{
    Body, CallContext, CallKind, Method, MethodInput, RemoteError, Reply, RpcError,
};
use secret_stack::stack::{App, Builder, Config, Event, SecretStack};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::vectors;

/// The app key of every test app (the one the JS generator used).
pub const APP_KEY: &str = "PZLl2y3wexwd7Tp7hwd0hfJoW2lbbebYp+lqb4LtZnw=";

/// Another app key, for apps that must not get in.
pub const OTHER_APP_KEY: &str = "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=";

/// Fails the test instead of hanging.
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

/// A 32-byte seed of `n`s, base64.
pub fn seed(n: u8) -> String {
    STANDARD.encode([n; 32])
}

/// The public key of the app seeded with `n`s.
pub fn key(n: u8) -> PublicKey {
    Keypair::from_seed(&[n; 32]).public()
}

/// A config listening on 127.0.0.1 with `net~shs` (unless `extra` has `connections`, which then
/// replace these), with `extra` laid over `global`.
pub fn config(n: u8, extra: Value) -> Config {
    let mut global = json!({"caps": {"shs": APP_KEY}, "seed": seed(n)});
    if extra.get("connections").is_none() {
        global["connections"] = json!({
            "incoming": {"net": [{"scope": "device", "transform": "shs", "host": "127.0.0.1"}]},
            "outgoing": {"net": [{"transform": "shs"}]}
        });
    }
    Config::with_defaults(json!({ "global": global }), json!({ "global": extra })).expect("config")
}

/// A plugin written by hand against the `Plugin` trait.
pub struct HandPlugin {
    /// The name (empty: unnamed).
    pub name: String,
    /// The plugins it needs.
    pub needs: Vec<&'static str>,
    /// Its methods, relative to the mount point; the manifest is made from them.
    pub methods: Vec<Method>,
    /// What anonymous peers may call.
    pub anonymous: Vec<&'static str>,
}

impl Plugin for HandPlugin {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> &str {
        "1.0.0"
    }
    fn needs(&self) -> &[&str] {
        &self.needs
    }
    fn methods(self: Arc<Self>) -> Vec<Method> {
        let mut methods = self.methods.clone();
        for method in &mut methods {
            if self.anonymous.contains(&method.path.join(".").as_str()) {
                method.groups.push("anonymous".into());
            }
        }
        methods
    }
}

/// A method handler.
pub type Handler = Arc<dyn Fn(CallContext, Vec<Value>, Option<MethodInput>) -> Reply + Send + Sync>;

/// A method at the dotted `path`.
pub fn method(path: &str, kind: CallKind, handler: Handler) -> Method {
    Method {
        path: path.split('.').map(str::to_owned).collect(),
        kind,
        groups: Vec::new(),
        handler,
    }
}

/// An answer with one JSON value.
pub fn value(v: Value) -> Reply {
    Reply::Value(futures::future::ready(Ok(Body::from_json(v))).boxed())
}

/// The unnamed plugin of the JS `live` run: `hello`, `adminOnly`, `count`.
pub fn live_plugin() -> HandPlugin {
    HandPlugin {
        name: String::new(),
        needs: vec![],
        anonymous: vec!["hello", "count"],
        methods: vec![
            method(
                "hello",
                CallKind::Async,
                Arc::new(|_, args, _| {
                    let name = args.first().and_then(Value::as_str).unwrap_or("");
                    value(json!(format!("hello {name}")))
                }),
            ),
            method(
                "adminOnly",
                CallKind::Sync,
                Arc::new(|_, _, _| value(json!("admin secret"))),
            ),
            method(
                "count",
                CallKind::Source,
                Arc::new(|_, args, _| {
                    let n = args.first().and_then(Value::as_u64).unwrap_or(0);
                    Reply::Stream(
                        stream::iter(1..=n)
                            .map(|i| Ok(Body::from_json(json!(i))))
                            .boxed(),
                    )
                }),
            ),
        ],
    }
}

/// `demo-kit` (mounted at `demoKit`): sink, duplex, caller context, a panic, a slow call, a
/// stream that never ends.
pub fn demo_plugin() -> HandPlugin {
    let store: Arc<Mutex<Vec<Value>>> = Arc::default();
    let collect_store = Arc::clone(&store);
    HandPlugin {
        name: "demo-kit".into(),
        needs: vec![],
        anonymous: vec![
            "collect",
            "collected",
            "echo",
            "whoami",
            "boom",
            "slow",
            "forever",
        ],
        methods: vec![
            method(
                "collect",
                CallKind::Sink,
                Arc::new(move |_, _, input| {
                    let store = Arc::clone(&collect_store);
                    let mut input = input.expect("a sink gets input");
                    Reply::Done(
                        async move {
                            while let Some(item) = input.next().await {
                                store.lock().unwrap().push(item?.into_json());
                            }
                            Ok(())
                        }
                        .boxed(),
                    )
                }),
            ),
            method(
                "collected",
                CallKind::Async,
                Arc::new(move |_, _, _| value(Value::Array(store.lock().unwrap().clone()))),
            ),
            method(
                "echo",
                CallKind::Duplex,
                Arc::new(|_, _, input| {
                    let input = input.expect("a duplex gets input");
                    Reply::Stream(input.map(|r| r.map_err(RemoteError::from)).boxed())
                }),
            ),
            method(
                "whoami",
                CallKind::Sync,
                Arc::new(|ctx, _, _| value(json!([ctx.remote.id(), ctx.connection]))),
            ),
            method(
                "boom",
                CallKind::Async,
                Arc::new(|_, _, _| panic!("plugin bug")),
            ),
            method(
                "slow",
                CallKind::Async,
                Arc::new(|_, args, _| {
                    let ms = args.first().and_then(Value::as_u64).unwrap_or(0);
                    Reply::Value(
                        async move {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            Ok(Body::from_json(json!("done")))
                        }
                        .boxed(),
                    )
                }),
            ),
            method(
                "forever",
                CallKind::Source,
                Arc::new(|_, _, _| Reply::Stream(stream::pending().boxed())),
            ),
        ],
    }
}

/// A builder with both test plugins and a 2 s close deadline.
pub fn builder() -> Builder {
    SecretStack::builder()
        .plugin(live_plugin())
        .plugin(demo_plugin())
        .close_deadline(Duration::from_secs(2))
}

/// Builds and starts an app, failing the test on error.
pub async fn start(builder: &Builder, config: Config) -> App {
    within(builder.start(config)).await.expect("app starts")
}

/// The message of the remote error a call failed with.
pub fn err_text(result: Result<impl std::fmt::Debug, RpcError>) -> String {
    match result {
        Err(RpcError::Remote(e)) => e.message,
        other => panic!("expected a remote error, got {other:?}"),
    }
}

/// The `live` facts of the JS run.
pub fn live() -> Value {
    vectors::load("secret-stack-behaviour.json")["live"].clone()
}

/// Closes `client` then `server`, checking both end with no peers.
pub async fn close_both(client: &App, server: &App) {
    within(client.close()).await;
    assert!(client.peers().is_empty());
    within(async {
        while !server.peers().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    within(server.close()).await;
}

/// The `Display` of `err` and of each of its sources, outermost first.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(err), |e| e.source())
        .map(ToString::to_string)
        .collect()
}

/// A failed connection's chain has JS's handshake text at one level, alone or followed by
/// `: <detail>` of what happened on our side.
pub fn assert_js_error(err: &(dyn std::error::Error + 'static), js: &Value) {
    let js = js.as_str().expect("a JS error text");
    let chain = error_chain(err);
    assert!(
        chain
            .iter()
            .any(|text| text == js || text.starts_with(&format!("{js}: "))),
        "{chain:?} does not carry {js:?}"
    );
}

/// The next event, within the deadline.
pub async fn next_event(events: &mut broadcast::Receiver<Event>) -> Event {
    within(events.recv()).await.expect("an event")
}

/// A named plugin with trivial sync methods.
pub fn named(name: &str, needs: Vec<&'static str>, methods: &[&str]) -> HandPlugin {
    HandPlugin {
        name: name.into(),
        needs,
        methods: methods
            .iter()
            .map(|m| method(m, CallKind::Sync, Arc::new(|_, _, _| value(json!(1)))))
            .collect(),
        anonymous: vec![],
    }
}
