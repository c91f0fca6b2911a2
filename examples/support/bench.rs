//! The client-side benchmark against any peer serving the [`test`](crate::test_plugin) plugin: five
//! figures (`connect`, `rtt1`, `rtt100`, `source`, `echo`) and the idle-connection memory probe.
//!
//! Every figure dials the peer the way [`crate::client`] does (Multiserver + `net` + `shs`, then
//! [`RpcHandle::start`]); `net` sets TCP_NODELAY on every socket. Each figure runs for a fixed
//! wall-clock time and reports what it completed in the time it actually took.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt, stream};
use secret_stack::keys::{AppKey, Keypair};
use secret_stack::multiserver::{DialError, Established, Multiserver, Net, RegistryError, Shs};
use secret_stack::rpc::{
    Body, CallContext, MethodTable, Permissions, RpcConfig, RpcError, RpcHandle,
};
use serde_json::Value;
use tokio::sync::Semaphore;

use secret_stack::stack::App;

use crate::client::{ClientConfig, tunnel_client};
use crate::peer::HANDSHAKE_TIMEOUT;

/// The five figures, in the order they run.
pub const FIGURES: [&str; 5] = ["connect", "rtt1", "rtt100", "source", "echo"];

/// The chunk size of `source` and `echo`.
pub const CHUNK: usize = 64 * 1024;

/// How many bytes `echo` may have sent that have not come back yet.
pub const ECHO_WINDOW: usize = 1024 * 1024;

/// How many bytes one `test.bytes` call of the `source` figure asks for; calls repeat until the
/// time is up.
const SOURCE_CALL_BYTES: u64 = 64 * 1024 * 1024;

/// How many handshakes the idle probe runs at once.
const IDLE_PARALLEL: usize = 16;

/// One measured figure: printed as `{"bench":…,"value":…,"unit":…}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The figure's name.
    pub bench: String,
    /// The measured value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
}

impl Figure {
    /// The figure as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "bench": self.bench, "value": self.value, "unit": self.unit })
            .to_string()
    }
}

