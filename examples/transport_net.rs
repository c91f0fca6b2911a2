//! The `net` transport (TCP) with `shs`, configured the JS way in `global.connections`: two apps
//! listen on 127.0.0.1, one dials the other's address and calls it through the typed `greet`
//! client. This is secret-stack's default suite, spelled out.
//!
//! ```text
//! cargo run -p secret-stack-examples --example transport_net
//! ```

use secret_stack::keys::AppKey;
use secret_stack::stack::{Config, SecretStack};
use secret_stack_examples::greet::{Greet, connect_and_greet};
use serde_json::json;

const APP_KEY: AppKey = AppKey([1; 32]);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs to stderr; `RUST_LOG=secret_stack=debug` shows connections and calls.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    // Listen with net~shs on 127.0.0.1 (port chosen by the system), dial with net~shs.
    let config = Config::from_json(json!({
        "global": {
            "connections": {
                "incoming": {"net": [{"scope": "device", "transform": "shs", "host": "127.0.0.1"}]},
                "outgoing": {"net": [{"transform": "shs"}]}
            }
        }
    }))?;
    let builder = SecretStack::builder()
        .app_key(APP_KEY)
        .plugin_with("greet", Greet::init);
    let server = builder.start(config.clone()).await?;
    let client = builder.start(config).await?;

    connect_and_greet(&server, &client, "net").await
}
