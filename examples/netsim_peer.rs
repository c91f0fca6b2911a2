//! A long-running peer of the network simulator (`netsim/run.sh`): a replicating node (the
//! `replication` example's `log` and `replicate` plugins) that appends an entry at a set rate,
//! follows a set of other peers' feeds, and logs every append and every arrival of a followed
//! entry with a wall-clock timestamp, so the harness can compute append → arrival latency and find
//! entries that never arrived.
//!
//! ```text
//! netsim_peer CONFIG.json
//! ```
//!
//! The config (written by the harness):
//!
//! ```json
//! {"index": 3, "host": "10.213.0.2", "port": 9003, "dir": "/tmp/run/p3",
//!  "events": "/tmp/run/p3.events",
//!  "follows": [{"index": 5, "host": "10.213.0.3", "port": 9005}],
//!  "appendIntervalMs": 1000, "appendFromUs": 1764999990000000, "appendUntilUs": 1765000000000000,
//!  "pollIntervalMs": 200, "contentBytes": 64,
//!  "callTimeoutMs": 5000, "backoffMaxMs": 2000}
//! ```
//!
//! Replication: the peer follows its followed feeds in the `friends` plugin, so the `replicate`
//! plugin, on every new connection (in either direction), pulls what the peer has of them — which
//! is how a restarted or reconnected peer catches up — then keeps a live `log.history` of each
//! open over that connection, which brings entries appended later as they are written. Arrivals
//! are logged as they are stored (the `log` plugin's `Appended` event). Besides, this program
//! keeps a connection to each followed peer and asks it, every `pollIntervalMs`, for that peer's
//! own entries after the last one it has (`log.history`, not live), storing them with `log.add`:
//! the way a followed peer is dialled in the first place, and a check that it still answers. A
//! followed peer that cannot be reached, or whose call takes longer than `callTimeoutMs`, is
//! dropped and dialled again after a backoff (doubling up to `backoffMaxMs`).
//!
//! Events (one line each, see [`EventLog`]): `start <t> <index> <pid>`; `A <t> <index> <seq>` for
//! each append; `R <t> <author> <seq>` for each followed entry stored; `F <t> <author> <seq>` at
//! exit, the highest entry held of each followed author; `stop <t> <index>`.
//! The peer exits on SIGTERM or Ctrl-C.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use secret_stack::rpc::LocalCaller;
use secret_stack::stack::{App, Config, Peer};
use secret_stack_examples::netsim::{EventLog, keypair_of};
use secret_stack_examples::replication::{Appended, FriendsClient, LogClient, node};
use serde::Deserialize;
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, info};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A peer to follow: its number (its key derives from it) and where it listens.
#[derive(Debug, Clone, Deserialize)]
struct Followed {
    index: u32,
    host: String,
    port: u16,
}

/// The peer's config file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeerConfig {
    index: u32,
    host: String,
    port: u16,
    dir: PathBuf,
    events: PathBuf,
    follows: Vec<Followed>,
    append_interval_ms: u64,
    /// No appends before this wall-clock time (µs), so that every peer is up and connected when
    /// appending starts; absent: append from the start.
    append_from_us: Option<u64>,
    /// No appends at or after this wall-clock time (µs); absent: append until stopped.
    append_until_us: Option<u64>,
    poll_interval_ms: u64,
    content_bytes: usize,
    #[serde(default = "default_call_timeout")]
    call_timeout_ms: u64,
    #[serde(default = "default_backoff_max")]
    backoff_max_ms: u64,
}

fn default_call_timeout() -> u64 {
    5000
}

fn default_backoff_max() -> u64 {
    2000
}

/// The first pause before dialling a followed peer again.
const BACKOFF_START: Duration = Duration::from_millis(100);

/// What the followed feeds' tasks share: the event file and, per followed author, the highest
/// entry logged as arrived.
struct Arrivals {
    events: EventLog,
    /// Author id → (author's number, highest seq logged).
    seen: Mutex<HashMap<String, (u32, u64)>>,
}

