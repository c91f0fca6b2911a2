//! The multiserver transports over real sockets on this machine (TCP on 127.0.0.1, Unix sockets in
//! a temporary directory, WebSocket on 127.0.0.1): bytes both ways, EOF each way, `noauth` and `shs`
//! over each,
//! falling back across alternatives, refusals and error texts, and a transport added through the
//! public trait.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack::multiserver::{
    AddressError, ByteStream, DialError, IncomingEntry, ListenConfig, ListenError, Listener,
    Multiserver, Net, NoAuth, Protocol, Scope, Shs, ShsAddress, Transport, Unix, UnixAddress, Ws,
    WsAddress,
};
use secret_stack::rpc::Permissions;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

const KEY: PublicKey = PublicKey([7; 32]);

/// Fails the test instead of hanging.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("timed out")
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Sends `data` one way and checks it arrives whole.
async fn one_way(from: &mut ByteStream, to: &mut ByteStream, data: &[u8]) {
    let send = async {
        from.writer.write_all(data).await?;
        from.writer.flush().await
    };
    let receive = async {
        let mut buf = vec![0; data.len()];
        to.reader.read_exact(&mut buf).await.map(|_| buf)
    };
    let (sent, received) = tokio::join!(send, receive);
    sent.expect("send");
    assert!(
        received.expect("receive") == data,
        "bytes changed in transit"
    );
}

/// Small and large messages both ways, then EOF client→server, then EOF server→client.
async fn exchange(mut client: ByteStream, mut server: ByteStream) {
    one_way(&mut client, &mut server, b"ping").await;
    one_way(&mut server, &mut client, b"pong").await;
    one_way(&mut client, &mut server, &pattern(300_000, 1)).await;
    one_way(&mut server, &mut client, &pattern(300_000, 2)).await;

    client.writer.shutdown().await.expect("client shutdown");
    let mut rest = Vec::new();
    server
        .reader
        .read_to_end(&mut rest)
        .await
        .expect("server reads EOF");
    assert!(rest.is_empty());

    server.writer.shutdown().await.expect("server shutdown");
    client
        .reader
        .read_to_end(&mut rest)
        .await
        .expect("client reads EOF");
    assert!(rest.is_empty());
}

/// Listens with `transport` on `config`, dials what the listener prints for `scope`, and returns
/// both ends.
async fn pair<T: Transport>(
    transport: &T,
    config: &ListenConfig,
    scope: Scope,
) -> (ByteStream, ByteStream, Box<dyn Listener>) {
    let mut listener = transport.listen(config).await.expect("listen");
    let printed = listener.address(scope);
    assert_eq!(printed.len(), 1, "one address for {scope}: {printed:?}");
    let address = transport.parse(&printed[0]).expect("own address parses");
    let (client, server) = tokio::join!(transport.connect(&address), listener.accept());
    (client.expect("connect"), server.expect("accept"), listener)
}

fn loopback() -> ListenConfig {
    ListenConfig::new(Scope::Device, "127.0.0.1")
}

#[tokio::test]
async fn net_moves_bytes_both_ways_with_eof() {
    within(async {
        let (client, server, listener) = pair(&Net, &loopback(), Scope::Device).await;
        assert!(listener.is_device_only());
        assert!(listener.address(Scope::Public).is_empty());
        assert_eq!(client.transport, "net");
        assert!(
            client.address.starts_with("net:127.0.0.1:"),
            "{}",
            client.address
        );
        assert!(
            server.address.starts_with("net:127.0.0.1:"),
            "{}",
            server.address
        );
        exchange(client, server).await;
    })
    .await;
}

#[tokio::test]
async fn net_over_ipv6_loopback_when_available() {
    within(async {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback here; skipping");
            return;
        }
        let config = ListenConfig::new(Scope::Device, "::1");
        let (client, server, listener) = pair(&Net, &config, Scope::Device).await;
        let printed = listener.address(Scope::Device)[0].to_string();
        assert!(printed.starts_with("net:::1:"), "{printed}");
        assert!(client.address.starts_with("net:::1:"), "{}", client.address);
        exchange(client, server).await;
    })
    .await;
}

#[tokio::test]
async fn unix_moves_bytes_both_ways_with_eof() {
    within(async {
        let (client, server, listener) = pair(&Unix, &ListenConfig::default(), Scope::Device).await;
        assert!(listener.is_device_only());
        let printed = listener.address(Scope::Device)[0].clone();
        let socket = UnixAddress::from_protocol(&printed).unwrap().path;
        assert!(socket.ends_with("socket") && socket.exists());
        assert_eq!(server.address, printed.to_string());
        assert!(listener.address(Scope::Local).is_empty());
        exchange(client, server).await;
        drop(listener);
        assert!(!socket.exists(), "socket file removed with the listener");
    })
    .await;
}

