//! Replication over secret-stack: three nodes in one process, each with its own data directory,
//! each serving three plugins — `log` (an append-only message log on disk, whose history can stay
//! open live), `friends` (whom the node follows) and `replicate` (on every new connection, pull
//! the followed feeds' messages the peer has and we lack, then keep a live history per followed
//! feed open over that connection).
//!
//! A and B follow each other; C follows A only. A writes messages; B connects to A and gets them
//! (A gets B's too); C connects only to B and still gets A's messages, through B, but not B's
//! (C does not follow B). Then A writes one more while the connections stay up: it reaches B and,
//! through B, C, over the open connections, without reconnecting. Then A is closed (at once: its
//! live histories end when it starts closing) and started again from its directory: same
//! identity, same log; it writes one more message, which C picks up when it connects. Last, a
//! damaged copy of A's log is refused with the number of the bad line.
//!
//! ```text
//! cargo run -p secret-stack-examples --example replication
//! cargo run -p secret-stack-examples --example replication -- --dir /tmp/replication   # keep the data
//! RUST_LOG=info cargo run -p secret-stack-examples --example replication               # see the syncs
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::TryStreamExt;
use secret_stack::multiserver::Scope;
use secret_stack::stack::App;
use secret_stack_examples::replication::store::LOG_FILE;
use secret_stack_examples::replication::{LogClient, Message, node};

/// How long a round of syncs may take before the demo gives up.
const SYNC_DEADLINE: Duration = Duration::from_secs(3);

#[derive(Parser)]
#[command(about = "Three secret-stack nodes replicating an append-only log")]
struct Args {
    /// Where the nodes keep their data (`<dir>/a`, `<dir>/b`, `<dir>/c`); kept afterwards. By
    /// default a new temporary directory, removed at the end.
    #[arg(long)]
    dir: Option<PathBuf>,
}

type Error = Box<dyn std::error::Error>;

