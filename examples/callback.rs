//! A method that calls back its caller: the Rust form of JS's `this.id` and
//! `sbot.peers[this.id][0]` inside a muxrpc method, as `ssb-tunnel` and connection managers use it.
//!
//! Alice and Bob both serve a small `callback` plugin written with `#[plugin]`. Bob dials Alice
//! and calls her `callback.greet`; her handler takes the calling connection from its
//! [`CallContext::caller`], asks Bob's own `callback.nick` over it through the generated typed
//! client, and answers with what he said and where he called from. Then Bob subscribes: Alice
//! keeps the (weak) handle and later notifies him through it; once Bob has hung up, the kept
//! handle fails at once with `stream is closed` instead of hanging. A local call has no caller to
//! call back.
//!
//! ```text
//! cargo run --example callback
//! RUST_LOG=secret_stack=debug cargo run --example callback   # see the stack's logs
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secret_stack::keys::AppKey;
use secret_stack::multiserver::Scope;
use secret_stack::plugin;
use secret_stack::rpc::{CallContext, CallerHandle};
use secret_stack::stack::{App, Config, SecretStack};
use serde_json::json;

/// The network both apps belong to.
const APP_KEY: AppKey = AppKey([7; 32]);

/// The errors of `callback.greet`. They travel as JS error objects (`message` from `Display`)
/// and come back to Rust callers typed.
#[derive(Debug, serde::Serialize, serde::Deserialize, thiserror::Error)]
enum GreetError {
    #[error("callback.greet: a local call has no caller to call back; call it over a connection")]
    Local,
    #[error("callback.greet: the caller did not say its nick ({0}); does it serve `callback`?")]
    NoNick(String),
}

/// The callers that subscribed, kept weakly: a kept handle does not keep a connection open.
type Subscribers = Arc<Mutex<Vec<CallerHandle>>>;

/// `callback`: a node's nickname, and methods that call the caller back.
struct Callback {
    nick: String,
    subscribers: Subscribers,
}

#[plugin(name = "callback", version = "1.0.0", permission = "anonymous")]
impl Callback {
    /// This node's nickname.
    async fn nick(&self) -> String {
        self.nick.clone()
    }

    /// Greets the caller by the nickname it gives when asked back over its own connection.
    async fn greet(&self, ctx: &CallContext) -> Result<String, GreetError> {
        let caller = ctx.caller().ok_or(GreetError::Local)?;
        let nick = CallbackClient::new(caller)
            .nick()
            .await
            .map_err(|e| GreetError::NoNick(e.to_string()))?;
        let from = ctx.address().unwrap_or("?");
        Ok(format!("{}: hello {nick}, calling from {from}", self.nick))
    }

    /// Remembers the caller, to notify it later.
    fn subscribe(&self, ctx: &CallContext) -> bool {
        let Some(caller) = ctx.caller() else {
            return false;
        };
        self.subscribers.lock().unwrap().push(caller);
        true
    }

    /// Receives a notification (printed, then acknowledged).
    async fn notify(&self, text: String) -> String {
        println!("[{}] notified: {text}", self.nick);
        format!("{} got it", self.nick)
    }
}

/// Notifies every subscriber through the handle it left, printing what each answered.
async fn notify_all(nick: &str, subscribers: &Subscribers, text: &str) {
    let subscribers = subscribers.lock().unwrap().clone();
    for subscriber in subscribers {
        match CallbackClient::new(subscriber).notify(text.into()).await {
            Ok(ack) => println!("[{nick}] notify -> {ack}"),
            Err(e) => println!("[{nick}] notify -> failed at once: {e}"),
        }
    }
}

/// Starts an app serving `callback` as `nick`; returns it with its subscriber list.
async fn start(nick: &str) -> Result<(App, Subscribers), Box<dyn std::error::Error>> {
    let subscribers = Subscribers::default();
    let config = Config::from_json(json!({"global": {"host": "127.0.0.1"}}))?;
    let app = SecretStack::builder()
        .app_key(APP_KEY)
        .plugin(Callback {
            nick: nick.into(),
            subscribers: Arc::clone(&subscribers),
        })
        .start(config)
        .await?;
    println!("{nick} is {} at {}", app.id(), app.address(Scope::Device));
    Ok((app, subscribers))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    let (alice, subscribers) = start("Alice").await?;
    let (bob, _) = start("Bob").await?;

    // Bob calls Alice; her handler calls Bob back over the same connection.
    let peer = bob.connect(&alice.address(Scope::Device)).await?;
    let alice_api = CallbackClient::new(&peer);
    println!("[Bob] callback.greet -> {}", alice_api.greet().await?);

    // A local call has no caller to call back.
    match CallbackClient::new(alice.local()).greet().await {
        Ok(answer) => println!("[Alice] local callback.greet -> unexpected {answer}"),
        Err(e) => println!("[Alice] local callback.greet -> refused: {e}"),
    }

    // Bob subscribes; Alice notifies him later through the handle she kept.
    println!(
        "[Bob] callback.subscribe -> {}",
        alice_api.subscribe().await?
    );
    notify_all("Alice", &subscribers, "the first news").await;

    // Bob hangs up: the kept handle now fails at once.
    peer.close().await;
    let gone = async {
        while !alice.peers().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .map_err(|_| "Alice still lists Bob 5 s after he hung up")?;
    notify_all("Alice", &subscribers, "news after Bob left").await;

    bob.close().await;
    alice.close().await;
    println!("done");
    Ok(())
}