impl Arrivals {
    /// Logs `author`'s entries after the last one logged, up to `seq`, as arrived now (entries the
    /// `replicate` plugin stored are logged when this program first sees them).
    fn arrived(&self, author: &str, seq: u64) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let Some((index, logged)) = seen.get_mut(author) else {
            return;
        };
        for s in *logged + 1..=seq {
            self.events.write("R", format_args!("{index} {s}"));
        }
        *logged = (*logged).max(seq);
    }

    /// Writes the `F` lines: the highest entry held of each followed author.
    fn final_state(&self, latest: &std::collections::BTreeMap<String, u64>) {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (author, (index, _)) in seen.iter() {
            let held = latest.get(author).copied().unwrap_or(0);
            self.events.write("F", format_args!("{index} {held}"));
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    secret_stack_examples::netsim::init_logging();
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: netsim_peer CONFIG.json")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let config: PeerConfig =
        serde_json::from_str(&text).map_err(|e| format!("bad config {path}: {e}"))?;
    run(config).await
}

async fn run(config: PeerConfig) -> Result<(), Error> {
    let events = EventLog::open(&config.events)
        .map_err(|e| format!("cannot open {}: {e}", config.events.display()))?;
    let app_config = Config::from_json(json!({
        "global": {
            "host": config.host,
            "port": config.port,
            // The crowd of followers of a popular peer all dial it: no cap in the way.
            "incomingLimits": {"maxConnections": 4096},
        },
        "log": {"dir": config.dir},
    }))?;
    let app = node::builder()
        .keypair(keypair_of(config.index))
        .start(app_config)
        .await?;
    events.write(
        "start",
        format_args!("{} {}", config.index, std::process::id()),
    );
    info!(index = config.index, address = %app.address(secret_stack::multiserver::Scope::Public), "netsim peer started");

    // Subscribed before anything can arrive: every arrival is logged.
    let appended = app.subscribe::<Appended>();
    let friends = FriendsClient::new(app.local());
    for followed in &config.follows {
        friends.follow(keypair_of(followed.index).id()).await?;
    }
    let local = LogClient::new(app.local());
    let held = local.latest().await?;
    let seen = config
        .follows
        .iter()
        .map(|f| {
            let id = keypair_of(f.index).id();
            let have = held.get(&id).copied().unwrap_or(0);
            (id, (f.index, have))
        })
        .collect::<HashMap<_, _>>();
    let arrivals = Arc::new(Arrivals {
        events,
        seen: Mutex::new(seen),
    });

    let mut tasks = tokio::task::JoinSet::new();
    for followed in &config.follows {
        tasks.spawn(follow(
            app.clone(),
            followed.clone(),
            Arc::clone(&arrivals),
            Timing::of(&config),
        ));
    }
    tasks.spawn(watch_local(app.clone(), Arc::clone(&arrivals), appended));
    tasks.spawn(append_loop(
        app.clone(),
        Arc::clone(&arrivals),
        AppendPlan::of(&config),
    ));

    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tasks.abort_all();
    let latest = local.latest().await?;
    arrivals.final_state(&latest);
    arrivals
        .events
        .write("stop", format_args!("{}", config.index));
    let _ = tokio::time::timeout(Duration::from_secs(3), app.close()).await;
    Ok(())
}

/// What the append loop needs.
struct AppendPlan {
    index: u32,
    every: Duration,
    from_us: Option<u64>,
    until_us: Option<u64>,
    content_bytes: usize,
}

impl AppendPlan {
    fn of(config: &PeerConfig) -> AppendPlan {
        AppendPlan {
            index: config.index,
            every: Duration::from_millis(config.append_interval_ms.max(1)),
            from_us: config.append_from_us,
            until_us: config.append_until_us,
            content_bytes: config.content_bytes,
        }
    }
}

/// Appends an entry every `plan.every` until `plan.until_us`, logging each.
async fn append_loop(app: App, arrivals: Arc<Arrivals>, plan: AppendPlan) {
    let log = LogClient::new(app.local());
    if let Some(from) = plan.from_us {
        let wait = from.saturating_sub(secret_stack_examples::netsim::now_us());
        tokio::time::sleep(Duration::from_micros(wait)).await;
    }
    let mut tick = tokio::time::interval(plan.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if plan
            .until_us
            .is_some_and(|until| secret_stack_examples::netsim::now_us() >= until)
        {
            return;
        }
        let now = secret_stack_examples::netsim::now_us();
        let mut content = format!("netsim peer {} at {now}", plan.index);
        content.extend(std::iter::repeat_n(
            '.',
            plan.content_bytes.saturating_sub(content.len()),
        ));
        match log.append(content).await {
            Ok(message) => arrivals
                .events
                .write("A", format_args!("{} {}", plan.index, message.seq)),
            Err(e) => tracing::error!("netsim: append failed: {e}"),
        }
    }
}

/// Logs each followed entry as the local log stores it (whoever stored it: the `replicate`
/// plugin, live or catching up, or the follow loops); after missing announcements, whatever the
/// log holds.
async fn watch_local(app: App, arrivals: Arc<Arrivals>, mut appended: Receiver<Appended>) {
    let log = LogClient::new(app.local());
    loop {
        match appended.recv().await {
            Ok(entry) => arrivals.arrived(&entry.author, entry.seq),
            Err(RecvError::Lagged(_)) => match log.latest().await {
                Ok(latest) => {
                    for (author, seq) in latest {
                        arrivals.arrived(&author, seq);
                    }
                }
                Err(e) => debug!("netsim: local latest failed: {e}"),
            },
            Err(RecvError::Closed) => return,
        }
    }
}

/// The timing of a follow loop.
#[derive(Debug, Clone, Copy)]
struct Timing {
    poll: Duration,
    call_timeout: Duration,
    backoff_max: Duration,
}

impl Timing {
    fn of(config: &PeerConfig) -> Timing {
        Timing {
            poll: Duration::from_millis(config.poll_interval_ms.max(1)),
            call_timeout: Duration::from_millis(config.call_timeout_ms.max(1)),
            backoff_max: Duration::from_millis(config.backoff_max_ms.max(1)),
        }
    }
}

/// Keeps a connection to `followed` and pulls its new entries every `timing.poll`; dials again
/// with a growing pause when it cannot be reached or stops answering.
async fn follow(app: App, followed: Followed, arrivals: Arc<Arrivals>, timing: Timing) {
    let key = keypair_of(followed.index).public();
    let address = format!(
        "net:{}:{}~shs:{}",
        followed.host,
        followed.port,
        key.to_base64()
    );
    let author = key.id();
    let local = LogClient::new(app.local());
    let mut have = local
        .latest()
        .await
        .ok()
        .and_then(|l| l.get(&author).copied())
        .unwrap_or(0);
    let mut backoff = BACKOFF_START;
    loop {
        let peer = match tokio::time::timeout(timing.call_timeout, app.connect(&address)).await {
            Ok(Ok(peer)) => peer,
            Ok(Err(e)) => {
                debug!(%address, "netsim: dial failed: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(timing.backoff_max);
                continue;
            }
            Err(_) => {
                debug!(%address, "netsim: dial timed out");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(timing.backoff_max);
                continue;
            }
        };
        backoff = BACKOFF_START;
        loop {
            let pulled = pull(&peer, &local, &author, &mut have, &arrivals);
            match tokio::time::timeout(timing.call_timeout, pulled).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    debug!(%address, "netsim: pull failed: {e}");
                    break;
                }
                Err(_) => {
                    debug!(%address, "netsim: pull timed out");
                    break;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(timing.poll) => {}
                _ = peer.closed() => break,
            }
        }
        // The connection is broken or stalled: drop it without waiting for a goodbye.
        peer.close_now(secret_stack::rpc::RpcError::Timeout);
    }
}

/// Pulls `author`'s entries after `have` from `peer` into the local log, raising `have` and
/// logging each as it is stored.
async fn pull(
    peer: &Peer,
    local: &LogClient<LocalCaller>,
    author: &str,
    have: &mut u64,
    arrivals: &Arrivals,
) -> Result<(), Error> {
    let remote = LogClient::new(peer.clone());
    let mut history = remote.history(author.to_owned(), *have, false);
    while let Some(message) = history.next().await {
        let message = message?;
        if message.author != author {
            return Err(format!("asked for {author}, got {}", message.author).into());
        }
        let seq = message.seq;
        // False: the `replicate` plugin stored it first; it is logged now all the same.
        local.add(message).await?;
        *have = (*have).max(seq);
        arrivals.arrived(author, seq);
    }
    Ok(())
}
