//! Procedural macros of `secret-stack`: `#[plugin]` and `#[remote]`. Use them through the
//! `secret_stack` crate, which re-exports them; its `plugin` module has the full guide with
//! runnable examples.

mod ast;
mod attr;
mod expand;
mod fallback;
mod model;
mod names;
mod types;
mod valid;

use proc_macro::TokenStream;

/// Turns an `impl` block into a secret-stack plugin: its manifest, permissions, method table
/// and a typed client, from ordinary Rust methods.
///
/// ```ignore
/// use secret_stack::plugin;
/// use secret_stack::rpc::{Body, CallContext, Sink, Source};
///
/// #[plugin(name = "test", version = "1.0.0", permission = "anonymous")]
/// impl Test {
///     async fn hello(&self, name: String) -> Result<String, TestError> { Ok(format!("hello {name}")) } // async
///     fn add(&self, a: i64, b: i64) -> i64 { a + b }                                                 // sync
///     fn count(&self, n: u32) -> Source<u32> { Source::iter(0..n) }                                   // source
///     async fn collect(&self, ctx: &CallContext, items: Sink<serde_json::Value>) -> Result<(), TestError> { todo!() } // sink
///     fn echo(&self, input: Sink<Body>) -> Source<Body> { Source::from(input) }                     // duplex
///     #[permission(master)]
///     async fn secret(&self) -> String { "the secret is 42".into() }
///     #[rpc(name = "createHistoryStream")]
///     fn history(&self, opts: HistoryOpts) -> Source<Msg> { todo!() }
/// }
/// ```
///
/// Runnable examples of every kind are in the `secret_stack::plugin` module documentation.
///
/// # Which methods are exposed
///
/// Every method of the block that takes `&self` (or `self: Arc<Self>`) is an RPC method, unless
/// marked `#[rpc(skip)]`. Associated functions without `self` (constructors) are never exposed,
/// and neither are constants, types or macros of the block. Keep private helpers in a separate
/// `impl` block, or mark them `#[rpc(skip)]`. Methods taking `&mut self` or `self` by value are
/// refused: calls run concurrently on one shared plugin.
///
/// # Kinds
///
/// | signature | kind |
/// | --- | --- |
/// | `async fn m(&self, …) -> T` | `async` |
/// | `fn m(&self, …) -> T` | `sync` (runs on the connection's task: keep it short) |
/// | returns `Source<T>` or `Result<Source<T>, E>` (sync or `async fn`) | `source` |
/// | takes one `Sink<T>`, returns `()` or `Result<(), E>` | `sink` |
/// | takes a `Sink<T>` and returns a `Source<U>` | `duplex` |
///
/// An `async fn` sink or async method runs as its own task, but a sink is polled once as its
/// request is dispatched, so its body up to the first `.await` runs before any later request of
/// the connection (as JS runs handlers on arrival): register per-call state there.
///
/// `#[rpc(kind = "...")]` overrides the inference: `async` ↔ `sync` freely (what the manifest
/// announces; the body still runs as written), and `source`/`sink`/`duplex` on a method whose
/// `Source`/`Sink` is hidden behind a type alias (the return type is then the source, the last
/// argument the sink). An override that contradicts the signature is an error.
///
/// # Wire names
///
/// Method names are camelCased (`create_history_stream` → `createHistoryStream`, `r#type` →
/// `type`). `#[rpc(name = "exact")]` sets the name; a dotted name (`"sub.method"`) or
/// `#[rpc(namespace = "sub")]` nests it in the manifest. Duplicate names, and a name used both as
/// a method and as a namespace, are compile errors. The plugin is mounted under the camelCase of
/// its name (`"friends-graph"` → `friendsGraph`), as JS does.
///
/// # Arguments
///
/// Arguments travel as the positional JSON `args` array. Each parameter is decoded with serde;
/// `Option<T>` parameters may be missing or `null`. A missing, extra or mistyped argument is
/// answered with an error naming the method and the argument, e.g.
/// `test.add: argument 2 (b): invalid type: string "x", expected i64`; the method is not called.
/// A `&CallContext` parameter (anywhere) receives the caller's identity and permissions and is not
/// an argument. Parameters must be owned types with plain names (no patterns, no `impl Trait`,
/// no references, no generics).
///
/// How values travel is chosen by the type (its `WireFormat` impl), never by its name:
/// `bytes::Bytes`, an alias of it, and a newtype that implements `BinaryValue` as binary bodies
/// (and, inside `args`, as JS's `{"type":"Buffer","data":[…]}`), `Body` as it is, `String` as a
/// UTF-8 body (moved, not copied), anything else through serde JSON (a JSON string becomes a UTF-8
/// body, as in JS).
///
/// # Results and errors
///
/// A method may return `T`, or `Result<T, E>` (also an alias named `Result`, like
/// `io::Result<T>`) with `E: Serialize + Display`, and `Deserialize` too unless `client = false`
/// (the client reads it back); an error type missing a derive is one error at the type, naming
/// the derive. An error travels as the JS error object
/// `{"message": E.to_string(), "name": "Error", "stack": "", "data": <E as JSON>}`: JS peers read `message`,
/// typed Rust clients get `E` back. Returning a `RemoteError` sends it unchanged.
///
/// # Permissions
///
/// `#[plugin(permission = "...")]` sets the default for every method: `"anonymous"`, a group
/// name, or `"master"` (the default when absent). A name one edit away from `anonymous` or
/// `master` (`"anonymus"`, `"Master"`) is refused as a likely typo; such a group, or several
/// groups, are written in the list form `#[plugin(permission(group = "anonymus"))]`, which takes
/// what `#[permission(...)]` takes. Per method: `#[permission(anonymous)]`,
/// `#[permission(master)]`, `#[permission(group = "friends")]`, or several groups
/// `#[permission(anonymous, group = "friends")]`. Each method carries its groups; the plugin's
/// permission table (`PluginDescription::permissions`) is derived from them: each group with the
/// allow-list of its methods (relative dotted paths), which the stack prefixes with the mount
/// name and merges like JS `permissions` objects. `master` is not a group: full access
/// comes from the `auth` hook, so a master-only method is simply in no group.
///
/// # Generated items
///
/// * the impl block itself, minus the `#[rpc]` and `#[permission]` attributes;
/// * `impl secret_stack::plugin::Plugin for Test`: `name`, `version` (default: the crate's version),
///   `needs`, and `methods` (each method with its path, kind and permission groups: the manifest
///   and the permission table are derived from them);
/// * `impl secret_stack::plugin::PluginType for Test` (with a client): the name and needs as
///   constants, and `pub struct TestHandle`, the typed in-process handle other plugins get from
///   `PluginInit::need::<Test>()`: one method per RPC method like the client's, a direct Rust call
///   while the method has no hook (sinks and duplexes excepted), a call through the app's dispatch
///   and the method's hooks while it has;
/// * per method (with a client), a marker for typed hooks, as an associated constant of the
///   plugin type named after the method in upper case (`Test::HELLO`, `Test::CREATE_HISTORY_STREAM`),
///   of a type `Test<Method>Method<…>` implementing `secret_stack::plugin::HookTarget`: hook it with
///   `app.hook(Test::HELLO, |ctx, (name,), next| …)`;
/// * `pub struct TestClient<C>` with `new(caller)`, `caller()`, `into_caller()`, `MOUNT`,
///   `manifest()`, and for `C: Caller` one method per RPC method, taking the same arguments
///   (without `&CallContext`):
///   async/sync → `TypedFuture<T, E>`, source → `TypedStream<T, E>`, sink → takes any
///   `Stream<Item = T> + Send + 'static` and returns `TypedFuture<(), E>`, duplex → takes a
///   stream and returns a `TypedStream<U, E>`. `E` is the method's error type, or `Infallible`
///   when it has none; errors are `CallError::Method(E)` or `CallError::Rpc(RpcError)`.
///
/// # Arguments of the attribute
///
/// `name = "..."` (required), `version = "..."`, `permission = "..."` or `permission(...)`,
/// `needs(Type, "name", ...)` (the plugins this one needs: a `#[plugin]` type, checked at compile
/// time, or a name; the list form `needs = ["..."]` takes names only),
/// `crate = "path::to::secret_stack"` (when the crate is re-exported under another path),
/// `client = false` (no client, for error types that are not `Deserialize`).
///
/// # Errors
///
/// Misuse is reported at the offending token, all at once; the impl block is still emitted (with
/// placeholder `Plugin` and client items) so that no follow-on errors hide the real ones. Types
/// that cannot be (de)serialized, error types that are not `Serialize + Display`, and `async fn`
/// bodies whose future is not `Send` are reported at the type or method concerned.
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::plugin(args.into(), input.into()).into()
}

/// Turns a trait listing a remote plugin's methods into a typed client (`FooClient<C>`), for
/// plugins that exist only on the other side (for example in JS peers).
///
/// ```ignore
/// #[remote(name = "test")]
/// pub trait Test {
///     async fn hello(&self, name: String) -> Result<String, TestError>;
///     fn add(&self, a: i64, b: i64) -> i64;
///     fn count(&self, n: u32) -> Source<u32>;
///     fn collect(&self, items: Sink<serde_json::Value>);
///     fn echo(&self, input: Sink<Body>) -> Source<Body>;
/// }
/// // generates `pub struct TestClient<C>`, exactly as `#[plugin]` would for the same methods.
/// ```
///
/// The signatures follow the rules of [`plugin`](macro@plugin) (kinds, names, `#[rpc(...)]`);
/// bodies are not needed. The trait itself is consumed: only the client is emitted. Arguments:
/// `name = "..."` (the remote plugin's name) and `crate = "..."`.
#[proc_macro_attribute]
pub fn remote(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::remote(args.into(), input.into()).into()
}