/// Names nodes by id in the trace.
struct Names(BTreeMap<String, &'static str>);

impl Names {
    fn of(&self, id: &str) -> &str {
        self.0.get(id).copied().unwrap_or("?")
    }

    fn message(&self, m: &Message) -> String {
        format!("{}#{} {:?}", self.of(&m.author), m.seq, m.content)
    }
}

/// Every message in the node's log, author by author, each author's in order.
async fn log_of(app: &App) -> Result<Vec<Message>, Error> {
    let log = LogClient::new(app.local());
    let mut all = Vec::new();
    for author in log.latest().await?.into_keys() {
        let messages: Vec<Message> = log.history(author, 0, false).try_collect().await?;
        all.extend(messages);
    }
    Ok(all)
}

async fn print_log(names: &Names, name: &str, app: &App) -> Result<(), Error> {
    let log = log_of(app).await?;
    let listed: Vec<String> = log.iter().map(|m| names.message(m)).collect();
    println!("  {name} has {} messages: {}", log.len(), listed.join(", "));
    Ok(())
}

async fn append(app: &App, content: &str) -> Result<Message, Error> {
    Ok(LogClient::new(app.local())
        .append(content.to_owned())
        .await?)
}

/// Waits for `expected` finished syncs on `app` and prints what it received from whom.
async fn synced(names: &Names, name: &str, app: &App, expected: u64) -> Result<(), Error> {
    let status = node::wait_for_syncs(app, expected, SYNC_DEADLINE).await?;
    let from: Vec<String> = status
        .from
        .iter()
        .map(|(id, n)| format!("{n} from {}", names.of(id)))
        .collect();
    println!(
        "  {name}: {} syncs done ({} failed); received so far: {}",
        status.completed + status.failed,
        status.failed,
        if from.is_empty() {
            "nothing".to_owned()
        } else {
            from.join(", ")
        }
    );
    if let Some(error) = status.last_error {
        println!("  {name}: last error: {error}");
    }
    Ok(())
}

/// Copies A's log, breaks its second line, and shows that opening it is refused.
async fn show_corrupt_log(a_dir: &Path, root: &Path) -> Result<(), Error> {
    let broken = root.join("a-damaged");
    std::fs::create_dir_all(&broken)?;
    let text = std::fs::read_to_string(a_dir.join(LOG_FILE))?;
    let damaged: Vec<&str> = text
        .lines()
        .enumerate()
        .map(|(i, line)| if i == 1 { "{\"author\": tru" } else { line })
        .collect();
    std::fs::write(broken.join(LOG_FILE), damaged.join("\n") + "\n")?;
    match node::start(&broken).await {
        Ok(app) => {
            app.close().await;
            Err("a damaged log was opened".into())
        }
        Err(e) => {
            println!("  refused: {e}");
            Ok(())
        }
    }
}

/// Closes A (promptly, though B holds live histories from it), starts it again from its
/// directory, has it write once more and C connect to it; closes it again.
async fn restart(names: &Names, a: App, a_dir: &Path, c: &App) -> Result<(), Error> {
    println!("A closes, then starts again from {}", a_dir.display());
    let a_id = a.id();
    let closing = Instant::now();
    a.close().await;
    println!(
        "  closed in {:.2} s: its live histories ended as it started closing",
        closing.elapsed().as_secs_f64()
    );
    let a = node::start(a_dir).await?;
    println!(
        "  same id: {}; its log was read back from disk",
        a.id() == a_id
    );
    print_log(names, "A", &a).await?;
    let m = append(&a, "A is back").await?;
    println!("  A wrote {}", names.message(&m));

    println!("C connects to A: it gets the new message");
    c.connect(&a.address(Scope::Device)).await?;
    synced(names, "C", c, 2).await?;
    print_log(names, "C", c).await?;
    a.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Logs to stderr; `RUST_LOG=secret_stack=debug` shows connections and calls.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let started = Instant::now();
    let (root, temporary) = match args.dir {
        Some(dir) => (dir, false),
        None => (
            std::env::temp_dir().join(format!("secret-stack-replication-{}", std::process::id())),
            true,
        ),
    };
    let result = run(&root).await;
    if temporary {
        // Best effort: a leftover temporary directory is not worth failing the demo for.
        let _ = std::fs::remove_dir_all(&root);
    }
    result?;
    println!("done in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn run(root: &Path) -> Result<(), Error> {
    println!("data in {}", root.display());
    let dirs = [root.join("a"), root.join("b"), root.join("c")];
    let [a_dir, b_dir, c_dir] = &dirs;
    let a = node::start(a_dir).await?;
    let b = node::start(b_dir).await?;
    let c = node::start(c_dir).await?;
    let names = Names(BTreeMap::from([
        (a.id().id(), "A"),
        (b.id().id(), "B"),
        (c.id().id(), "C"),
    ]));
    for (name, app) in [("A", &a), ("B", &b), ("C", &c)] {
        println!("{name} is {} at {}", app.id(), app.address(Scope::Device));
    }

    println!("A and B follow each other; C follows A only");
    node::follow(&a, &[&b]).await?;
    node::follow(&b, &[&a]).await?;
    node::follow(&c, &[&a]).await?;

    println!("A writes three messages, B one");
    for text in ["hello from A", "A again", "A's third"] {
        let m = append(&a, text).await?;
        println!("  A wrote {}", names.message(&m));
    }
    let m = append(&b, "hello from B").await?;
    println!("  B wrote {}", names.message(&m));

    println!("B connects to A: each pulls what the other has");
    b.connect(&a.address(Scope::Device)).await?;
    synced(&names, "B", &b, 1).await?;
    synced(&names, "A", &a, 1).await?;
    print_log(&names, "A", &a).await?;
    print_log(&names, "B", &b).await?;

    println!("C connects to B (never to A): A's messages reach C through B, B's do not");
    c.connect(&b.address(Scope::Device)).await?;
    synced(&names, "C", &c, 1).await?;
    synced(&names, "B", &b, 2).await?;
    print_log(&names, "C", &c).await?;

    println!("A writes while connected: the message travels live, without reconnecting");
    let m = append(&a, "A live").await?;
    println!("  A wrote {}", names.message(&m));
    for (name, app) in [("B", &b), ("C", &c)] {
        node::wait_for_message(app, &m.author, m.seq, SYNC_DEADLINE).await?;
        let status = node::status(app).await?;
        println!(
            "  {name} got it over an open live history ({} received live, {} live histories open)",
            status.received_live, status.live
        );
    }
    print_log(&names, "C", &c).await?;

    restart(&names, a, a_dir, &c).await?;

    println!("a copy of A's log with a damaged second line:");
    show_corrupt_log(a_dir, root).await?;

    for app in [&b, &c] {
        app.close().await;
    }
    Ok(())
}
