//! Helpers of the robustness tests (`hostile.rs`, `load.rs`): a node to attack, a hand-driven
//! attacker that speaks the handshake, box stream and packet codec byte by byte, a TCP proxy that
//! injects network faults, and the gauges the tests read before and after (panics, resident
//! memory, file descriptors, live tasks).
//!
//! The node is the interop [`Peer`] for now; [`start_node`] is the one place to change when the
//! tests move to the full app.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use futures::StreamExt;
use secret_stack::box_stream::{BoxKey, BoxReader, FrameEncoder, Nonce};
use secret_stack::handshake::{self, Session};
use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack::multiserver::{IncomingLimits, IncomingStats, Multiserver, Net, Shs};
use secret_stack::rpc::{
    Body, CallContext, Frame, MethodTable, Packet, PacketCodec, Permissions, RpcConfig, RpcHandle,
};
use secret_stack_examples::client::{self, ClientConfig};
use secret_stack_examples::peer::{Peer, PeerConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::codec::FramedRead;

/// The app key of every robustness test.
pub const APP_KEY: [u8; 32] = [0x5a; 32];

/// The handshake timeout the attacked node runs with: short, so slow clients are cut quickly.
pub const NODE_HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(800);

/// How long the node may take to react to an attack (close a connection, answer a call).
pub const REACT: Duration = Duration::from_secs(5);

/// The network's app key.
pub fn app_key() -> AppKey {
    AppKey(APP_KEY)
}

/// A running node under attack.
#[derive(Debug)]
pub struct Node {
    /// Its multiserver address, `net:127.0.0.1:<port>~shs:<key>`.
    pub address: String,
    /// Its id, `@<key>.ed25519`.
    pub id: String,
    /// Its public key.
    pub key: PublicKey,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// A key pair the node treats as a master.
    pub master: Keypair,
    /// The running node itself.
    pub handle: Peer,
}

/// Starts a node serving the `test` plugin on 127.0.0.1 with a short handshake timeout.
pub async fn start_node() -> Node {
    start_node_with(NODE_HANDSHAKE_TIMEOUT).await
}

/// Starts a node with the given handshake timeout.
pub async fn start_node_with(handshake_timeout: Duration) -> Node {
    start_node_limited(handshake_timeout, IncomingLimits::default()).await
}

/// Starts a node with the given handshake timeout and caps on incoming connections.
pub async fn start_node_limited(handshake_timeout: Duration, limits: IncomingLimits) -> Node {
    let keys = Keypair::generate();
    let master = Keypair::generate();
    let config = PeerConfig {
        keys: keys.clone(),
        app_key: app_key(),
        port: None,
        masters: vec![master.public()],
        handshake_timeout,
    };
    let peer = Peer::start_with_limits(config, limits)
        .await
        .unwrap_or_else(|e| panic!("node did not start: {e}"));
    let address = peer.address().to_owned();
    let port = address
        .strip_prefix("net:127.0.0.1:")
        .and_then(|rest| rest.split('~').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected node address {address}"));
    Node {
        id: peer.id().to_owned(),
        key: keys.public(),
        port,
        master,
        address,
        handle: peer,
    }
}

impl Node {
    /// The node's address with its port replaced (to dial it through a proxy).
    pub fn address_via(&self, port: u16) -> String {
        self.address
            .replacen(&format!(":{}~", self.port), &format!(":{port}~"), 1)
    }

    /// The node's counters of incoming connections and handshakes.
    pub fn incoming(&self) -> IncomingStats {
        self.handle.app().incoming_stats()
    }

    /// How many RPC sessions the node is serving.
    pub fn open_connections(&self) -> usize {
        self.handle.open_connections()
    }

    /// Waits until the node serves `n` sessions or fewer; false if it did not within `within`.
    pub async fn settle_connections(&self, n: usize, within: Duration) -> bool {
        wait_until(within, || self.open_connections() <= n).await
    }
}

/// Runs every interop check against the node as an ordinary client (anonymous and master) and
/// panics with the failures, if any. Returns how many checks passed.
pub async fn assert_serves(node: &Node, after: &str) -> usize {
    let mut passed = 0;
    for (keys, master) in [(Keypair::generate(), false), (node.master.clone(), true)] {
        let config = ClientConfig {
            keys,
            app_key: app_key(),
            master,
        };
        let results =
            tokio::time::timeout(Duration::from_secs(60), client::run(&node.address, &config))
                .await
                .unwrap_or_else(|_| panic!("after {after}: the checks hung"))
                .unwrap_or_else(|e| panic!("after {after}: a normal client cannot connect: {e}"));
        let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
        assert!(
            failed.is_empty(),
            "after {after}: failed checks {failed:#?}"
        );
        assert!(
            results.len() >= 16,
            "after {after}: only {} checks",
            results.len()
        );
        passed += results.len();
    }
    passed
}

/// Polls `done` every 10 ms until it holds or `within` passes; returns whether it held.
pub async fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Gauges

static PANICS: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// Counts every panic of the process (the previous hook still prints it). Spawned tasks that
/// panic are otherwise silent; a test compares the count before and after.
pub fn install_panic_counter() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Panics seen so far in this process.
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

static PANICS_AT_START: AtomicUsize = AtomicUsize::new(0);

/// Runs one robustness test on its own multi-threaded runtime (2 workers), one test at a time
/// per binary, so memory, socket and panic figures are not mixed up between tests; the runtime
/// is shut down before the next test starts. Panics afterwards if anything panicked meanwhile
/// (in a spawned task too), unless `expected_panics` says how many to expect.
pub fn isolated<F: Future<Output = ()>>(body: F) {
    install_panic_counter();
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    PANICS_AT_START.store(panics(), Ordering::SeqCst);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    // A failing test must not hang the binary: the runtime is shut down with a deadline either way.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(body)));
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert_no_panics();
}

/// Panics if anything panicked since the current [`isolated`] test started.
pub fn assert_no_panics() {
    let now = panics();
    let before = PANICS_AT_START.load(Ordering::SeqCst);
    assert_eq!(
        now,
        before,
        "{} panic(s) during the test (see stderr)",
        now - before
    );
}

/// The resident set size of this process in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

/// The highest resident set size of this process so far in KiB (`VmHWM` of `/proc/self/status`);
/// the whole process's, so earlier tests of the same binary count too.
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

/// A `kB` field of `/proc/self/status`; 0 where there is none.
fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Open sockets of this process (file descriptors pointing at a socket). Other fds are left out:
/// tests of the same binary waiting for their turn create runtimes (epoll, eventfd) meanwhile.
pub fn open_fds() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// What each open file descriptor points at (for failure messages).
pub fn fd_targets() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path())
                .map_or_else(|_| "?".into(), |t| t.display().to_string());
            format!("{}->{target}", e.file_name().to_string_lossy())
        })
        .collect()
}