#[tokio::test]
async fn unix_replaces_a_stale_socket_but_not_a_live_one() {
    within(async {
        let config = ListenConfig::default();
        let live = Unix.listen(&config).await.unwrap();
        let socket = UnixAddress::from_protocol(&live.address(Scope::Device)[0])
            .unwrap()
            .path;
        let dir = socket.parent().unwrap().to_path_buf();
        let same_dir = ListenConfig {
            path: Some(dir.clone()),
            ..ListenConfig::default()
        };
        let err = Unix
            .listen(&same_dir)
            .await
            .err()
            .expect("live socket kept");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);

        drop(live);
        assert!(
            !dir.exists(),
            "temporary directory removed with the listener"
        );

        // A socket file nobody listens on any more (std does not unlink on drop).
        let dir = std::env::temp_dir().join(format!("ms-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        drop(std::os::unix::net::UnixListener::bind(dir.join("socket")).unwrap());
        assert!(dir.join("socket").exists());
        let mut replaced = Unix
            .listen(&ListenConfig {
                path: Some(dir.clone()),
                ..ListenConfig::default()
            })
            .await
            .expect("stale socket replaced");
        let address = UnixAddress {
            path: dir.join("socket"),
        };
        let (client, server) = tokio::join!(Unix.connect(&address), replaced.accept());
        exchange(client.unwrap(), server.unwrap()).await;
        drop(replaced);
        std::fs::remove_dir(&dir).unwrap();
    })
    .await;
}

#[tokio::test]
async fn ws_moves_bytes_both_ways_with_eof() {
    within(async {
        let (client, server, listener) = pair(&Ws, &loopback(), Scope::Device).await;
        assert!(listener.is_device_only());
        let printed = listener.address(Scope::Device)[0].to_string();
        assert!(printed.starts_with("ws://127.0.0.1:"), "{printed}");
        assert_eq!(client.address, printed);
        assert!(
            server.address.starts_with("ws://127.0.0.1:"),
            "{}",
            server.address
        );
        exchange(client, server).await;
    })
    .await;
}

#[tokio::test]
async fn wss_parses_but_is_not_dialled() {
    let address: WsAddress = "wss://127.0.0.1:1".parse().unwrap();
    let err = Ws.connect(&address).await.expect_err("no TLS");
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("wss://"), "{err}");
}

fn noauth_registry(transport: &str) -> Multiserver {
    let mut ms = Multiserver::new();
    ms.add_transport(Net).unwrap();
    ms.add_transport(Unix).unwrap();
    ms.add_transport(Ws).unwrap();
    ms.add_transform(NoAuth::new(KEY)).unwrap();
    ms.add_outgoing(transport, "noauth").unwrap();
    ms
}

fn entry(transport: &str, config: ListenConfig) -> IncomingEntry {
    IncomingEntry {
        transport: transport.into(),
        transform: "noauth".into(),
        config,
    }
}

