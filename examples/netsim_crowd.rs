//! The crowd of the network simulator's `crowd` scenario (`netsim/run.sh crowd`): one process
//! holding many authenticated connections to one node, each calling `test.hello` once per
//! interval, so a few hosts can put tens of thousands of connections on a node.
//!
//! ```text
//! netsim_crowd node --host 10.213.0.1 --port 9000          # the node: prints its address
//! netsim_crowd clients --target net:10.213.0.1:9000~shs:KEY --connections 2500 --events c.events
//! ```
//!
//! The node serves the interop `test` plugin (as `tests/interop/peer.js` does, whose `--host` puts
//! it on the same footing), with the incoming caps raised by the config's `global.incomingLimits`
//! so that a crowd fits, and prints one JSON line, `{"address": …, "id": …}`, once listening.
//!
//! Each connection has its own identity (a fresh key pair) and goes through the whole secret
//! handshake. At most `--dial-concurrency` dials are in progress at once (a dial queue: a burst of
//! thousands of handshakes would only be refused by the node's caps); a dial that fails is tried
//! again after a pause that doubles up to 5 s, and a connection that breaks is dialled again.
//! Calls start at a random phase of the interval so they are spread over it.
//!
//! Every second it writes `S <t µs> <connected> <dial failures> <answered> <call errors>` (the
//! last three counted since start) to the event file; the peer exits on SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use secret_stack::keys::{AppKey, Keypair};
use secret_stack::multiserver::{Multiserver, Net, Scope, Shs};
use secret_stack::rpc::{Body, Permissions};
use secret_stack::stack::{Config, SecretStack};
use secret_stack_examples::bench::serve_nothing;
use secret_stack_examples::netsim::EventLog;
use secret_stack_examples::test_plugin::Test;
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;
use tracing::debug;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The interop suite's app key (what `tests/interop/peer.js` uses by default).
const DEFAULT_APP_KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";

#[derive(Parser, Debug)]
#[command(about = "A node for a crowd, or a crowd of connections to one node")]
enum Command {
    /// Serve the `test` plugin on HOST:PORT until SIGTERM.
    Node(NodeArgs),
    /// Hold many connections to a node, each calling `test.hello` once per interval.
    Clients(Args),
}

#[derive(clap::Args, Debug)]
struct NodeArgs {
    /// The address to listen on.
    #[arg(long)]
    host: String,
    /// The port to listen on.
    #[arg(long)]
    port: u16,
    /// `global.incomingLimits.maxConnections`.
    #[arg(long, default_value_t = 20_000)]
    max_connections: usize,
    /// `global.incomingLimits.maxHandshakes`.
    #[arg(long, default_value_t = 128)]
    max_handshakes: usize,
    /// `global.incomingLimits.maxConnectionsPerIp`.
    #[arg(long, default_value_t = 20_000)]
    max_connections_per_ip: usize,
    /// `global.incomingLimits.maxHandshakesPerIp`.
    #[arg(long, default_value_t = 128)]
    max_handshakes_per_ip: usize,
    /// The app key (base64 of 32 bytes).
    #[arg(long, default_value = DEFAULT_APP_KEY)]
    app_key: AppKey,
}

#[derive(clap::Args, Debug)]
struct Args {
    /// The node's multiserver address, `net:HOST:PORT~shs:KEY`.
    #[arg(long)]
    target: String,
    /// How many connections to hold.
    #[arg(long)]
    connections: usize,
    /// Dials in progress at once.
    #[arg(long, default_value_t = 64)]
    dial_concurrency: usize,
    /// Time between two calls of one connection, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// A call not answered within this many milliseconds counts as an error.
    #[arg(long, default_value_t = 10_000)]
    call_timeout_ms: u64,
    /// The app key (base64 of 32 bytes).
    #[arg(long, default_value = DEFAULT_APP_KEY)]
    app_key: AppKey,
    /// Where to write the event lines.
    #[arg(long)]
    events: std::path::PathBuf,
}

/// The counters every connection task adds to.
#[derive(Debug, Default)]
struct Counters {
    connected: AtomicU64,
    dial_failures: AtomicU64,
    answered: AtomicU64,
    call_errors: AtomicU64,
}

/// The longest pause before dialling again.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), Error> {
    secret_stack_examples::netsim::init_logging();
    match Command::parse() {
        Command::Node(args) => node(args).await,
        Command::Clients(args) => clients(args).await,
    }
}

