//! Plugins: a named group of RPC methods with their manifest and permissions, usually written
//! with the [`plugin`](macro@crate::plugin) attribute (see its documentation for every rule).
//!
//! A [`Plugin`] describes itself with paths *relative to its mount point*; the stack mounts it
//! under the camelCase of its name (`"friends-graph"` → `friendsGraph`), prefixes its method
//! paths and permission entries with that mount name, and merges the permissions the way JS
//! secret-stack does.
//!
//! # One example per kind
//!
//! Each example serves the plugin from a [`MethodTable`](crate::rpc::MethodTable) and calls it
//! through the generated client over a [`LocalCaller`](crate::rpc::LocalCaller); a connection
//! works the same.
//!
//! ```
//! # use std::sync::Arc;
//! # use secret_stack::keys::PublicKey;
//! # use secret_stack::rpc::{CallContext, LocalCaller, MethodTable, Permissions};
//! # use secret_stack::plugin::{Plugin, PluginDescription};
//! # fn serve(plugin: Arc<dyn Plugin>, mount: &str, permissions: Permissions) -> LocalCaller {
//! #     let mut table = MethodTable::new();
//! #     for mut m in plugin.methods() {
//! #         m.path.insert(0, mount.to_owned());
//! #         table.insert(m).unwrap();
//! #     }
//! #     let ctx = CallContext::new(PublicKey([1; 32]), permissions, 1);
//! #     LocalCaller::new(Arc::new(table), ctx)
//! # }
//! use secret_stack::plugin;
//! use secret_stack::rpc::CallError;
//!
//! #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! pub enum GreetError { Empty }
//!
//! impl std::fmt::Display for GreetError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("greet.hello: empty name")
//!     }
//! }
//!
//! pub struct Greet;
//!
//! #[plugin(name = "greet", permission = "anonymous")]
//! impl Greet {
//!     /// async: an `async fn`.
//!     async fn hello(&self, name: String) -> Result<String, GreetError> {
//!         if name.is_empty() { Err(GreetError::Empty) } else { Ok(format!("hello {name}")) }
//!     }
//!
//!     /// sync: a plain `fn`; trailing `Option`s may be left out by the caller.
//!     fn add(&self, a: i64, b: Option<i64>) -> i64 {
//!         a + b.unwrap_or(0)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let client = GreetClient::new(serve(Arc::new(Greet), "greet", Permissions::full()));
//! assert_eq!(client.hello("you".into()).await.unwrap(), "hello you");
//! assert_eq!(client.hello(String::new()).await, Err(CallError::Method(GreetError::Empty)));
//! assert_eq!(client.add(2, None).await.unwrap(), 2);
//! assert_eq!(Arc::new(Greet).manifest().to_json(), serde_json::json!({"hello": "async", "add": "sync"}));
//! # }
//! ```
//!
//! A source returns a [`Source`](crate::rpc::Source); a sink takes a [`Sink`](crate::rpc::Sink)
//! (and may take the caller's [`CallContext`](crate::rpc::CallContext)); a duplex does both.
//!
//! ```
//! # use std::sync::Arc;
//! # use secret_stack::keys::PublicKey;
//! # use secret_stack::rpc::{LocalCaller, MethodTable, Permissions};
//! # use secret_stack::plugin::{Plugin, PluginDescription};
//! # fn serve(plugin: Arc<dyn Plugin>, mount: &str, permissions: Permissions) -> LocalCaller {
//! #     let mut table = MethodTable::new();
//! #     for mut m in plugin.methods() {
//! #         m.path.insert(0, mount.to_owned());
//! #         table.insert(m).unwrap();
//! #     }
//! #     let ctx = CallContext::new(PublicKey([1; 32]), permissions, 1);
//! #     LocalCaller::new(Arc::new(table), ctx)
//! # }
//! use std::sync::Mutex;
//!
//! use bytes::Bytes;
//! use futures::{StreamExt, stream};
//! use secret_stack::plugin;
//! use secret_stack::rpc::{Body, CallContext, Sink, Source};
//!
//! #[derive(Default)]
//! pub struct Streams {
//!     total: Mutex<u64>,
//! }
//!
//! #[plugin(name = "streams", permission = "anonymous")]
//! impl Streams {
//!     /// source: returns a `Source<T>`; `Bytes` items travel as binary bodies.
//!     fn chunks(&self, count: u8) -> Source<Bytes> {
//!         Source::iter((0..count).map(|i| Bytes::from(vec![i; 3])).collect::<Vec<_>>())
//!     }
//!
//!     /// sink: takes a `Sink<T>`; resolves when the caller's items are consumed.
//!     async fn add_all(&self, ctx: &CallContext, mut items: Sink<u64>) -> Result<(), String> {
//!         let _caller = ctx.remote;
//!         while let Some(item) = items.next().await {
//!             *self.total.lock().unwrap() += item.map_err(|e| e.to_string())?;
//!         }
//!         Ok(())
//!     }
//!
//!     /// duplex: takes a `Sink<T>` and returns a `Source<U>`.
//!     fn echo(&self, input: Sink<Body>) -> Source<Body> {
//!         Source::from(input)
//!     }
//!
//!     /// A source under another name, as JS plugins often have.
//!     #[rpc(name = "createCountStream")]
//!     fn create_count_stream(&self, n: u32) -> Source<u32> {
//!         Source::iter(0..n)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let plugin = Arc::new(Streams::default());
//! let client = StreamsClient::new(serve(plugin.clone(), "streams", Permissions::full()));
//! let chunks: Vec<Bytes> = client.chunks(2).map(Result::unwrap).collect().await;
//! assert_eq!(chunks, vec![Bytes::from_static(&[0, 0, 0]), Bytes::from_static(&[1, 1, 1])]);
//!
//! client.add_all(stream::iter([1, 2, 3])).await.unwrap();
//! assert_eq!(*plugin.total.lock().unwrap(), 6);
//!
//! let sent = vec![Body::Text("a".into()), Body::Binary(Bytes::from_static(b"b"))];
//! let echoed: Vec<Body> = client.echo(stream::iter(sent.clone())).map(Result::unwrap).collect().await;
//! assert_eq!(echoed, sent);
//!
//! assert_eq!(client.create_count_stream(3).count().await, 3);
//! assert_eq!(
//!     plugin.manifest().to_json(),
//!     serde_json::json!({"chunks": "source", "addAll": "sink", "echo": "duplex", "createCountStream": "source"})
//! );
//! # }
//! ```
//!
//! # Permissions
//!
//! ```
//! use std::sync::Arc;
//! use secret_stack::plugin;
//! use secret_stack::plugin::PluginDescription;
//! use secret_stack::rpc::Permissions;
//!
//! pub struct Graph;
//!
//! #[plugin(name = "friends-graph")] // methods default to master-only
//! impl Graph {
//!     #[permission(anonymous)]
//!     fn public_info(&self) -> String { "graph".into() }
//!
//!     #[permission(anonymous, group = "friends")]
//!     #[rpc(namespace = "stats")]
//!     fn size(&self) -> u32 { 3 }
//!
//!     fn admin(&self) -> bool { true }
//! }
//!
//! let groups = Arc::new(Graph).permissions();
//! assert_eq!(groups["anonymous"], Permissions::allow(["publicInfo", "stats.size"]));
//! assert_eq!(groups["friends"], Permissions::allow(["stats.size"]));
//! assert_eq!(GraphClient::<()>::MOUNT, "friendsGraph");
//! ```
//!
//! # Plugins that build on each other: hooks and typed needs
//!
//! Every method can be *hooked* (JS `api.<plugin>.<method>.hook(…)`): a hook wraps the method for
//! local and remote calls alike, the newest hook outermost, and can observe, refuse, rewrite the
//! arguments, replace the answer or wrap the streams. `#[plugin]` names each method for typed
//! hooks as an associated constant of the plugin type (`Log::GET` for `fn get`, see
//! [`HookTarget`]); [`App::hook`](crate::stack::App::hook) has an example, and
//! [`App::hook_path`](crate::stack::App::hook_path) hooks a plugin known only by name.
//!
//! A plugin that lists another's type in `needs(...)` is made after it and gets its typed
//! handle (`<Type>Handle`) from [`PluginInit::need`](crate::stack::PluginInit::need): Rust calls
//! while the method has no hook, calls through its hooks while it has.
//!
//! ```
//! use futures::FutureExt;
//! use secret_stack::plugin;
//! use secret_stack::rpc::RemoteError;
//! use secret_stack::stack::{PluginInit, SecretStack};
//!
//! pub struct Log;
//! #[plugin(name = "log")]
//! impl Log {
//!     async fn get(&self, seq: u64) -> String { format!("entry {seq}") }
//! }
//!
//! /// Hides entry 0 from everyone, and reads the log itself.
//! pub struct Guard { log: LogHandle }
//! #[plugin(name = "guard", needs(Log))]
//! impl Guard {
//!     async fn latest(&self) -> String { self.log.get(9).await.unwrap_or_default() }
//! }
//!
//! fn guard(init: &PluginInit<'_>) -> Result<Guard, Box<dyn std::error::Error + Send + Sync>> {
//!     init.hook(Log::GET, |ctx, (seq,), next| {
//!         if seq == 0 {
//!             return futures::future::ready(Err(RemoteError::new("entry 0 is hidden"))).boxed();
//!         }
//!         next.call(ctx, (seq,))
//!     })?
//!     .keep();
//!     Ok(Guard { log: init.need::<Log>()? })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let config = secret_stack::stack::Config::from_json(serde_json::json!({"global": {"caps": {"shs": "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s="}}}))?;
//! let app = SecretStack::builder().plugin(Log).plugin_init(guard).build(config)?;
//! assert!(LogClient::new(app.local()).get(0).await.is_err());
//! assert_eq!(GuardClient::new(app.local()).latest().await?, "entry 9");
//! # app.close().await;
//! # Ok(()) }
//! ```
//!
//! # Calling a plugin that exists only on the other side
//!
//! ```
//! use secret_stack::remote;
//! use secret_stack::rpc::Source;
//!
//! /// The API of a plugin of JS peers.
//! #[remote(name = "blobs")]
//! pub trait Blobs {
//!     async fn has(&self, id: String) -> bool;
//!     fn ls(&self) -> Source<String>;
//! }
//!
//! assert_eq!(
//!     BlobsClient::<()>::manifest().to_json(),
//!     serde_json::json!({"has": "async", "ls": "source"})
//! );
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::rpc::dispatch::Method;
use crate::rpc::manifest::Manifest;
use crate::rpc::permissions::Permissions;