/// Tasks alive on the current tokio runtime.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// The soft limit on open files (`RLIMIT_NOFILE`), read from `/proc/self/limits`.
pub fn fd_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The hand-driven attacker

/// A raw TCP connection to the node, before or without a handshake.
pub async fn dial(node: &Node) -> TcpStream {
    TcpStream::connect(("127.0.0.1", node.port))
        .await
        .unwrap_or_else(|e| panic!("cannot dial the node: {e}"))
}

/// What a read that expects the peer to hang up saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HangUp {
    /// Bytes received before the end.
    pub bytes: Vec<u8>,
    /// How long after the call the end came.
    pub after: Duration,
    /// True if the end was an error (reset) rather than EOF.
    pub reset: bool,
}

/// Reads until EOF or an error; `None` if the connection is still open after `within`.
pub async fn read_until_closed<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut R,
    within: Duration,
) -> Option<HangUp> {
    let start = Instant::now();
    let mut bytes = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return false,
                Ok(n) => bytes.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(_) => return true,
            }
        }
    };
    let reset = tokio::time::timeout(within, read).await.ok()?;
    Some(HangUp {
        bytes,
        after: start.elapsed(),
        reset,
    })
}

/// Runs the client handshake on `stream` with `keys`, dialling `server`.
pub async fn handshake_as(
    stream: &mut TcpStream,
    keys: &Keypair,
    server: &PublicKey,
) -> Result<Session, handshake::HandshakeError> {
    handshake::client(stream, &app_key(), keys, server, Duration::from_secs(5)).await
}

/// An authenticated connection driven by hand: every byte after the handshake is ours to choose.
pub struct RawPeer {
    /// The node's frames, decrypted and decoded.
    pub frames: FramedRead<BoxReader<OwnedReadHalf>, PacketCodec>,
    /// The socket's write half, written raw.
    pub writer: OwnedWriteHalf,
    /// Seals what we send.
    pub encoder: FrameEncoder,
    /// Our box-stream key (for frames built by hand).
    pub key: BoxKey,
}

