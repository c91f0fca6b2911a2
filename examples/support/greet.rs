//! The `greet` plugin of the transport examples: one public method that says who answered and
//! who it thinks called (which shows what each transform reports about the caller), and one for
//! masters only (which shows what each transform grants).

use std::convert::Infallible;

use secret_stack::keys::PublicKey;
use secret_stack::plugin;
use secret_stack::rpc::CallContext;
use secret_stack::stack::PluginInit;

/// The `greet` plugin of one app.
#[derive(Debug)]
pub struct Greet {
    /// The app serving it.
    me: PublicKey,
}

impl Greet {
    /// Made per app (a [`Builder::plugin_with`](secret_stack::stack::Builder::plugin_with)
    /// factory), to know the app's id.
    pub fn init(init: &PluginInit<'_>) -> Result<Greet, Infallible> {
        Ok(Greet { me: init.id() })
    }
}

/// The first characters of an id, enough to tell apps apart in a trace.
pub fn short(id: &PublicKey) -> String {
    id.id().chars().take(9).collect()
}

#[plugin(name = "greet", version = "1.0.0", permission = "anonymous")]
impl Greet {
    /// `"hello <name>: <callee> answering <caller>"`, the caller as the connection reports it.
    async fn hello(&self, ctx: &CallContext, name: String) -> String {
        format!(
            "hello {name}: {} answering {}",
            short(&self.me),
            short(&ctx.remote)
        )
    }

    /// Only for the app itself and its masters.
    #[permission(master)]
    async fn secret(&self) -> String {
        "the secret is 42".to_owned()
    }
}

/// What the transport examples show once two apps are up: `client` dials `server`'s device
/// address, calls `greet.hello(name)` and `greet.secret` through the typed client, prints each
/// step, then closes both apps.
pub async fn connect_and_greet(
    server: &secret_stack::stack::App,
    client: &secret_stack::stack::App,
    name: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let address = server.address(secret_stack::multiserver::Scope::Device);
    if address.is_empty() {
        return Err("the server is not listening (see the warning above)".into());
    }
    println!("server {} listens at {address}", short(&server.id()));
    let peer = client.connect(&address).await?;
    println!(
        "client {} connected over {} to {} (the connection names the remote {})",
        short(&client.id()),
        peer.transport(),
        peer.address(),
        short(&peer.id())
    );
    let greet = GreetClient::new(peer);
    println!("greet.hello -> {}", greet.hello(name.to_owned()).await?);
    match greet.secret().await {
        Ok(secret) => println!("greet.secret -> {secret} (the caller has full access)"),
        Err(e) => println!("greet.secret refused (the caller is a stranger): {e}"),
    }
    client.close().await;
    server.close().await;
    Ok(())
}
