//! The `unix` transport (a Unix domain socket in a temporary directory) with `noauth`, configured
//! in `global.connections`: no handshake and no encryption, because only processes on this
//! machine that may open the socket file can connect. As in JS, `noauth` reports the caller as
//! the app itself and grants it full permissions — so the master-only `greet.secret` answers.
//!
//! ```text
//! cargo run -p secret-stack-examples --example transport_unix
//! ```

use secret_stack::keys::{AppKey, Keypair};
use secret_stack::multiserver::{NoAuth, Unix};
use secret_stack::stack::{App, Config, SecretStack};
use secret_stack_examples::greet::{Greet, connect_and_greet};
use serde_json::json;

const APP_KEY: AppKey = AppKey([3; 32]);

/// An app listening with unix~noauth on `<dir>/socket`, dialling with unix~noauth.
async fn start(dir: &std::path::Path) -> Result<App, Box<dyn std::error::Error>> {
    // The transport makes the socket file, not its directory.
    std::fs::create_dir_all(dir)?;
    let keys = Keypair::try_generate()?;
    let config = Config::from_json(json!({
        "global": {
            "connections": {
                "incoming": {"unix": [{"scope": "device", "transform": "noauth", "path": dir}]},
                "outgoing": {"unix": [{"transform": "noauth"}]}
            }
        }
    }))?;
    // `noauth` speaks for this app's key, so it is made per app.
    let app = SecretStack::builder()
        .app_key(APP_KEY)
        .transport(Unix)
        .transform(NoAuth::new(keys.public()))
        .keypair(keys)
        .plugin_with("greet", Greet::init)
        .start(config)
        .await?;
    Ok(app)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs to stderr; `RUST_LOG=secret_stack=debug` shows connections and calls.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    let root = std::env::temp_dir().join(format!("secret-stack-unix-{}", std::process::id()));
    let result = run(&root).await;
    // Best effort: the sockets are gone once the apps closed.
    let _ = std::fs::remove_dir_all(&root);
    result
}

async fn run(root: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let server = start(&root.join("server")).await?;
    let client = start(&root.join("client")).await?;

    connect_and_greet(&server, &client, "unix").await
}
