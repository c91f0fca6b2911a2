//! Two peers, one process: Alice and Bob are apps built with the stack builder, each serving a
//! small `greeter` plugin written by hand against the `Plugin` trait. Bob dials Alice over TCP
//! (secret handshake, box stream, muxrpc), calls her (an async call and a source), Alice calls Bob
//! back over the same connection, and both close cleanly.
//!
//! ```text
//! cargo run -p secret-stack-examples --example two_peers
//! RUST_LOG=debug cargo run -p secret-stack-examples --example two_peers   # see the stack's logs
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{FutureExt, StreamExt, stream};
use secret_stack::Plugin;
use secret_stack::keys::AppKey;
use secret_stack::multiserver::Scope;
use secret_stack::rpc::{Body, CallKind, Manifest, Method, Permissions, RemoteError, Reply};
use secret_stack::stack::{App, Config, Event, PluginInit, SecretStack, WeakApp};
use serde_json::{Value, json};

/// The network both apps belong to: peers with another app key cannot even complete a handshake.
const APP_KEY: AppKey = AppKey([42; 32]);

/// `greeter`: `hello(name)` (async) and `count(n)` (source). Its greeting comes from the app's
/// config section `greeter`.
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

    fn hello(&self, caller: String, args: Vec<Value>) -> Result<Body, RemoteError> {
        let name = args
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| RemoteError::new("greeter.hello: expected a name"))?;
        let me = self
            .app
            .upgrade()
            .map(|app| short(&app))
            .unwrap_or_default();
        Ok(Body::from(format!(
            "{}, {name}! ({me} answering {caller})",
            self.greeting
        )))
    }
}

impl Plugin for Greeter {
    fn name(&self) -> &str {
        "greeter"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    fn manifest(&self) -> Manifest {
        let mut manifest = Manifest::new();
        manifest.insert(&["hello"], CallKind::Async);
        manifest.insert(&["count"], CallKind::Source);
        manifest
    }

    fn permissions(&self) -> BTreeMap<String, Permissions> {
        // Strangers may call both methods (paths relative to the mount point).
        BTreeMap::from([(
            "anonymous".to_owned(),
            Permissions::allow(["hello", "count"]),
        )])
    }

    fn methods(self: Arc<Self>) -> Vec<Method> {
        let hello = Method {
            path: vec!["hello".into()],
            kind: CallKind::Async,
            handler: Arc::new(move |ctx, args, _| {
                let caller = ctx.remote.id()[..8].to_owned();
                Reply::Value(futures::future::ready(self.hello(caller, args)).boxed())
            }),
        };
        let count = Method {
            path: vec!["count".into()],
            kind: CallKind::Source,
            handler: Arc::new(|_, args, _| {
                let n = args.first().and_then(Value::as_u64).unwrap_or(0);
                Reply::Stream(
                    stream::iter(1..=n)
                        .map(|i| Ok(Body::from(json!(i))))
                        .boxed(),
                )
            }),
        };
        vec![hello, count]
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
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

    // Bob dials Alice and calls her.
    let peer = bob.connect(&alice.address(Scope::Device)).await?;
    let answer: String = peer
        .rpc()
        .call(&["greeter", "hello"], vec![json!("Bob")])
        .await?;
    println!("[bob] greeter.hello -> {answer}");
    let mut numbers = peer.rpc().source(&["greeter", "count"], vec![json!(3)]);
    while let Some(n) = numbers.next().await {
        println!("[bob] greeter.count -> {}", n?.into_json());
    }

    // Alice calls Bob back over the same connection.
    for back in alice.peers_with(&bob.id()) {
        let answer: String = back
            .rpc()
            .call(&["greeter", "hello"], vec![json!("Alice")])
            .await?;
        println!("[alice] greeter.hello -> {answer}");
    }

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