#[tokio::test]
async fn noauth_over_each_transport() {
    within(async {
        for (transport, config) in [
            ("net", loopback()),
            ("unix", ListenConfig::default()),
            ("ws", loopback()),
        ] {
            let ms = noauth_registry(transport);
            let mut server = ms.listen(&[entry(transport, config)]).await.unwrap();
            let address = server.address(Scope::Device);
            assert!(address.starts_with(&format!("{transport}:")), "{address}");
            assert!(address.ends_with("~noauth"), "{address}");
            assert_eq!(server.address(Scope::Public), "");

            let (client, incoming) = tokio::join!(ms.connect(&address), server.accept());
            let client = client.unwrap();
            let incoming = incoming.unwrap();
            let noauth_section = Protocol::new("noauth", [base64_key()]).unwrap();
            for side in [&client, &incoming] {
                assert_eq!(side.info.remote, KEY, "noauth reports our own key");
                assert_eq!(side.info.permissions, Some(Permissions::full()));
                assert_eq!(side.info.section, noauth_section);
                assert_eq!(side.suite, format!("{transport}~noauth"));
                assert!(
                    side.connection
                        .address
                        .ends_with(&format!("~{noauth_section}")),
                    "{}",
                    side.connection.address
                );
            }
            exchange(client.connection, incoming.connection).await;
        }
    })
    .await;
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(KEY.0)
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn dial_falls_back_to_the_next_alternative() {
    within(async {
        let ms = noauth_registry("net");
        let mut server = ms.listen(&[entry("net", loopback())]).await.unwrap();
        let good = server.address(Scope::Device);
        let dead = format!("net:127.0.0.1:{}~noauth", closed_port());
        let address = format!("{dead};bogus:x;{good}");

        let plan = ms.plan(&address).unwrap();
        assert_eq!(
            plan.iter().map(|c| c.alternative).collect::<Vec<_>>(),
            [0, 2]
        );
        let (client, incoming) = tokio::join!(ms.connect(&address), server.accept());
        let client = client.expect("second alternative used");
        assert!(
            client
                .connection
                .address
                .starts_with(good.trim_end_matches("~noauth"))
        );
        exchange(client.connection, incoming.unwrap().connection).await;

        // Every alternative refused: each failure is reported, in order.
        let dead2 = format!("net:127.0.0.1:{}~noauth", closed_port());
        let err = ms.connect(&format!("{dead};{dead2}")).await.unwrap_err();
        let DialError::Exhausted(failures) = &err else {
            panic!("expected every failure, got {err}");
        };
        assert_eq!(failures.len(), 2);
        for (failure, expected) in failures.iter().zip([&dead, &dead2]) {
            let DialError::Dial { address, source } = failure else {
                panic!("expected a dial failure, got {failure}");
            };
            assert_eq!(address, expected);
            assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused);
        }
        assert!(
            err.to_string()
                .starts_with("all 2 alternatives failed: could not dial ")
        );

        // A single alternative reports its own error.
        let err = ms.connect(&dead).await.unwrap_err();
        assert!(matches!(err, DialError::Dial { .. }), "{err}");
    })
    .await;
}

#[tokio::test]
async fn unparseable_addresses_use_the_js_error_text() {
    let ms = noauth_registry("net");
    for address in [
        "bogus:address",
        "",
        "net:host com:1~noauth",
        "net:127.0.0.1:8008",
        "net:127.0.0.1:8008~shs:abc",
        "unix:/tmp/x~noauth",
    ] {
        let err = ms.connect(address).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("could not connect to:{address}, only know:net~noauth")
        );
    }
    // The typed error keeps the reasons.
    let Err(DialError::Unparseable { reasons, .. }) = ms.plan("net:host com:1~noauth") else {
        panic!("expected unparseable");
    };
    assert_eq!(reasons[0].1, AddressError::BadChar { ch: ' ', at: 8 });
}

#[tokio::test]
async fn noauth_refuses_listeners_others_can_reach() {
    within(async {
        let mut ms = Multiserver::new();
        ms.add_transport(Memory::default()).unwrap();
        ms.add_transform(NoAuth::new(KEY)).unwrap();
        let exposed = memory_config("exposed", false);
        let err = ms
            .listen(&[entry("mem", exposed.clone())])
            .await
            .unwrap_err();
        assert!(matches!(err, ListenError::NotDeviceOnly { .. }), "{err}");
        assert!(
            err.to_string().contains("noauth does not authenticate"),
            "{err}"
        );

        // Explicitly allowed.
        let mut ms = Multiserver::new();
        ms.add_transport(Memory::default()).unwrap();
        ms.add_transform(NoAuth::new(KEY).allow_any_listener())
            .unwrap();
        assert!(ms.listen(&[entry("mem", exposed)]).await.is_ok());
    })
    .await;
}