/// Why a figure could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Registering the transport or transform failed.
    #[error("cannot set up multiserver: {0}")]
    Registry(#[from] RegistryError),
    /// Dialling or the handshake failed.
    #[error("cannot connect: {0}")]
    Connect(#[from] DialError),
    /// A call failed.
    #[error("call failed: {0}")]
    Call(#[from] RpcError),
    /// The peer answered something other than what the `test` plugin answers.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// Reaching the portal, or a tunnel through it, failed.
    #[error("through the portal: {0}")]
    Portal(String),
    /// The figure's name is not one of [`FIGURES`].
    #[error("unknown figure {0:?} (known: connect, rtt1, rtt100, source, echo)")]
    UnknownFigure(String),
    /// The idle probe cannot read the peer's memory.
    #[error("cannot read the RSS of process {pid}: {detail}")]
    Rss {
        /// The process.
        pid: u32,
        /// What went wrong.
        detail: String,
    },
}

/// A client that dials one peer.
pub struct Dialer {
    ms: Multiserver,
    keys: Keypair,
    address: String,
    /// For a `tunnel:` address: an app with the `tunnel` plugin, connected to the portal.
    tunnel: Option<App>,
}

impl Dialer {
    /// A dialer for `address` with a fresh identity.
    pub fn new(address: &str, app_key: AppKey) -> Result<Dialer, BenchError> {
        let keys = Keypair::generate();
        let shs = Shs::new(keys.clone(), app_key).with_timeout(HANDSHAKE_TIMEOUT);
        let mut ms = Multiserver::new();
        ms.add_transport(Net)?
            .add_transform(shs)?
            .add_outgoing("net", "shs")?;
        Ok(Dialer {
            ms,
            keys,
            address: address.to_owned(),
            tunnel: None,
        })
    }

    /// A dialer for the `tunnel:` `address` through the portal at `portal`: an app with the
    /// `tunnel` plugin ([`crate::client::tunnel_client`]) that stays connected
    /// to the portal; each figure's connection is a new tunnel.
    pub async fn through_portal(
        address: &str,
        portal: &str,
        app_key: AppKey,
    ) -> Result<Dialer, BenchError> {
        let mut dialer = Dialer::new(address, app_key)?;
        let config = ClientConfig {
            keys: dialer.keys.clone(),
            app_key,
            master: false,
        };
        let app = tunnel_client(portal, &config)
            .await
            .map_err(|e| BenchError::Portal(e.to_string()))?;
        dialer.tunnel = Some(app);
        Ok(dialer)
    }

    /// Our identity.
    pub fn id(&self) -> String {
        self.keys.id()
    }

    /// Dials, shakes hands and starts RPC (serving nothing, like [`crate::client`]).
    pub async fn connect(&self) -> Result<RpcHandle, BenchError> {
        if let Some(app) = &self.tunnel {
            let peer = app
                .connect(&self.address)
                .await
                .map_err(|e| BenchError::Portal(e.to_string()))?;
            return Ok(peer.rpc().clone());
        }
        let established = self.ms.connect(&self.address).await?;
        // A peer we dialled may call only `manifest`, as in secret-stack.
        Ok(serve_nothing(established, Permissions::allow(["manifest"])))
    }

    /// Runs one figure for about `seconds`.
    pub async fn run(&self, figure: &str, seconds: f64) -> Result<Figure, BenchError> {
        let time = Duration::from_secs_f64(seconds.max(0.1));
        let (value, unit) = match figure {
            "connect" => (self.connect_rate(time).await?, "conn/s"),
            "rtt1" => (self.round_trips(time, 1).await?, "calls/s"),
            "rtt100" => (self.round_trips(time, 100).await?, "calls/s"),
            "source" => (self.source(time).await?, "MB/s"),
            "echo" => (self.echo(time).await?, "MB/s"),
            other => return Err(BenchError::UnknownFigure(other.to_owned())),
        };
        Ok(Figure {
            bench: figure.to_owned(),
            value,
            unit,
        })
    }

    /// Sequential connect + handshake + graceful RPC close, per second.
    async fn connect_rate(&self, time: Duration) -> Result<f64, BenchError> {
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed() < time {
            let rpc = self.connect().await?;
            let end = rpc.close().await;
            if !end.is_clean() {
                return Err(BenchError::Unexpected(format!("close ended with {end:?}")));
            }
            done += 1;
        }
        Ok(done as f64 / start.elapsed().as_secs_f64())
    }

    /// `test.hello` round trips per second with `in_flight` calls outstanding at all times.
    async fn round_trips(&self, time: Duration, in_flight: usize) -> Result<f64, BenchError> {
        let rpc = self.connect().await?;
        let call = |rpc: &RpcHandle| {
            // Boxed: the future owns everything, so the closure's result borrows nothing.
            let answer = rpc
                .request(&["test", "hello"], vec![Value::from("bench")])
                .boxed();
            async move {
                match answer.await? {
                    Body::Text(s) if s == "hello bench" => Ok(()),
                    other => Err(BenchError::Unexpected(format!("{other:?}"))),
                }
            }
        };
        // Warm up, so the first figure does not pay for lazy set-up.
        call(&rpc).await?;
        let start = Instant::now();
        let mut pending = FuturesUnordered::new();
        for _ in 0..in_flight {
            pending.push(call(&rpc));
        }
        let mut done = 0u64;
        while let Some(result) = pending.next().await {
            result?;
            done += 1;
            if start.elapsed() < time {
                pending.push(call(&rpc));
            }
        }
        let rate = done as f64 / start.elapsed().as_secs_f64();
        rpc.close().await;
        Ok(rate)
    }

    /// `test.bytes` in 64 KiB chunks, 10^6 bytes per second.
    async fn source(&self, time: Duration) -> Result<f64, BenchError> {
        let rpc = self.connect().await?;
        let start = Instant::now();
        let mut received = 0u64;
        while start.elapsed() < time {
            let args = vec![Value::from(SOURCE_CALL_BYTES), Value::from(CHUNK)];
            let mut chunks = rpc.source(&["test", "bytes"], args);
            let mut got = 0u64;
            while let Some(item) = chunks.next().await {
                match item? {
                    Body::Binary(b) => got += b.len() as u64,
                    other => return Err(BenchError::Unexpected(format!("{other:?}"))),
                }
            }
            if got != SOURCE_CALL_BYTES {
                return Err(BenchError::Unexpected(format!(
                    "test.bytes sent {got} of {SOURCE_CALL_BYTES} bytes"
                )));
            }
            received += got;
        }
        let rate = received as f64 / start.elapsed().as_secs_f64() / 1e6;
        rpc.close().await;
        Ok(rate)
    }

    /// `test.echo` with 64 KiB binary chunks and at most [`ECHO_WINDOW`] bytes unanswered,
    /// 10^6 bytes per second one way.
    async fn echo(&self, time: Duration) -> Result<f64, BenchError> {
        let rpc = self.connect().await?;
        let window = Arc::new(Semaphore::new(ECHO_WINDOW));
        let stop = Arc::new(AtomicBool::new(false));
        let chunk = Bytes::from(vec![0x5a; CHUNK]);
        let items = {
            let window = Arc::clone(&window);
            let stop = Arc::clone(&stop);
            stream::unfold((), move |()| {
                let window = Arc::clone(&window);
                let stop = Arc::clone(&stop);
                let chunk = chunk.clone();
                async move {
                    if stop.load(Ordering::Relaxed) {
                        return None;
                    }
                    // The permits come back when the echo arrives.
                    window.acquire_many(CHUNK as u32).await.ok()?.forget();
                    Some((Body::Binary(chunk), ()))
                }
            })
        };
        let mut echoed = rpc.duplex_with(&["test", "echo"], Vec::new(), items);
        let start = Instant::now();
        let mut received = 0u64;
        let mut measured = None;
        while let Some(item) = echoed.next().await {
            let len = match item? {
                Body::Binary(b) => b.len(),
                other => return Err(BenchError::Unexpected(format!("{other:?}"))),
            };
            received += len as u64;
            window.add_permits(len);
            if measured.is_none() && start.elapsed() >= time {
                measured = Some(received as f64 / start.elapsed().as_secs_f64() / 1e6);
                stop.store(true, Ordering::Relaxed);
                // Wake the producer if it waits for the window, so it sees the stop.
                window.add_permits(ECHO_WINDOW);
            }
        }
        rpc.close().await;
        measured.ok_or_else(|| BenchError::Unexpected("the echo stream ended early".into()))
    }

    /// Opens `count` idle authenticated connections and reports the growth of process `pid`'s
    /// resident memory per connection, in KiB. The connections are closed before returning.
    pub async fn idle(&self, count: usize, pid: u32) -> Result<Vec<Figure>, BenchError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_kib(pid)?;
        let mut handles = Vec::with_capacity(count);
        let mut pending = FuturesUnordered::new();
        let mut started = 0;
        while handles.len() < count {
            while started < count && pending.len() < IDLE_PARALLEL {
                pending.push(self.connect());
                started += 1;
            }
            if let Some(rpc) = pending.next().await {
                handles.push(rpc?);
            }
        }
        // One call on each, so every connection has done a round trip through both engines.
        for rpc in &handles {
            rpc.request(&["test", "hello"], vec![Value::from("idle")])
                .await?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = rss_kib(pid)?;
        let per = (after as f64 - before as f64) / count as f64;
        for rpc in &handles {
            rpc.close_now(RpcError::Closed);
        }
        Ok(vec![
            Figure {
                bench: "idle_rss_per_conn".into(),
                value: per,
                unit: "KiB",
            },
            Figure {
                bench: "idle_rss_before".into(),
                value: before as f64,
                unit: "KiB",
            },
            Figure {
                bench: "idle_rss_after".into(),
                value: after as f64,
                unit: "KiB",
            },
        ])
    }
}

/// `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, BenchError> {
    let fail = |detail: String| BenchError::Rss { pid, detail };
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| fail(e.to_string()))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| fail("no VmRSS line".into()))
}

/// Starts RPC on a dialled connection, serving no method (the remote's calls are refused unless
/// `permissions` lets them reach the core's, such as `manifest`): a bare client.
pub fn serve_nothing(established: Established, permissions: Permissions) -> RpcHandle {
    let ctx = CallContext::new(
        established.info.remote,
        permissions,
        CallContext::next_connection_id(),
    );
    let connection = established.connection;
    RpcHandle::start(
        connection.reader,
        connection.writer,
        Arc::new(MethodTable::new()),
        ctx,
        RpcConfig::default(),
    )
}