impl RawPeer {
    /// Connects with a fresh (anonymous) identity and completes the handshake.
    pub async fn connect(node: &Node) -> RawPeer {
        RawPeer::connect_as(node, &Keypair::generate()).await
    }

    /// Connects as `keys` and completes the handshake.
    pub async fn connect_as(node: &Node, keys: &Keypair) -> RawPeer {
        let mut stream = dial(node).await;
        let session = handshake_as(&mut stream, keys, &node.key)
            .await
            .unwrap_or_else(|e| panic!("handshake with the node failed: {e}"));
        let (read, writer) = stream.into_split();
        let reader = BoxReader::new(read, &session.decrypt);
        RawPeer {
            frames: FramedRead::new(reader, PacketCodec::new(64 * 1024 * 1024)),
            writer,
            encoder: FrameEncoder::new(&session.encrypt),
            key: session.encrypt,
        }
    }

    /// Writes bytes as they are, outside any box.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// Seals `plaintext` into box frames (as a normal writer would) and writes them; returns the
    /// bytes written.
    pub async fn send_boxed(&mut self, plaintext: &[u8]) -> io::Result<Vec<u8>> {
        let mut wire = Vec::new();
        self.encoder
            .encode_to_vec(plaintext, &mut wire)
            .map_err(io::Error::other)?;
        self.send_raw(&wire).await?;
        Ok(wire)
    }

    /// Encodes packets with the codec, seals and sends them.
    pub async fn send_packets(&mut self, packets: &[Packet]) -> io::Result<()> {
        let mut buf = BytesMut::new();
        for packet in packets {
            PacketCodec::encode_packet(packet, &mut buf).map_err(io::Error::other)?;
        }
        self.send_boxed(&buf).await.map(drop)
    }

    /// Sends one packet.
    pub async fn send_packet(&mut self, packet: Packet) -> io::Result<()> {
        self.send_packets(&[packet]).await
    }

    /// The next frame from the node; `Err` with what happened instead (end, error, silence).
    pub async fn next_frame(&mut self, within: Duration) -> Result<Frame, String> {
        match tokio::time::timeout(within, self.frames.next()).await {
            Err(_) => Err(format!("nothing within {within:?}")),
            Ok(None) => Err("end of stream".into()),
            Ok(Some(Err(e))) => Err(format!("read error: {e}")),
            Ok(Some(Ok(frame))) => Ok(frame),
        }
    }

    /// The next packet; panics on anything else.
    pub async fn next_packet(&mut self) -> Packet {
        match self.next_frame(REACT).await {
            Ok(Frame::Packet(p)) => p,
            other => panic!("expected a packet from the node, got {other:?}"),
        }
    }

    /// Reads frames until the node ends the session; returns the packets seen before the end and
    /// whether a goodbye came. Panics if the session is still open after `within`.
    pub async fn expect_end(&mut self, within: Duration) -> (Vec<Packet>, bool) {
        let deadline = Instant::now() + within;
        let mut packets = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_frame(left).await {
                Ok(Frame::Packet(p)) => packets.push(p),
                Ok(Frame::Goodbye) => return (packets, true),
                Err(e) if e.starts_with("nothing within") => {
                    panic!("the node kept the session open for {within:?}; got {packets:?}")
                }
                Err(_) => return (packets, false),
            }
        }
    }
}

/// A request body, `{"name":…,"args":…}` plus `"type"` for streams.
pub fn request(name: Value, args: Value, kind: Option<&str>) -> Body {
    let mut body = json!({ "name": name, "args": args });
    if let (Some(kind), Some(map)) = (kind, body.as_object_mut()) {
        map.insert("type".into(), json!(kind));
    }
    Body::Json(body)
}

/// An async call packet.
pub fn call(req: i32, name: Value, args: Value) -> Packet {
    Packet::new(req, false, false, request(name, args, None))
}

/// The first packet of a stream call.
pub fn open_stream(req: i32, kind: &str, name: Value, args: Value) -> Packet {
    Packet::new(req, true, false, request(name, args, Some(kind)))
}