#[tokio::test]
async fn listen_reports_unknown_names_and_bind_failures() {
    let ms = noauth_registry("net");
    let mut bad = entry("net", loopback());
    bad.transform = "shs".into();
    let err = ms.listen(&[bad]).await.unwrap_err();
    assert_eq!(err.to_string(), "no transform named \"shs\" is registered");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = ms
        .listen(&[entry("net", loopback().with_port(port))])
        .await
        .unwrap_err();
    assert!(matches!(err, ListenError::Bind { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("could not listen with net~noauth: "),
        "{err}"
    );
}

#[tokio::test]
async fn server_prints_every_listener_for_a_scope() {
    within(async {
        let ms = noauth_registry("net");
        let server = ms
            .listen(&[entry("net", loopback()), entry("ws", loopback())])
            .await
            .unwrap();
        let address = server.address(Scope::Device);
        let parts: Vec<&str> = address.split(';').collect();
        assert_eq!(parts.len(), 2, "{address}");
        assert!(parts[0].starts_with("net:127.0.0.1:") && parts[0].ends_with("~noauth"));
        assert!(parts[1].starts_with("ws://127.0.0.1:") && parts[1].ends_with("~noauth"));
        assert_eq!(server.address_book().address(Scope::Device), address);
        assert!(server.address_book().multiaddress(Scope::Public).is_none());
    })
    .await;
}

// ---- A transport added through the public trait: in-memory pipes. ----

/// `mem:<name>` — connects to the in-process listener registered under `name`.
#[derive(Clone, Default)]
struct Memory {
    listeners: Arc<Mutex<HashMap<String, mpsc::Sender<DuplexStream>>>>,
}

fn memory_config(name: &str, device_only: bool) -> ListenConfig {
    let mut config = ListenConfig::default();
    config.options.insert("name".into(), name.into());
    config
        .options
        .insert("device_only".into(), device_only.into());
    config
}

struct MemoryListener {
    name: String,
    incoming: mpsc::Receiver<DuplexStream>,
    device_only: bool,
}

impl Transport for Memory {
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
            let sender = self.listeners.lock().unwrap().get(name).cloned();
            let sender = sender.ok_or(io::ErrorKind::ConnectionRefused)?;
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            sender
                .send(theirs)
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
            Ok(ByteStream::from_duplex(ours, format!("mem:{name}"), "mem"))
        })
    }

    fn listen<'a>(
        &'a self,
        config: &'a ListenConfig,
    ) -> BoxFuture<'a, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let name = config.options["name"].as_str().unwrap().to_owned();
            let device_only = config.options["device_only"].as_bool().unwrap();
            let (sender, incoming) = mpsc::channel(8);
            self.listeners.lock().unwrap().insert(name.clone(), sender);
            Ok(Box::new(MemoryListener {
                name,
                incoming,
                device_only,
            }) as Box<dyn Listener>)
        })
    }
}

impl Listener for MemoryListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<ByteStream>> {
        Box::pin(async move {
            let stream = self
                .incoming
                .recv()
                .await
                .ok_or(io::ErrorKind::NotConnected)?;
            Ok(ByteStream::from_duplex(
                stream,
                format!("mem:{}", self.name),
                "mem",
            ))
        })
    }

    fn scopes(&self) -> &[Scope] {
        &[Scope::Device]
    }

    fn address(&self, scope: Scope) -> Vec<Protocol> {
        if scope == Scope::Device {
            vec![Protocol::new("mem", [self.name.as_str()]).unwrap()]
        } else {
            Vec::new()
        }
    }

    fn is_device_only(&self) -> bool {
        self.device_only
    }
}

#[tokio::test]
async fn a_plugin_transport_works_through_the_registry() {
    within(async {
        let mut ms = Multiserver::new();
        ms.add_transport(Net).unwrap();
        ms.add_transport(Memory::default()).unwrap();
        ms.add_transform(NoAuth::new(KEY)).unwrap();
        ms.add_outgoing("net", "noauth").unwrap();
        ms.add_outgoing("mem", "noauth").unwrap();
        assert_eq!(ms.suites(), "net~noauth;mem~noauth");
        assert!(
            ms.add_transport(Memory::default()).is_err(),
            "names are unique"
        );

        let mut server = ms
            .listen(&[entry("mem", memory_config("alpha", true))])
            .await
            .unwrap();
        assert_eq!(server.address(Scope::Device), "mem:alpha~noauth");

        let (client, incoming) = tokio::join!(ms.connect("mem:alpha~noauth"), server.accept());
        let client = client.unwrap();
        assert_eq!(client.suite, "mem~noauth");
        assert_eq!(
            client.connection.address,
            format!("mem:alpha~noauth:{}", base64_key())
        );
        exchange(client.connection, incoming.unwrap().connection).await;

        let err = ms.connect("mem:nobody~noauth").await.unwrap_err();
        assert!(matches!(err, DialError::Dial { .. }), "{err}");
    })
    .await;
}

// ---- shs: secret handshake + box stream over each transport. ----

const APP_KEY: AppKey = AppKey([9; 32]);

fn shs_registry(keys: Keypair, app_key: AppKey, transport: &str) -> Multiserver {
    let admin = Keypair::from_seed(&[1; 32]).public();
    let mut ms = Multiserver::new();
    ms.add_transport(Net).unwrap();
    ms.add_transport(Unix).unwrap();
    ms.add_transport(Ws).unwrap();
    let shs = Shs::new(keys, app_key)
        .with_timeout(Duration::from_secs(2))
        .with_authorize(move |client| async move {
            if client == admin {
                Some(Permissions::full())
            } else if client == Keypair::from_seed(&[66; 32]).public() {
                None
            } else {
                Some(Permissions::allow(["manifest"]))
            }
        });
    ms.add_transform(shs).unwrap();
    ms.add_outgoing(transport, "shs").unwrap();
    ms
}