/// Serves the `test` plugin until SIGTERM or Ctrl-C.
async fn node(args: NodeArgs) -> Result<(), Error> {
    let config = Config::from_json(json!({
        "global": {
            "host": args.host,
            "port": args.port,
            "incomingLimits": {
                "maxConnections": args.max_connections,
                "maxHandshakes": args.max_handshakes,
                "maxConnectionsPerIp": args.max_connections_per_ip,
                "maxHandshakesPerIp": args.max_handshakes_per_ip,
            },
        }
    }))?;
    let app = SecretStack::builder()
        .app_key(args.app_key)
        .keypair(Keypair::try_generate()?)
        .plugin(Test::default())
        .start(config)
        .await?;
    let hello = json!({"address": app.address(Scope::Public), "id": app.id().id()});
    println!("{hello}");
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let stats = app.incoming_stats();
    eprintln!("netsim_crowd node: {stats:?}");
    let _ = tokio::time::timeout(Duration::from_secs(5), app.close_now()).await;
    Ok(())
}

/// Holds the crowd's connections until SIGTERM or Ctrl-C.
async fn clients(args: Args) -> Result<(), Error> {
    let events = EventLog::open(&args.events)
        .map_err(|e| format!("cannot open {}: {e}", args.events.display()))?;
    let counters = Arc::new(Counters::default());
    let dials = Arc::new(Semaphore::new(args.dial_concurrency.max(1)));
    let plan = Arc::new(Plan {
        target: args.target.clone(),
        app_key: args.app_key,
        interval: Duration::from_millis(args.interval_ms.max(1)),
        call_timeout: Duration::from_millis(args.call_timeout_ms.max(1)),
    });
    events.write(
        "start",
        format_args!("{} {}", args.connections, std::process::id()),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.connections {
        tasks.spawn(hold(
            i,
            Arc::clone(&plan),
            Arc::clone(&dials),
            Arc::clone(&counters),
        ));
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut report = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = report.tick() => {
                let c = &counters;
                events.write("S", format_args!(
                    "{} {} {} {}",
                    c.connected.load(Ordering::Relaxed),
                    c.dial_failures.load(Ordering::Relaxed),
                    c.answered.load(Ordering::Relaxed),
                    c.call_errors.load(Ordering::Relaxed),
                ));
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tasks.abort_all();
    events.write("stop", format_args!("{}", args.connections));
    Ok(())
}

/// What every connection task needs.
#[derive(Debug)]
struct Plan {
    target: String,
    app_key: AppKey,
    interval: Duration,
    call_timeout: Duration,
}

/// Holds connection `i`: dials (at most `dials` at once), calls every interval, dials again when
/// the connection breaks.
async fn hold(i: usize, plan: Arc<Plan>, dials: Arc<Semaphore>, counters: Arc<Counters>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let dialled = {
            let Ok(_permit) = dials.acquire().await else {
                return;
            };
            dial(&plan).await
        };
        let rpc = match dialled {
            Ok(rpc) => rpc,
            Err(e) => {
                debug!(connection = i, "dial failed: {e}");
                counters.dial_failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        counters.connected.fetch_add(1, Ordering::Relaxed);
        // Spread the calls over the interval.
        let phase = plan.interval.mul_f64(f64::from(random_u16()) / 65536.0);
        tokio::time::sleep(phase).await;
        let mut tick = tokio::time::interval(plan.interval);
        loop {
            tick.tick().await;
            let call = rpc.request(&["test", "hello"], vec![json!("crowd")]);
            match tokio::time::timeout(plan.call_timeout, call).await {
                Ok(Ok(Body::Text(_))) => {
                    counters.answered.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Ok(other)) => {
                    debug!(connection = i, "unexpected answer {other:?}");
                    counters.call_errors.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => {
                    debug!(connection = i, "call failed: {e}");
                    counters.call_errors.fetch_add(1, Ordering::Relaxed);
                    if rpc.is_closed() {
                        break;
                    }
                }
                Err(_) => {
                    counters.call_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        counters.connected.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Dials the target as a new identity and starts RPC on the connection (serving nothing).
async fn dial(plan: &Plan) -> Result<secret_stack::rpc::RpcHandle, Error> {
    let shs =
        Shs::new(Keypair::try_generate()?, plan.app_key).with_timeout(Duration::from_secs(30));
    let mut ms = Multiserver::new();
    ms.add_transport(Net)
        .and_then(|m| m.add_transform(shs))
        .and_then(|m| m.add_outgoing("net", "shs"))?;
    let established = ms.connect(&plan.target).await?;
    // An empty allow-list refuses every call the node might make.
    Ok(serve_nothing(
        established,
        Permissions::allow(Vec::<String>::new()),
    ))
}

/// A random number from the OS (a few bytes, once per connection).
fn random_u16() -> u16 {
    let mut bytes = [0u8; 2];
    // A failed read leaves the phase at 0: the calls are then less spread, nothing worse.
    let _ = getrandom_fill(&mut bytes);
    u16::from_le_bytes(bytes)
}

fn getrandom_fill(bytes: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(bytes)
}