/// The message of an error body, if it is one.
pub fn error_message(body: &Body) -> Option<String> {
    match body {
        Body::Json(Value::Object(map)) => map.get("message")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// A box frame sealed by hand: the header box says `claimed_len` (anything up to 65535,
/// unlike [`FrameEncoder`]) and carries the tag of `body` sealed with the next nonce; returns the
/// header and the body ciphertext. `nonce` moves on by two.
pub fn seal_custom_frame(
    key: &BoxKey,
    nonce: &mut Nonce,
    claimed_len: u16,
    body: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let cipher = XSalsa20Poly1305::new(&key.key.into());
    let mut body_ct = body.to_vec();
    let body_tag = cipher
        .encrypt_in_place_detached(nonce.next().as_bytes().into(), b"", &mut body_ct)
        .unwrap_or_else(|e| panic!("seal: {e}"));
    let mut header = Vec::with_capacity(18);
    header.extend_from_slice(&claimed_len.to_be_bytes());
    header.extend_from_slice(&body_tag);
    let header_tag = cipher
        .encrypt_in_place_detached(nonce.as_bytes().into(), b"", &mut header)
        .unwrap_or_else(|e| panic!("seal: {e}"));
    let mut boxed = header_tag.to_vec();
    boxed.extend_from_slice(&header);
    nonce.advance_frame();
    (boxed, body_ct)
}

// ---------------------------------------------------------------------------------------------
// Fault-injecting proxy

/// How the proxy kills a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close both sockets normally (FIN both ways).
    Drop,
    /// Reset both sockets (`SO_LINGER` 0, then close: RST both ways).
    Reset,
    /// Half-close towards the node only (it reads EOF; the client's side stays open).
    HalfCloseToNode,
}

/// A TCP proxy in front of the node; [`Proxy::kill`] breaks every connection through it.
pub struct Proxy {
    /// The port clients dial.
    pub port: u16,
    kill: watch::Sender<Option<Fault>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy forwarding to the node.
    pub async fn start(node: &Node) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy addr: {e}"))
            .port();
        let (kill, watch) = watch::channel(None);
        let target = node.port;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let watch = watch.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await {
                        pipe(client, server, watch).await;
                    }
                });
            }
        });
        Proxy { port, kill, task }
    }

    /// Breaks every connection through the proxy with `fault` (new ones are broken at once).
    pub fn kill(&self, fault: Fault) {
        self.kill.send_replace(Some(fault));
    }

    /// Lets new connections through again.
    pub fn heal(&self) {
        self.kill.send_replace(None);
    }
}

async fn pipe(client: TcpStream, server: TcpStream, mut watch: watch::Receiver<Option<Fault>>) {
    let fault = {
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let up = tokio::io::copy(&mut cr, &mut sw);
        let down = tokio::io::copy(&mut sr, &mut cw);
        let fault = tokio::select! {
            f = watch.wait_for(Option::is_some) => f.ok().and_then(|f| *f),
            _ = async { tokio::join!(up, down) } => None,
        };
        let client = cr.reunite(cw);
        let server = sr.reunite(sw);
        (fault, client, server)
    };
    match fault {
        (Some(Fault::Reset), Ok(client), Ok(server)) => {
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
        (Some(Fault::HalfCloseToNode), Ok(client), Ok(mut server)) => {
            let _ = server.shutdown().await;
            // The node reads EOF; what it still writes (its goodbye) reaches the client, then the
            // client's side is half-closed too.
            let (mut sr, _sw) = server.into_split();
            let (_cr, mut cw) = client.into_split();
            let _ =
                tokio::time::timeout(Duration::from_secs(30), tokio::io::copy(&mut sr, &mut cw))
                    .await;
            let _ = cw.shutdown().await;
        }
        _ => {}
    }
}

/// Dials `address` as `keys` and starts RPC on the connection (serving nothing); the node's id
/// comes from the address. A failure is the error with its causes, `: `-joined.
pub async fn connect_client(address: &str, keys: &Keypair) -> Result<RpcHandle, String> {
    let shs = Shs::new(keys.clone(), app_key()).with_timeout(Duration::from_secs(20));
    let mut ms = Multiserver::new();
    ms.add_transport(Net)
        .and_then(|m| m.add_transform(shs))
        .and_then(|m| m.add_outgoing("net", "shs"))
        .map_err(|e| e.to_string())?;
    let established = ms
        .connect(address)
        .await
        .map_err(|e| crate::stack_fixtures::error_chain(&e).join(": "))?;
    // We serve nothing: an empty allow-list refuses every call the node might make.
    let ctx = CallContext::new(
        established.info.remote,
        Permissions::allow(Vec::<String>::new()),
        1,
    );
    let connection = established.connection;
    Ok(RpcHandle::start(
        connection.reader,
        connection.writer,
        Arc::new(MethodTable::new()),
        ctx,
        RpcConfig::default(),
    ))
}

/// Shared count of things (calls answered, errors seen) across tasks.
#[derive(Debug, Default, Clone)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    /// Adds one.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}