fn shs_entry(transport: &str, config: ListenConfig) -> IncomingEntry {
    IncomingEntry {
        transport: transport.into(),
        transform: "shs".into(),
        config,
    }
}

#[tokio::test]
async fn shs_over_each_transport() {
    within(async {
        let server_keys = Keypair::from_seed(&[10; 32]);
        let client_keys = Keypair::from_seed(&[1; 32]);
        for (transport, config) in [
            ("net", loopback()),
            ("unix", ListenConfig::default()),
            ("ws", loopback()),
        ] {
            let server_ms = shs_registry(server_keys.clone(), APP_KEY, transport);
            let client_ms = shs_registry(client_keys.clone(), APP_KEY, transport);
            let mut server = server_ms
                .listen(&[shs_entry(transport, config)])
                .await
                .unwrap();
            let address = server.address(Scope::Device);
            let section = ShsAddress::new(server_keys.public()).to_string();
            assert!(address.ends_with(&format!("~{section}")), "{address}");

            let (client, incoming) = tokio::join!(client_ms.connect(&address), server.accept());
            let client = client.unwrap();
            let incoming = incoming.unwrap();
            assert_eq!(client.info.remote, server_keys.public());
            assert_eq!(client.info.permissions, None, "the dialler's stack decides");
            assert_eq!(incoming.info.remote, client_keys.public());
            assert_eq!(incoming.info.permissions, Some(Permissions::full()));
            assert!(client.connection.address.ends_with(&format!("~{section}")));
            let client_section = ShsAddress::new(client_keys.public()).to_string();
            assert!(
                incoming
                    .connection
                    .address
                    .ends_with(&format!("~{client_section}")),
                "{}",
                incoming.connection.address
            );
            exchange(client.connection, incoming.connection).await;
        }
    })
    .await;
}

/// The text of the cause of a failed connection: for a refused handshake, the handshake's error.
fn source_text(err: &DialError) -> String {
    std::error::Error::source(err)
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[tokio::test]
async fn shs_refusals_carry_the_js_texts() {
    within(async {
        let server_keys = Keypair::from_seed(&[10; 32]);
        let server_ms = shs_registry(server_keys.clone(), APP_KEY, "net");
        let mut server = server_ms.listen(&[shs_entry("net", loopback())]).await.unwrap();
        let address = server.address(Scope::Device);
        tokio::spawn(async move { while server.accept().await.is_some() {} });

        // Refused by the authorisation hook.
        let refused = shs_registry(Keypair::from_seed(&[66; 32]), APP_KEY, "net");
        let err = refused.connect(&address).await.unwrap_err();
        assert!(matches!(err, DialError::Transform { .. }), "{err}");
        assert_eq!(err.to_string(), format!("the handshake with {address} failed"));
        assert!(
            source_text(&err).starts_with(
                "shs.client: server hung up when we sent hello (phase 3).\nPossibly we dailed a wrong number, or the server does not wish to talk to us."
            ),
            "{err}"
        );

        // Another network.
        let stranger = shs_registry(Keypair::from_seed(&[2; 32]), AppKey([8; 32]), "net");
        let err = stranger.connect(&address).await.unwrap_err();
        assert!(
            source_text(&err).starts_with(
                "shs.client: error when expecting server to accept challenge (phase 1).\npossibly the server is busy, does not speak shs or uses a different application cap"
            ),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn shs_seeded_address_dials_with_the_seed_identity() {
    within(async {
        let server_keys = Keypair::from_seed(&[10; 32]);
        let server_ms = shs_registry(server_keys.clone(), APP_KEY, "net");
        let mut server = server_ms
            .listen(&[shs_entry("net", loopback())])
            .await
            .unwrap();
        let seed = [1u8; 32];
        let seeded = ShsAddress {
            key: server_keys.public(),
            seed: Some(seed),
        };
        let net = server.address(Scope::Device);
        let transport_part = net.split('~').next().unwrap();
        let address = format!("{transport_part}~{seeded}");

        let client_ms = shs_registry(Keypair::from_seed(&[3; 32]), APP_KEY, "net");
        let (client, incoming) = tokio::join!(client_ms.connect(&address), server.accept());
        client.unwrap();
        let incoming = incoming.unwrap();
        assert_eq!(incoming.info.remote, Keypair::from_seed(&seed).public());
        assert_eq!(incoming.info.permissions, Some(Permissions::full()));
    })
    .await;
}
