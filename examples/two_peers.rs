//! Two peers, one process: Alice and Bob are apps built with the stack builder, each serving a
//! small `greeter` plugin written with `#[plugin]`. Bob dials Alice over TCP (secret handshake, box
//! stream, muxrpc) and calls her through the generated typed client (an async call, a source, the
//! plugin's own error, a refused master-only method); Alice calls Bob back over the same
//! connection and calls herself locally; both close cleanly.
//!
//! ```text
//! cargo run --example two_peers
//! RUST_LOG=debug cargo run --example two_peers   # see the stack's logs
//! ```

use futures::StreamExt;
use secret_stack::keys::AppKey;
use secret_stack::multiserver::Scope;
use secret_stack::plugin;
use secret_stack::rpc::{CallContext, CallError, Source};
use secret_stack::stack::{App, Config, Event, PluginInit, SecretStack, WeakApp};
use serde_json::{Value, json};

/// The network both apps belong to: peers with another app key cannot even complete a handshake.
const APP_KEY: AppKey = AppKey([42; 32]);

/// The plugin's own error: it travels as a JS error object (`message` from `Display`) and comes back
/// to Rust callers as this type.
#[derive(Debug, serde::Serialize, serde::Deserialize, thiserror::Error)]
enum GreetError {
    #[error("greeter.hello: a name, please")]
    EmptyName,
}

/// `greeter`: its greeting comes from the app's config section `greeter`.
struct Greeter {
    greeting: String,
    /// The app serving this plugin, to name it in answers (weak: the app owns the plugin).
    app: WeakApp,
}

impl Greeter {
    /// Made per app, at build time, from the app handle and the plugin's config section.
    fn init(init: &PluginInit<'_>) -> Result<Greeter, String> {
        let greeting = match init.section().and_then(|s| s.get("greeting")) {
            None => "Hello".to_owned(),
            Some(Value::String(g)) => g.clone(),
            Some(other) => return Err(format!("greeter.greeting must be a string, not {other}")),
        };
        Ok(Greeter {
            greeting,
            app: init.app(),
        })
    }
}

/// The RPC methods: the manifest (`{"hello": "async", "count": "source", "secret": "async"}`),
/// the dispatch table, the permissions and the typed `GreeterClient` all come from this block.
#[plugin(name = "greeter", version = "1.0.0", permission = "anonymous")]
impl Greeter {
    /// async: greets the caller, whose identity comes with the call.
    async fn hello(&self, ctx: &CallContext, name: String) -> Result<String, GreetError> {
        if name.is_empty() {
            return Err(GreetError::EmptyName);
        }
        let me = self
            .app
            .upgrade()
            .map(|app| short(&app))
            .unwrap_or_default();
        let caller = &ctx.remote.id()[..8];
        Ok(format!(
            "{}, {name}! ({me} answering {caller})",
            self.greeting
        ))
    }

    /// source: the numbers 1 ..= n.
    fn count(&self, n: u32) -> Source<u32> {
        Source::iter(1..=n)
    }

    /// Only for the app itself and its masters: anonymous peers are refused.
    #[permission(master)]
    async fn secret(&self) -> String {
        "the secret is 42".into()
    }
}

/// The first characters of an app's id, enough to tell Alice from Bob.
fn short(app: &App) -> String {
    app.id().id()[..8].to_owned()
}

async fn start(name: &str, greeting: &str) -> Result<App, Box<dyn std::error::Error>> {
    let config = Config::from_json(json!({
        "global": {"host": "127.0.0.1"},
        "greeter": {"greeting": greeting},
    }))?;
    let app = SecretStack::builder()
        .app_key(APP_KEY)
        .plugin_with("greeter", Greeter::init)
        .start(config)
        .await?;
    println!("{name} is {} at {}", app.id(), app.address(Scope::Device));
    Ok(app)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs to stderr; `RUST_LOG=secret_stack=debug` shows connections and calls.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    let alice = start("Alice", "Hello").await?;
    let bob = start("Bob", "Howdy").await?;

    // Watch what happens to Alice.
    let mut events = alice.events();
    let watcher = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            match event {
                Event::Connect { peer, is_client } => {
                    println!(
                        "[alice] connected to {} (we dialled: {is_client})",
                        peer.id()
                    )
                }
                Event::Disconnect { id, reason, .. } => {
                    println!("[alice] {id} left: {reason}")
                }
                Event::Close => {
                    println!("[alice] closed");
                    break;
                }
                _ => {}
            }
        }
    });

    // Bob dials Alice and calls her through the typed client the macro generated.
    let peer = bob.connect(&alice.address(Scope::Device)).await?;
    let greeter = GreeterClient::new(peer.clone());
    println!(
        "[bob] greeter.hello -> {}",
        greeter.hello("Bob".into()).await?
    );
    let mut numbers = greeter.count(3);
    while let Some(n) = numbers.next().await {
        println!("[bob] greeter.count -> {}", n?);
    }
    match greeter.hello(String::new()).await {
        Err(CallError::Method(e)) => {
            println!("[bob] greeter.hello(\"\") -> the plugin's own error, typed: {e:?} ({e})")
        }
        other => println!("[bob] greeter.hello(\"\") -> unexpected {other:?}"),
    }
    match greeter.secret().await {
        Err(CallError::Rpc(e)) => println!("[bob] greeter.secret -> refused: {e}"),
        other => println!("[bob] greeter.secret -> unexpected {other:?}"),
    }

    // Alice calls Bob back over the same connection (dynamic API this time).
    for back in alice.peers_with(&bob.id()) {
        let answer: String = back
            .rpc()
            .call(&["greeter", "hello"], vec![json!("Alice")])
            .await?;
        println!("[alice] greeter.hello -> {answer}");
    }

    // Alice calls her own plugin locally, with full permissions.
    let local = GreeterClient::new(alice.local());
    println!("[alice] local greeter.secret -> {}", local.secret().await?);

    // Both close: Bob's goodbye ends the connection, then Alice stops listening.
    bob.close().await;
    alice.close().await;
    watcher.await?;
    println!(
        "done: Alice has {} peers, Bob {}",
        alice.peers().len(),
        bob.peers().len()
    );
    Ok(())
}
