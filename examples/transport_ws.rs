//! The `ws` transport (WebSocket) with `shs`, configured in `global.connections`: two apps listen
//! on `ws://127.0.0.1:<port>`, one dials the other and calls it through the typed `greet` client.
//! The handshake, box stream and RPC run inside WebSocket binary messages, as with JS
//! `multiserver/plugins/ws`.
//!
//! ```text
//! cargo run -p secret-stack-examples --example transport_ws
//! ```

use secret_stack::keys::AppKey;
use secret_stack::multiserver::Ws;
use secret_stack::stack::{Config, SecretStack};
use secret_stack_examples::greet::{Greet, connect_and_greet};
use serde_json::json;

const APP_KEY: AppKey = AppKey([2; 32]);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs to stderr; `RUST_LOG=secret_stack=debug` shows connections and calls.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    // Listen with ws~shs only (no TCP listener at all), dial with ws~shs.
    let config = Config::from_json(json!({
        "global": {
            "connections": {
                "incoming": {"ws": [{"scope": "device", "transform": "shs", "host": "127.0.0.1"}]},
                "outgoing": {"ws": [{"transform": "shs"}]}
            }
        }
    }))?;
    // `net` is built in; `ws` is added like any other transport.
    let builder = SecretStack::builder()
        .app_key(APP_KEY)
        .transport(Ws)
        .plugin_with("greet", Greet::init);
    let server = builder.start(config.clone()).await?;
    let client = builder.start(config).await?;

    connect_and_greet(&server, &client, "ws").await
}
