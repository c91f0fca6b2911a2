//! The `net` transport (TCP) with `shs`, configured the JS way in `global.connections`: two apps
//! listen on 127.0.0.1, one dials the other's address and calls it through the typed `greet`
//! client. This is secret-stack's default suite, spelled out.
//!
//! ```text
//! cargo run -p secret-stack-examples --example transport_net
//! ```

use secret_stack::keys::AppKey;
use secret_stack::multiserver::Scope;
use secret_stack::stack::{Config, SecretStack};
use secret_stack_examples::greet::{Greet, GreetClient, short};
use serde_json::json;

const APP_KEY: AppKey = AppKey([1; 32]);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
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
    println!("greet.hello -> {}", greet.hello("net".into()).await?);
    match greet.secret().await {
        Ok(secret) => println!("greet.secret -> {secret}"),
        Err(e) => println!("greet.secret refused (shs: the client is a stranger): {e}"),
    }

    client.close().await;
    server.close().await;
    Ok(())
}