pub use crate::hook_list::HookRegistration;
pub use crate::rpc::HookTarget;
pub use need::{NeedLink, PluginType};

mod need;

/// A set of RPC methods served under one mount name.
///
/// `#[plugin]` implements it for an `impl` block; a hand-written implementation works the same.
pub trait Plugin: Send + Sync + 'static {
    /// The plugin's name as JS knows it (e.g. `"test"`, `"friends-graph"`).
    fn name(&self) -> &str;

    /// The plugin's version (informational, as in JS).
    fn version(&self) -> &str;

    /// The names of the plugins this one needs.
    fn needs(&self) -> &[&str] {
        &[]
    }

    /// The methods, with paths relative to the mount point, each with its kind and permission
    /// groups: the one description of the plugin, from which its manifest and permission table
    /// are derived ([`PluginDescription`]).
    fn methods(self: Arc<Self>) -> Vec<Method>;
}

/// What a plugin's [`methods`](Plugin::methods) describe: its manifest and its permission table.
pub trait PluginDescription {
    /// The manifest of the methods, relative to the mount point, in their order
    /// (`{"hello": "async", …}`). A method whose path clashes with an earlier one is left out
    /// (mounting the plugin refuses it).
    fn manifest(&self) -> Manifest;

    /// Permission groups → the allow-list of the methods in them, as relative dotted paths in
    /// the methods' order. Full access ("master") is not a group: it comes from `auth`, so
    /// master-only methods are in no group.
    fn permissions(&self) -> BTreeMap<String, Permissions>;
}

impl<P: Plugin + ?Sized> PluginDescription for Arc<P> {
    fn manifest(&self) -> Manifest {
        manifest_of(&Arc::clone(self).methods())
    }

    fn permissions(&self) -> BTreeMap<String, Permissions> {
        permissions_of(&Arc::clone(self).methods())
    }
}

/// The manifest `methods` describe (clashing paths after the first left out).
pub(crate) fn manifest_of(methods: &[Method]) -> Manifest {
    let mut manifest = Manifest::new();
    for method in methods {
        manifest.insert(&method.path, method.kind);
    }
    manifest
}

/// The permission table `methods` describe.
pub(crate) fn permissions_of(methods: &[Method]) -> BTreeMap<String, Permissions> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for method in methods {
        for group in &method.groups {
            groups
                .entry(group.clone())
                .or_default()
                .push(method.path.join("."));
        }
    }
    groups
        .into_iter()
        .map(|(group, allow)| (group, Permissions::allow(allow)))
        .collect()
}
