//! # secret-stack
//!
//! Secure peer-to-peer RPC for Rust, wire-compatible with the JavaScript `secret-stack` 8.1.0 that
//! Scuttlebutt is built on: a Rust node and a JS node connect, authenticate each other and call
//! each other's methods.
//!
//! Most programs need only the [`prelude`]: `use secret_stack::prelude::*;`.
//!
//! ## Architecture: the path of a call
//!
//! One call travels from the socket to a plugin method and back through these steps, each a module
//! you can read top to bottom in this order:
//!
//! | step | module | what happens there | where you plug in |
//! |---|---|---|---|
//! | 1. socket | [`multiserver`] | a transport opens a byte stream for an address such as `net:host:port~shs:KEY` (TCP `net`, `unix`, `ws`), or accepts one | your own [`multiserver::Transport`], with [`stack::Builder::transport`] or from a plugin's init ([`stack::PluginInit::transport`]) |
//! | 2. handshake | [`handshake`] | the secret handshake proves both keys and derives the session keys (the `shs` transform) | a [`multiserver::Transform`] with [`stack::Builder::transform`]; who may connect, with [`stack::Builder::auth_hook`] |
//! | 3. box stream | [`box_stream`] | every byte after the handshake is sealed in authenticated frames of up to 4 KiB | — |
//! | 4. packet codec | [`rpc::PacketCodec`] | the plaintext is cut into muxrpc packets: 9-byte header, JSON, text or binary body | — |
//! | 5. rpc engine | [`rpc::RpcHandle`] | requests, replies and streams are matched by request number, with backpressure per stream | limits in [`rpc::RpcConfig`] |
//! | 6. dispatch | [`rpc::MethodTable`] | a request's path and permission are checked, its arguments decoded, the method called | permissions with [`stack::Builder::auth_hook`] and `#[permission]` |
//! | 7. plugin | [`plugin`](mod@plugin) | your `#[plugin]` method runs and its answer (a value, a [`rpc::Source`], …) travels back the same way | [`plugin`](macro@plugin) on an `impl` block, [`remote`] for a client of a plugin that lives elsewhere |
//!
//! [`stack`] ties the steps into a node ([`stack::App`]) that listens, dials, and keeps its peers.
//! [`tunnel`] runs a whole connection inside one muxrpc duplex, to reach a peer through another.
//! [`keys`] holds the identities every step relies on, [`js_api`] maps every feature of the
//! JS API to its Rust counterpart, and [`porting`] ports a JS plugin that hooks, needs and calls
//! back its caller, part by part.
//!
//! ## From a key to a typed call
//!
//! 1. **An identity.** Every node is an Ed25519 key pair; its id reads `@<base64>.ed25519`. Keep it
//!    in an `ssb-keys` secret file with [`keys::load_or_create_key_file`] (or generate one with
//!    [`keys::Keypair::generate`]).
//! 2. **A network.** Nodes that share a 32-byte app key ([`keys::AppKey`]) can talk; the secret
//!    handshake refuses everyone else before they learn anything.
//! 3. **A plugin.** Write an ordinary `impl` block and mark it [`plugin`](macro@plugin): the
//!    manifest, the dispatch table, the permissions and a typed client come from it
//!    ([`plugin`](mod@plugin) has the full guide).
//! 4. **A node.** [`stack::SecretStack::builder`] takes the plugins and a [`stack::Config`] (in the
//!    JS shape) and starts an [`stack::App`] that listens and dials.
//! 5. **A call.** [`stack::App::connect`] gives a [`stack::Peer`]; wrap it in the generated client.
//!
//! ```
//! use secret_stack::keys::{AppKey, Keypair};
//! use secret_stack::multiserver::Scope;
//! use secret_stack::plugin;
//! use secret_stack::stack::{Config, SecretStack};
//!
//! pub struct Hello;
//!
//! #[plugin(name = "hello", permission = "anonymous")]
//! impl Hello {
//!     async fn greet(&self, name: String) -> String {
//!         format!("hello {name}")
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app_key = AppKey([7; 32]);
//! let config = || Config::from_json(serde_json::json!({"global": {"host": "127.0.0.1"}}));
//! let server = SecretStack::builder().app_key(app_key).plugin(Hello).start(config()?).await?;
//! let client = SecretStack::builder()
//!     .app_key(app_key)
//!     .keypair(Keypair::generate())
//!     .start(config()?)
//!     .await?;
//!
//! let peer = client.connect(&server.address(Scope::Device)).await?;
//! assert_eq!(peer.id(), server.id()); // the handshake proved who answers
//! let hello = HelloClient::new(peer);
//! assert_eq!(hello.greet("world".into()).await?, "hello world");
//!
//! client.close().await;
//! server.close().await;
//! # Ok(()) }
//! ```
//!
//! ## In `Cargo.toml`
//!
//! ```toml
//! [dependencies]
//! secret-stack = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! serde = { version = "1", features = ["derive"] } # for your own argument and answer types
//! futures = "0.3"                                  # to read streams (`StreamExt`)
//! ```
//!
//! The `ws` and `unix` transports are default features; `default-features = false` leaves `net`.
//!
//! ## A config without JSON
//!
//! [`stack::Config`] reads the JS shape from JSON or TOML ([`stack::Config::from_json`],
//! [`stack::Config::from_file`]), but its common fields are typed, so a program can build one
//! directly:
//!
//! ```
//! use secret_stack::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::default();
//! config.global.host = Some("127.0.0.1".into()); // listen on loopback only
//! config.global.port = Some(0); // any free port
//! let app = SecretStack::builder()
//!     .app_key(AppKey([7; 32]))
//!     .keypair(Keypair::generate())
//!     .start(config)
//!     .await?;
//! println!("listening at {}", app.address(Scope::Device));
//! app.close().await;
//! # Ok(()) }
//! ```
//!
//! ## Errors with `?`
//!
//! Every error type of the crate implements [`std::error::Error`] + `Send` + `Sync`, so `?` turns
//! them into a `Box<dyn Error>`; a method's own error type needs `Serialize`, `Deserialize` and
//! `Display` to travel to a typed client:
//!
//! ```
//! use secret_stack::prelude::*;
//!
//! #[derive(Debug, serde::Serialize, serde::Deserialize, thiserror::Error)]
//! pub enum BoardError {
//!     #[error("the board is full")]
//!     Full,
//! }
//!
//! pub struct Board;
//!
//! #[plugin(name = "board", permission = "anonymous")]
//! impl Board {
//!     async fn post(&self, text: String) -> Result<usize, BoardError> {
//!         if text.len() > 100 { Err(BoardError::Full) } else { Ok(text.len()) }
//!     }
//! }
//!
//! async fn post(app: &App) -> Result<usize, Box<dyn std::error::Error>> {
//!     let board = BoardClient::new(app.local());
//!     Ok(board.post("hello".into()).await?) // CallError<BoardError> -> Box<dyn Error>
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut config = Config::default();
//! # config.global.host = Some("127.0.0.1".into());
//! # let app = SecretStack::builder().app_key(AppKey([7; 32])).plugin(Board).start(config).await?;
//! # assert_eq!(post(&app).await?, 5);
//! # app.close().await;
//! # Ok(()) }
//! ```
//!
//! ## Ending live sources when the app closes
//!
//! [`stack::App::close`] waits (up to its deadline, 5 s by default) for the calls it is serving to
//! end. A plugin that serves endless ("live") sources ends them itself when the app closes:
//! [`stack::App::closing`] is a future that resolves as soon as closing starts, so a live source
//! made with `.take_until(app.closing())` ends then, and `close()` returns without waiting out its
//! deadline. A plugin reaches its app through the [`stack::WeakApp`] its factory gets
//! ([`stack::PluginInit::app`]):
//!
//! ```
//! use futures::StreamExt;
//! use secret_stack::prelude::*;
//! use secret_stack::stack::{PluginInit, WeakApp};
//!
//! pub struct Ticker {
//!     app: WeakApp,
//! }
//!
//! #[plugin(name = "ticker", permission = "anonymous")]
//! impl Ticker {
//!     fn ticks(&self) -> Source<u64> {
//!         let Some(app) = self.app.upgrade() else {
//!             return Source::empty(); // the app is gone
//!         };
//!         let ticks = futures::stream::unfold(0u64, |n| async move {
//!             tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//!             Some((n, n + 1))
//!         });
//!         // Endless, until the app starts closing.
//!         Source::new(ticks.take_until(app.closing()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::default();
//! config.global.host = Some("127.0.0.1".into());
//! let builder = SecretStack::builder()
//!     .app_key(AppKey([7; 32]))
//!     .plugin_with("ticker", |init: &PluginInit<'_>| {
//!         Ok::<_, std::convert::Infallible>(Ticker { app: init.app() })
//!     });
//! let server = builder.start(config.clone()).await?;
//! let client = builder.start(config).await?;
//! let peer = client.connect(&server.address(Scope::Device)).await?;
//! let mut ticks = TickerClient::new(peer).ticks();
//! assert_eq!(ticks.next().await.transpose()?, Some(0)); // the live source is open
//! let started = std::time::Instant::now();
//! server.close().await; // the source ends at once: close() does not wait out its 5 s
//! assert!(started.elapsed() < std::time::Duration::from_secs(4));
//! # client.close().await;
//! # Ok(()) }
//! ```
//!
//! ## Logging
//!
//! The crate logs through [`tracing`](https://docs.rs/tracing) under the target `secret_stack`;
//! nothing is printed until the program installs a subscriber, for example with
//! `tracing-subscriber` (features `fmt` and `env-filter`):
//!
//! ```
//! tracing_subscriber::fmt()
//!     .with_env_filter(tracing_subscriber::EnvFilter::from_default_env()) // reads RUST_LOG
//!     .with_writer(std::io::stderr)
//!     .init();
//! ```
//!
//! Then `RUST_LOG=secret_stack=info` (or `debug`, …) picks what shows:
//!
//! | level | what it shows |
//! |---|---|
//! | `warn` | something failed that the node survived: a method or close hook panicked, a frame could not be sent, a listener could not start, a burst of refused incoming connections, an unknown config key |
//! | `info` | the node's life: listening (with its address), each connection made and ended (peer id, direction, reason), a client refused for using another app key (once per host per minute), a connection refused by the auth hook, the app closing and closed |
//! | `debug` | each connection's and call's details: handshake failures, session ends, refused calls and streams, the caps' counters |
//! | `trace` | frames and stream bookkeeping |
//!
//! At `debug`, every event of a connection is inside a `connection` span (peer id, address,
//! direction) and, while a request is dispatched, a `call` span (method, kind, request number), so
//! `RUST_LOG=secret_stack=debug` lets one peer's traffic be followed. Both are `debug` spans: at
//! `info` and above they cost nothing, where a live span per open connection would cost each idle
//! connection about a KiB in the subscriber.

#![warn(missing_docs)]

// Lets code generated by `#[plugin]` (which names `::secret_stack`) compile inside this crate too.
extern crate self as secret_stack;

pub mod box_stream;
pub mod handshake;
pub(crate) mod hook_list;
pub mod keys;
#[doc = include_str!("../docs/js-api.md")]
pub mod js_api {}
pub mod multiserver;
pub mod plugin;
#[doc = include_str!("../docs/porting.md")]
pub mod porting {}
pub mod prelude;
pub mod rpc;
pub mod stack;
pub mod tunnel;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub use secret_stack_macros::{plugin, remote};
