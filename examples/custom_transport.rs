//! A protocol plugin: a transport written outside the crate, through the public [`Transport`]
//! trait, that a plugin registers from its init — the Rust side of a JS plugin calling
//! `api.multiserver.transport({name, create})` — and that apps then use like the built-in ones.
//!
//! `mem:<name>` connects apps of one process through in-memory pipes: a listener registers its
//! name on a shared switchboard, a dialler looks the name up and hands the listener one end of a
//! fresh pipe. No socket is opened; the secret handshake, box stream and RPC run over the pipe
//! exactly as over TCP. Each app loads the `mem` plugin, which registers the transport; the apps
//! listen and dial only with `mem~shs` (set in `global.connections`), and one calls the other
//! through the typed `greet` client.
//!
//! ```text
//! cargo run -p secret-stack-examples --example custom_transport
//! ```

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use secret_stack::keys::AppKey;
use secret_stack::multiserver::RegistryError;
use secret_stack::multiserver::{
    AddressError, ByteStream, ListenConfig, Listener, Protocol, Scope, Transport,
};
use secret_stack::plugin;
use secret_stack::stack::{App, Config, PluginInit, SecretStack};
use secret_stack_examples::greet::{Greet, GreetClient, short};
use serde_json::{Value, json};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

const APP_KEY: AppKey = AppKey([4; 32]);

/// How many bytes a pipe buffers each way before the writer waits.
const PIPE_BUFFER: usize = 64 * 1024;

/// The listeners of the process, by name: where a dialler hands over its pipe.
#[derive(Clone, Default)]
struct Switchboard {
    listeners: Arc<Mutex<HashMap<String, mpsc::Sender<DuplexStream>>>>,
}

impl Switchboard {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, mpsc::Sender<DuplexStream>>> {
        // Every change is one insert or remove: a panic elsewhere cannot leave it half-made.
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `mem` transport: `mem:<name>`.
#[derive(Clone)]
struct Mem {
    board: Switchboard,
}

impl Transport for Mem {
    /// The listener's name.
    type Address = String;

    fn name(&self) -> &str {
        "mem"
    }

    fn parse(&self, section: &Protocol) -> Result<String, AddressError> {
        match (section.name(), section.data()) {
            ("mem", [name]) if !name.is_empty() => Ok(name.clone()),
            ("mem", _) => Err(AddressError::invalid("mem", section, "expected mem:<name>")),
            (other, _) => Err(AddressError::WrongProtocol {
                expected: "mem",
                got: other.into(),
            }),
        }
    }

    fn connect<'a>(&'a self, name: &'a String) -> BoxFuture<'a, io::Result<ByteStream>> {
        Box::pin(async move {
            let listener = self.board.lock().get(name).cloned();
            let refused = || {
                io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("no mem listener named {name}"),
                )
            };
            let listener = listener.ok_or_else(refused)?;
            let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
            listener.send(theirs).await.map_err(|_| refused())?;
            Ok(ByteStream::from_duplex(ours, format!("mem:{name}"), "mem"))
        })
    }

    /// Listens under the entry's `name` option (`{"scope": "device", "transform": "shs", "name": "alice"}`).
    fn listen<'a>(
        &'a self,
        config: &'a ListenConfig,
    ) -> BoxFuture<'a, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let name = match config.options.get("name") {
                Some(Value::String(name)) if !name.is_empty() => name.clone(),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "a mem listener needs a \"name\"",
                    ));
                }
            };
            let (sender, incoming) = mpsc::channel(16);
            let mut listeners = self.board.lock();
            if listeners.get(&name).is_some_and(|s| !s.is_closed()) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("mem:{name} is taken"),
                ));
            }
            listeners.insert(name.clone(), sender);
            Ok(Box::new(MemListener {
                name,
                incoming,
                board: self.board.clone(),
            }) as Box<dyn Listener>)
        })
    }
}

/// A started `mem` listener; dropping it frees its name.
struct MemListener {
    name: String,
    incoming: mpsc::Receiver<DuplexStream>,
    board: Switchboard,
}

impl Drop for MemListener {
    fn drop(&mut self) {
        self.incoming.close();
        let mut listeners = self.board.lock();
        // The name may have been taken again since, by a listener that is not closed.
        if listeners.get(&self.name).is_some_and(|s| s.is_closed()) {
            listeners.remove(&self.name);
        }
    }
}

impl Listener for MemListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<ByteStream>> {
        Box::pin(async move {
            let pipe = self
                .incoming
                .recv()
                .await
                .ok_or(io::ErrorKind::NotConnected)?;
            Ok(ByteStream::from_duplex(
                pipe,
                format!("mem:{}", self.name),
                "mem",
            ))
        })
    }

    fn scopes(&self) -> &[Scope] {
        &[Scope::Device]
    }

    fn address(&self, scope: Scope) -> Vec<Protocol> {
        match Protocol::new("mem", [self.name.as_str()]) {
            Ok(section) if scope == Scope::Device => vec![section],
            _ => Vec::new(),
        }
    }

    fn is_device_only(&self) -> bool {
        true
    }
}

/// The protocol plugin: it serves no methods; its init registers the `mem` transport with the
/// app.
struct MemPlugin;

impl MemPlugin {
    /// Registers a `mem` transport on `board` with the app being built.
    fn init(init: &PluginInit<'_>, board: &Switchboard) -> Result<MemPlugin, RegistryError> {
        init.transport(Mem {
            board: board.clone(),
        })?;
        Ok(MemPlugin)
    }
}

#[plugin(name = "mem", version = "1.0.0")]
impl MemPlugin {}

/// An app that loads the `mem` plugin, and listens and dials only with `mem~shs`, under `name`.
async fn start(board: &Switchboard, name: &str) -> Result<App, Box<dyn std::error::Error>> {
    let config = Config::from_json(json!({
        "global": {
            "connections": {
                "incoming": {"mem": [{"scope": "device", "transform": "shs", "name": name}]},
                "outgoing": {"mem": [{"transform": "shs"}]}
            }
        }
    }))?;
    let app = SecretStack::builder()
        .app_key(APP_KEY)
        .plugin_with("mem", {
            let board = board.clone();
            move |init: &PluginInit<'_>| MemPlugin::init(init, &board)
        })
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

    let board = Switchboard::default();
    let alice = start(&board, "alice").await?;
    let bob = start(&board, "bob").await?;
    let address = alice.address(Scope::Device);
    if address.is_empty() {
        return Err("alice is not listening (see the warning above)".into());
    }
    println!("alice {} listens at {address}", short(&alice.id()));
    println!(
        "bob {} listens at {}",
        short(&bob.id()),
        bob.address(Scope::Device)
    );

    let peer = bob.connect(&address).await?;
    println!(
        "bob connected over {} to {}",
        peer.transport(),
        peer.address()
    );
    let greet = GreetClient::new(peer);
    println!("greet.hello -> {}", greet.hello("mem".into()).await?);

    // Alice sees bob's connection like any other, and can call back over it.
    for back in alice.peers_with(&bob.id()) {
        let answer = GreetClient::new(back).hello("bob".into()).await?;
        println!("alice calls back: greet.hello -> {answer}");
    }

    let nobody = address.replace("mem:alice", "mem:nobody");
    match bob.connect(&nobody).await {
        Ok(_) => return Err("dialled a mem listener that does not exist".into()),
        Err(e) => println!("dialling {nobody} fails: {e}"),
    }

    bob.close().await;
    alice.close().await;
    println!(
        "closed; the switchboard has {} listeners left",
        board.lock().len()
    );
    Ok(())
}
