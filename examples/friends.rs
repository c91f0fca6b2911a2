//! The `friends` plugin (after `ssb-friends`) on four replicating nodes in one process, on
//! 127.0.0.1: Alice, Bob, Carol and Mallory, each with the `log`, `friends` and `replicate`
//! plugins. `friends` needs `log` as a typed need and hooks it: once Bob blocks Mallory,
//!
//! - Bob's `log.history` serves none of Mallory's messages, to anyone: not to Bob himself (a local
//!   call), not to Carol replicating from him (remote calls), though they stay in his log;
//! - Bob's `auth` refuses Mallory's connection (the handshake fails on her side).
//!
//! Alice, who does not block Mallory, still serves her messages. Each step prints what each peer
//! sees; the example exits 0.
//!
//! ```text
//! cargo run -p secret-stack-examples --example friends
//! RUST_LOG=info cargo run -p secret-stack-examples --example friends   # see the hooks at work
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures::TryStreamExt;
use secret_stack::multiserver::Scope;
use secret_stack::stack::App;
use secret_stack_examples::replication::{FriendsClient, LogClient, Message, node};

/// How long a round of syncs may take before the demo gives up.
const SYNC_DEADLINE: Duration = Duration::from_secs(3);

type Error = Box<dyn std::error::Error>;

/// The four nodes, and their names by id.
struct Nodes {
    alice: App,
    bob: App,
    carol: App,
    mallory: App,
    names: BTreeMap<String, &'static str>,
}

impl Nodes {
    fn name(&self, id: &str) -> &str {
        self.names.get(id).copied().unwrap_or("?")
    }

    /// How many messages of each of the four a `log` serves, as `Alice 1, Bob 1, …`.
    async fn served(
        &self,
        log: &LogClient<impl secret_stack::rpc::Caller>,
    ) -> Result<String, Error> {
        let mut counts = Vec::new();
        for app in [&self.alice, &self.bob, &self.carol, &self.mallory] {
            let id = app.id().id();
            let messages: Vec<Message> = log.history(id.clone(), 0, false).try_collect().await?;
            counts.push(format!("{} {}", self.name(&id), messages.len()));
        }
        Ok(counts.join(", "))
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let root = std::env::temp_dir().join(format!("secret-stack-friends-{}", std::process::id()));
    let result = run(&root).await;
    // Best effort: a leftover temporary directory is not worth failing the demo for.
    let _ = std::fs::remove_dir_all(&root);
    result?;
    println!("done");
    Ok(())
}

async fn run(root: &Path) -> Result<(), Error> {
    let (alice, bob, carol, mallory) = (
        node::start(&root.join("alice")).await?,
        node::start(&root.join("bob")).await?,
        node::start(&root.join("carol")).await?,
        node::start(&root.join("mallory")).await?,
    );
    let names = BTreeMap::from([
        (alice.id().id(), "Alice"),
        (bob.id().id(), "Bob"),
        (carol.id().id(), "Carol"),
        (mallory.id().id(), "Mallory"),
    ]);
    let nodes = Nodes {
        alice,
        bob,
        carol,
        mallory,
        names,
    };
    let result = scenario(&nodes).await;
    for app in [&nodes.alice, &nodes.bob, &nodes.carol, &nodes.mallory] {
        app.close().await;
    }
    result
}

async fn scenario(n: &Nodes) -> Result<(), Error> {
    let everyone = [&n.alice, &n.bob, &n.carol, &n.mallory];
    for (app, text) in everyone
        .iter()
        .zip(["Alice here", "Bob here", "Carol here", "Mallory here"])
    {
        LogClient::new(app.local()).append(text.to_owned()).await?;
        let others: Vec<&App> = everyone
            .iter()
            .copied()
            .filter(|o| o.id() != app.id())
            .collect();
        node::follow(app, &others).await?;
    }
    println!("everyone wrote one message and follows everyone");

    println!("Alice connects to Mallory, Bob to Alice: Bob gets Mallory's message through Alice");
    n.alice.connect(&n.mallory.address(Scope::Device)).await?;
    node::wait_for_message(&n.alice, &n.mallory.id().id(), 1, SYNC_DEADLINE).await?;
    n.bob.connect(&n.alice.address(Scope::Device)).await?;
    node::wait_for_message(&n.bob, &n.mallory.id().id(), 1, SYNC_DEADLINE).await?;

    println!("Bob blocks Mallory");
    let bob_friends = FriendsClient::new(n.bob.local());
    bob_friends.block(n.mallory.id().id()).await?;
    println!(
        "  [Bob] friends.isBlocking(Mallory) -> {}; friends.isFollowing(Mallory) -> {}",
        bob_friends.is_blocking(n.mallory.id().id()).await?,
        bob_friends.is_following(n.mallory.id().id()).await?
    );
    let latest = LogClient::new(n.bob.local()).latest().await?;
    println!(
        "  [Bob] his log holds {} message(s) of Mallory",
        latest.get(&n.mallory.id().id()).copied().unwrap_or(0)
    );
    println!(
        "  [Bob] his own log.history serves: {}",
        n.served(&LogClient::new(n.bob.local())).await?
    );

    println!("Carol connects to Bob and replicates from him");
    let bob_seen_by_carol = n.carol.connect(&n.bob.address(Scope::Device)).await?;
    node::wait_for_syncs(&n.carol, 1, SYNC_DEADLINE).await?;
    println!(
        "  [Carol] Bob's log.history serves her: {}",
        n.served(&LogClient::new(bob_seen_by_carol)).await?
    );
    println!(
        "  [Carol] her log now holds: {}",
        n.served(&LogClient::new(n.carol.local())).await?
    );

    println!("Mallory connects to Bob");
    match n.mallory.connect(&n.bob.address(Scope::Device)).await {
        Ok(_) => return Err("Bob let Mallory in".into()),
        Err(e) => println!("  [Mallory] refused: {e}"),
    }

    println!("Carol connects to Alice, who does not block Mallory");
    n.carol.connect(&n.alice.address(Scope::Device)).await?;
    node::wait_for_message(&n.carol, &n.mallory.id().id(), 1, SYNC_DEADLINE).await?;
    println!(
        "  [Carol] her log now holds: {}",
        n.served(&LogClient::new(n.carol.local())).await?
    );
    Ok(())
}
