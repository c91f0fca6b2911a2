//! The stack: what turns plugins and a config into a running node — the Rust counterpart of
//! `SecretStack(defaults).use(plugin)(config)`.
//!
//! ```no_run
//! # async fn demo(plugin: impl secret_stack::plugin::Plugin) -> Result<(), Box<dyn std::error::Error>> {
//! use secret_stack::multiserver::Scope;
//! use secret_stack::stack::{Config, SecretStack};
//!
//! let config = Config::from_json(serde_json::json!({
//!     "global": {"caps": {"shs": "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s="}, "host": "127.0.0.1"}
//! }))?;
//! let app = SecretStack::builder().plugin(plugin).start(config).await?;
//! println!("listening on {}", app.address(Scope::Device));
//! let peer = app.connect("net:example.org:8008~shs:<base64 key>").await?;
//! let manifest: serde_json::Value = peer.rpc().call(&["manifest"], vec![]).await?;
//! app.close().await;
//! # Ok(()) }
//! ```
//!
//! The pieces, one file each:
//! - `config`, `merge`, `names`: the config in JS's shape, JS's config merge rule, mount names;
//! - `builder`: [`SecretStack::builder`], plugins, transports, hooks, start-up checks;
//! - `plugins`: mounting (manifest and permission merge, method table) and [`PluginInit`];
//! - `core`: the methods every app serves (`manifest`, `address`, `auth`, `multiserver.*`);
//! - `auth`: the auth chain ([`AuthDecision`], hooks, also added at run time);
//! - `connect_hook`: hooks around [`App::connect`] (observe, refuse, redirect a dial);
//! - `listen`: the app's registry and listeners (its network part);
//! - `connections`: connections from handshake to [`Peer`], the live peers and their tasks;
//! - `inactivity`: dropping idle connections;
//! - `shutdown`: the app's one shutdown signal, and [`App::close`]; `closing`: that signal as a
//!   future for plugins ([`App::closing`]) and close hooks added at run time;
//! - `plugin_events`: typed events between plugins ([`App::emit`], [`App::subscribe`]);
//! - `app`: [`App`], a handle on the app's parts — identity, served API, events, connections,
//!   listening, shutdown — each with one owner among the modules above;
//! - `peer`, `events`: [`Peer`], [`Event`].

pub(crate) mod app;
pub(crate) mod auth;
pub(crate) mod builder;
pub(crate) mod closing;
pub(crate) mod config;
pub(crate) mod connect_hook;
pub(crate) mod connections;
pub(crate) mod core;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod hook_chain;
pub(crate) mod inactivity;
pub(crate) mod listen;
pub(crate) mod merge;
pub(crate) mod method_hooks;
pub(crate) mod names;
pub(crate) mod peer;
pub(crate) mod plugin_events;
pub(crate) mod plugins;
pub(crate) mod shutdown;

pub use app::App;
pub use auth::{AuthDecision, AuthHook, AuthNext};
pub use builder::{Builder, SecretStack};
pub use closing::Closing;
pub use config::{
    Caps, Config, ConfigError, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_INACTIVITY_TIMEOUT, Global,
    KeySource, KeysConfig, Timers,
};
pub use connect_hook::{ConnectHook, ConnectNext};
pub use error::{BoxError, ConnectError, StartError};
pub use events::{DisconnectReason, EVENT_CAPACITY, Event};
pub use method_hooks::NeedError;
pub use names::mount_name;
pub use peer::Peer;
pub use plugin_events::PLUGIN_EVENT_CAPACITY;
pub use plugins::{PluginInit, WeakApp};
pub use shutdown::{CloseHook, DEFAULT_CLOSE_DEADLINE};
