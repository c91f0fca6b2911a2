//! The `ws` transport (WebSocket) with `shs`, configured in `global.connections`: two apps listen
//! on `ws://127.0.0.1:<port>`, one dials the other and calls it through the typed `greet` client.
//! The handshake, box stream and RPC run inside WebSocket binary messages, as with JS
//! `multiserver/plugins/ws`.
//!
//! ```text
//! cargo run -p secret-stack-examples --example transport_ws
//! ```

use secret_stack::keys::AppKey;
use secret_stack::multiserver::{Scope, Ws};
use secret_stack::stack::{Config, SecretStack};
use secret_stack_examples::greet::{Greet, GreetClient, short};
use serde_json::json;

const APP_KEY: AppKey = AppKey([2; 32]);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
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

    let address = server.address(Scope::Device);
    if address.is_empty() {
        return Err("the server is not listening (see the warning above)".into());
    }
    println!("server {} listens at {address}", short(&server.id()));
    let peer = client.connect(&address).await?;
    println!(
        "client {} connected over {} to {}",
        short(&client.id()),
        peer.transport(),
        peer.address()
    );

    let greet = GreetClient::new(peer);
    println!("greet.hello -> {}", greet.hello("ws".into()).await?);
    match greet.secret().await {
        Ok(secret) => println!("greet.secret -> {secret}"),
        Err(e) => println!("greet.secret refused (shs: the client is a stranger): {e}"),
    }

    client.close().await;
    server.close().await;
    Ok(())
}
