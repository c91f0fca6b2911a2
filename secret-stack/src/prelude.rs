//! What a plugin author and an app author need, in one import: `use secret_stack::prelude::*;`.
//!
//! ```
//! use secret_stack::prelude::*;
//!
//! pub struct Hello;
//!
//! #[plugin(name = "hello", permission = "anonymous")]
//! impl Hello {
//!     async fn greet(&self, ctx: &CallContext, name: String) -> String {
//!         format!("hello {name}, you are {}", ctx.remote)
//!     }
//!     fn count(&self, n: u32) -> Source<u32> {
//!         Source::iter(0..n)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::default(); // no JSON needed: the fields are typed
//! config.global.host = Some("127.0.0.1".into());
//! let app = SecretStack::builder()
//!     .app_key(AppKey([7; 32]))
//!     .plugin(Hello)
//!     .start(config)
//!     .await?;
//! let hello = HelloClient::new(app.local());
//! assert_eq!(hello.greet("you".into()).await?, format!("hello you, you are {}", app.id()));
//! app.close().await;
//! # Ok(()) }
//! ```

pub use crate::keys::{AppKey, Keypair, PublicKey};
pub use crate::multiserver::Scope;
pub use crate::plugin::{Plugin, PluginDescription};
pub use crate::rpc::{CallContext, CallError, Caller, RemoteError, RpcError, Sink, Source};
pub use crate::stack::{App, Config, Event, Peer, SecretStack};
pub use secret_stack_macros::{plugin, remote};
