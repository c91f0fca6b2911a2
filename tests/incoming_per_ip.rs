//! One address cannot take every place of a node: the per-IP caps on incoming connections and on
//! handshakes in progress (set here through the config's `global.incomingLimits`, as an operator
//! would) close new streams from an address at its cap at once, while other addresses, and the
//! same address once it holds less, get in.
//!
//! Loopback has a whole /8 on Linux: the "other hosts" dial from 127.0.0.2 and 127.0.0.3 to the
//! node on 127.0.0.1, so nothing leaves the machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use secret_stack::handshake;
use secret_stack::keys::{Keypair, PublicKey};
use secret_stack::multiserver::{IncomingStats, Scope};
use secret_stack::stack::{App, Config, SecretStack};
use secret_stack_tests::hostile::{REACT, app_key, isolated, read_until_closed, wait_until};
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};

/// A node with only the core plugin, its caps from the config.
struct Node {
    app: App,
    port: u16,
    key: PublicKey,
}

impl Node {
    async fn start(limits: serde_json::Value) -> Node {
        let keys = Keypair::generate();
        let config = Config::from_json(json!({
            "global": {
                "host": "127.0.0.1",
                // Long enough that a stalled handshake is still held while the test runs.
                "timers": {"handshake": 20_000},
                "incomingLimits": limits,
            }
        }))
        .unwrap_or_else(|e| panic!("config: {e}"));
        let app = SecretStack::builder()
            .app_key(app_key())
            .keypair(keys.clone())
            .build(config)
            .unwrap_or_else(|e| panic!("node did not build: {e}"));
        app.listen().await;
        let address = app.address(Scope::Device);
        let port = address
            .split('~')
            .next()
            .and_then(|net| net.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected node address {address:?}"));
        Node {
            app,
            port,
            key: keys.public(),
        }
    }

    fn stats(&self) -> IncomingStats {
        self.app.incoming_stats()
    }

    /// A raw TCP connection from `127.0.0.<host>`.
    async fn dial_from(&self, host: u8) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap_or_else(|e| panic!("socket: {e}"));
        let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)), 0);
        socket
            .bind(from)
            .unwrap_or_else(|e| panic!("bind {from}: {e}"));
        socket
            .connect(SocketAddr::from(([127, 0, 0, 1], self.port)))
            .await
            .unwrap_or_else(|e| panic!("dial from {from}: {e}"))
    }

    /// A connection from `127.0.0.<host>` that completed the secret handshake.
    async fn session_from(&self, host: u8) -> Result<TcpStream, String> {
        let mut stream = self.dial_from(host).await;
        let keys = Keypair::generate();
        handshake::client(&mut stream, &app_key(), &keys, &self.key, REACT)
            .await
            .map_err(|e| format!("handshake from 127.0.0.{host}: {e}"))?;
        Ok(stream)
    }

    /// Asserts that a connection from `127.0.0.<host>` is closed at once without a byte.
    async fn assert_refused(&self, host: u8, what: &str) {
        let start = Instant::now();
        let mut stream = self.dial_from(host).await;
        let seen = read_until_closed(&mut stream, REACT)
            .await
            .unwrap_or_else(|| panic!("{what}: the connection was kept open"));
        assert!(seen.bytes.is_empty(), "{what}: got {:?}", seen.bytes);
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "{what}: closed after {took:?}"
        );
    }
}

#[test]
fn connections_over_the_per_ip_cap_are_closed_while_other_addresses_get_in() {
    isolated(async {
        let node = Node::start(json!({"maxConnectionsPerIp": 2})).await;
        let limits = node.stats().limits;
        assert_eq!(limits.max_connections_per_ip.get(), 2);
        assert_eq!(
            limits.max_connections.get(),
            1024,
            "the other caps keep their defaults"
        );

        let mut first = Vec::new();
        for i in 0..2 {
            let session = node.session_from(1).await;
            first.push(session.unwrap_or_else(|e| panic!("session {i} under the cap: {e}")));
        }
        node.assert_refused(1, "a third connection from 127.0.0.1")
            .await;
        // Other addresses are not held back by 127.0.0.1's cap.
        let other = node.session_from(2).await;
        let other = other.unwrap_or_else(|e| panic!("another address: {e}"));
        let third = node.session_from(3).await;
        let third = third.unwrap_or_else(|e| panic!("a third address: {e}"));
        assert!(
            wait_until(REACT, || node.stats().connections == 4).await,
            "{:?}",
            node.stats()
        );
        let s = node.stats();
        assert_eq!((s.refused_per_ip, s.refused), (1, 0), "{s:?}");

        // One of 127.0.0.1's connections ends: its place frees.
        drop(first.remove(0));
        assert!(
            wait_until(REACT, || node.stats().connections == 3).await,
            "the place of a closed connection was not given back: {:?}",
            node.stats()
        );
        let again = node.session_from(1).await;
        again.unwrap_or_else(|e| panic!("127.0.0.1 after one of its connections ended: {e}"));
        assert_eq!(node.stats().refused_per_ip, 1);
        drop((first, other, third));
        node.app.close().await;
    });
}

#[test]
fn handshakes_over_the_per_ip_cap_are_closed_without_pausing_other_addresses() {
    isolated(async {
        let node = Node::start(json!({"maxHandshakesPerIp": 2, "maxHandshakes": 64})).await;
        // Two handshakes from 127.0.0.1 that never send a byte.
        let mut stalled = Vec::new();
        for _ in 0..2 {
            stalled.push(node.dial_from(1).await);
        }
        assert!(
            wait_until(REACT, || node.stats().handshakes == 2).await,
            "{:?}",
            node.stats()
        );
        node.assert_refused(1, "a third handshake from 127.0.0.1")
            .await;
        // Accepting did not pause: another address completes its handshake meanwhile.
        let other = node.session_from(2).await;
        let other = other.unwrap_or_else(|e| panic!("another address: {e}"));
        let s = node.stats();
        assert_eq!(
            (
                s.handshakes,
                s.refused_handshakes_per_ip,
                s.deferred,
                s.refused
            ),
            (2, 1, 0, 0),
            "{s:?}"
        );
        // The stalled ones give up: 127.0.0.1 may handshake again.
        drop(stalled);
        assert!(
            wait_until(REACT, || node.stats().handshakes == 0).await,
            "the stalled handshakes' places were not given back: {:?}",
            node.stats()
        );
        let again = node.session_from(1).await;
        again.unwrap_or_else(|e| panic!("127.0.0.1 after its handshakes ended: {e}"));
        drop(other);
        node.app.close().await;
    });
}

#[test]
fn a_cap_of_zero_in_the_config_is_refused_with_its_key() {
    let config =
        Config::from_json(json!({"global": {"incomingLimits": {"maxHandshakesPerIp": 0}}}))
            .unwrap_or_else(|e| panic!("config: {e}"));
    let built = SecretStack::builder()
        .app_key(app_key())
        .keypair(Keypair::generate())
        .build(config);
    match built {
        Ok(_) => panic!("a node with a cap of 0 was built"),
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains("incomingLimits.maxHandshakesPerIp is 0"),
                "{text}"
            );
        }
    }
}
