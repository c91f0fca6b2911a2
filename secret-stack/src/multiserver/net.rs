//! The `net` transport: TCP, with TCP_NODELAY on both sides, IPv4 and IPv6, and its address form
//! `net:<host>:<port>`.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::address::{AddressError, Protocol};
use super::config::ListenConfig;
use super::scope::Scope;
use super::transport::{Announce, ByteStream, Listener, Transport, is_wildcard};

/// A `net:<host>:<port>` section.
///
/// Parsing follows multiserver 3.8.2: the port is the last field, the host is everything before it
/// rejoined with `:` (so unbracketed IPv6 works: `net:::1:8008`), an empty host is `localhost` and
/// an empty port is 0. Unlike JS, the port must be decimal digits within 0–65535 (JS's `Number()`
/// also takes `0x1f`, `1e3`, or 99999).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetAddress {
    /// Host name or IP (IPv6 without brackets; a `%zone` suffix is kept for dialling).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl NetAddress {
    /// Reads a `net` section.
    pub fn from_protocol(section: &Protocol) -> Result<NetAddress, AddressError> {
        if section.name() != "net" {
            return Err(AddressError::WrongProtocol {
                expected: "net",
                got: section.name().to_owned(),
            });
        }
        let (host, port) = host_and_port("net", section)?;
        Ok(NetAddress { host, port })
    }

    /// The section as printed: the host's IPv6 zone (`%eth0`) is dropped, as JS does.
    pub fn to_protocol(&self) -> Result<Protocol, AddressError> {
        let host = strip_zone(&self.host);
        let port = self.port.to_string();
        Protocol::new("net", host.split(':').chain([port.as_str()]))
    }

    /// The address of a socket peer, IPv4-mapped IPv6 shown as IPv4.
    pub fn from_socket(addr: SocketAddr) -> NetAddress {
        NetAddress {
            host: addr.ip().to_canonical().to_string(),
            port: addr.port(),
        }
    }
}

impl fmt::Display for NetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_protocol() {
            Ok(p) => write!(f, "{p}"),
            // Hosts with characters the grammar does not allow still print, unescaped.
            Err(_) => write!(f, "net:{}:{}", strip_zone(&self.host), self.port),
        }
    }
}

impl FromStr for NetAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NetAddress::from_protocol(&s.parse()?)
    }
}

/// Splits `<host...>:<port>` data the multiserver way; shared with `onion`.
pub(crate) fn host_and_port(
    protocol: &str,
    section: &Protocol,
) -> Result<(String, u16), AddressError> {
    let Some((port, host)) = section.data().split_last() else {
        return Err(AddressError::invalid(
            protocol,
            section,
            "expected <host>:<port>",
        ));
    };
    if host.is_empty() {
        return Err(AddressError::invalid(
            protocol,
            section,
            "expected <host>:<port>",
        ));
    }
    let port = if port.is_empty() {
        0
    } else if port.bytes().all(|b| b.is_ascii_digit()) {
        port.parse::<u16>().map_err(|_| {
            AddressError::invalid(protocol, section, format!("port {port} is above 65535"))
        })?
    } else {
        return Err(AddressError::invalid(
            protocol,
            section,
            format!("port {port:?} is not a number"),
        ));
    };
    let host = host.join(":");
    let host = if host.is_empty() {
        "localhost".to_owned()
    } else {
        host
    };
    Ok((host, port))
}

/// Drops a trailing IPv6 zone (`%` followed by word characters).
fn strip_zone(host: &str) -> &str {
    match host.rsplit_once('%') {
        Some((ip, zone))
            if !zone.is_empty() && zone.chars().all(|c| c.is_alphanumeric() || c == '_') =>
        {
            ip
        }
        _ => host,
    }
}

/// The TCP transport.
#[derive(Debug, Clone, Copy, Default)]
pub struct Net;

impl Net {
    /// The `net` sections a listener bound to `port` prints for `scope` (JS net `stringify`): one per
    /// host of [`Announce::hosts`], IPv6 zones dropped.
    pub fn listener_addresses(announce: &Announce, port: u16, scope: Scope) -> Vec<Protocol> {
        listener_addresses(announce, port, scope)
    }
}

impl Transport for Net {
    type Address = NetAddress;

    fn name(&self) -> &str {
        "net"
    }

    fn parse(&self, section: &Protocol) -> Result<NetAddress, AddressError> {
        NetAddress::from_protocol(section)
    }

    fn connect<'a>(&'a self, address: &'a NetAddress) -> BoxFuture<'a, io::Result<ByteStream>> {
        Box::pin(async move {
            let stream = dial(&address.host, address.port).await?;
            let peer = stream.peer_addr()?;
            debug!(%peer, "net: connected");
            Ok(tcp_connection(stream, peer))
        })
    }

    fn listen<'a>(
        &'a self,
        config: &'a ListenConfig,
    ) -> BoxFuture<'a, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let bound = bind(config).await?;
            Ok(Box::new(NetListener { bound }) as Box<dyn Listener>)
        })
    }
}

/// How long a TCP connect may wait for the other side's answer: as long as the default handshake
/// timeout. A host that is cut off (its link down, its packets dropped) never answers, and the
/// kernel alone would keep retrying for about two minutes, longer than any caller waits.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// Opens a TCP connection with TCP_NODELAY set, giving up after [`DIAL_TIMEOUT`].
pub(crate) async fn dial(host: &str, port: u16) -> io::Result<TcpStream> {
    let connect = TcpStream::connect((host, port));
    let stream = tokio::time::timeout(DIAL_TIMEOUT, connect)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from {host}:{port} within {DIAL_TIMEOUT:?}: the host is down or cut off"),
            )
        })??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A TCP connection as a [`ByteStream`] from `peer`.
fn tcp_connection(stream: TcpStream, peer: SocketAddr) -> ByteStream {
    let (reader, writer) = stream.into_split();
    ByteStream::new(
        reader,
        writer,
        NetAddress::from_socket(peer).to_string(),
        "net",
    )
}

/// A bound TCP listener and what it announces; shared with `ws`.
pub(crate) struct BoundTcp {
    pub(crate) listener: TcpListener,
    pub(crate) port: u16,
    pub(crate) announce: Announce,
    device_only: bool,
}

impl BoundTcp {
    /// The scopes it serves.
    pub(crate) fn scopes(&self) -> &[Scope] {
        &self.announce.scopes
    }

    /// True when bound to a loopback address.
    pub(crate) fn is_device_only(&self) -> bool {
        self.device_only
    }
}

/// Binds as `config` says (see [`ListenConfig::host`]), remembering what to announce.
pub(crate) async fn bind(config: &ListenConfig) -> io::Result<BoundTcp> {
    let scopes = config.scopes_or_device();
    let port = config.port.unwrap_or(0);
    let listener = match &config.host {
        Some(host) if !is_wildcard(host) => TcpListener::bind((host.as_str(), port)).await?,
        Some(_) => bind_all(port).await?,
        None => match scopes.as_slice() {
            [Scope::Device] => TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?,
            [single] => match single.host() {
                Some(host) => TcpListener::bind((host.as_str(), port)).await?,
                None => bind_all(port).await?,
            },
            _ => bind_all(port).await?,
        },
    };
    let local = listener.local_addr()?;
    debug!(%local, ?scopes, "net: listening");
    let announce = Announce {
        scopes,
        host: config.host.clone(),
        external: config.external.clone(),
    };
    Ok(BoundTcp {
        listener,
        port: local.port(),
        announce,
        device_only: local.ip().is_loopback(),
    })
}

/// Binds every interface: dual-stack `::` if the system has IPv6, else `0.0.0.0`.
async fn bind_all(port: u16) -> io::Result<TcpListener> {
    match TcpListener::bind((IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)).await {
        Ok(listener) => Ok(listener),
        Err(_) => TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await,
    }
}

/// The `net` sections a listener bound to `port` prints for `scope` (JS net `stringify`): one per
/// host of [`Announce::hosts`], IPv6 zones dropped.
pub(crate) fn listener_addresses(announce: &Announce, port: u16, scope: Scope) -> Vec<Protocol> {
    announce.sections(scope, "net", |host| NetAddress { host, port }.to_protocol())
}

/// A listening TCP socket.
struct NetListener {
    bound: BoundTcp,
}

impl Listener for NetListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<ByteStream>> {
        Box::pin(async move {
            let (stream, peer) = self.bound.listener.accept().await?;
            stream.set_nodelay(true)?;
            debug!(%peer, "net: accepted");
            Ok(tcp_connection(stream, peer))
        })
    }

    fn scopes(&self) -> &[Scope] {
        self.bound.scopes()
    }

    fn address(&self, scope: Scope) -> Vec<Protocol> {
        listener_addresses(&self.bound.announce, self.bound.port, scope)
    }

    fn is_device_only(&self) -> bool {
        self.bound.is_device_only()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connect that gets no answer (a host cut off) fails after DIAL_TIMEOUT instead of the
    /// kernel's two minutes. The silent host is a loopback listener that never accepts, its accept
    /// queue full: the kernel then drops further SYNs, as a dead link would.
    #[tokio::test]
    async fn a_dial_nobody_answers_gives_up_after_the_dial_timeout() {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let address = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        let patience = std::time::Duration::from_millis(300);
        while let Ok(stream) = std::net::TcpStream::connect_timeout(&address, patience) {
            queued.push(stream);
            assert!(queued.len() < 64, "the accept queue never filled");
        }
        tokio::time::pause();
        let started = tokio::time::Instant::now();
        // Without the dial timeout this guard fires first (the connect would wait for minutes).
        let dialled = tokio::time::timeout(DIAL_TIMEOUT * 2, dial("127.0.0.1", address.port()))
            .await
            .expect("the dial did not give up within its timeout");
        let error = dialled.expect_err("a dial to a listener that drops SYNs succeeded");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        assert!(
            error.to_string().contains("no answer from 127.0.0.1"),
            "{error}"
        );
        assert!(started.elapsed() >= DIAL_TIMEOUT);
        drop((listener, queued));
    }

    #[test]
    fn parses_like_multiserver() {
        let a: NetAddress = "net:::1:8008".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 8008));
        let a: NetAddress = "net::8008".parse().unwrap();
        assert_eq!(a.host, "localhost");
        assert!("net:h:65536".parse::<NetAddress>().is_err());
        assert!("net:h:0x1f".parse::<NetAddress>().is_err());
    }

    #[test]
    fn prints_without_zone() {
        let a = NetAddress {
            host: "fe80::1%wlan0".into(),
            port: 8008,
        };
        assert_eq!(a.to_string(), "net:fe80::1:8008");
    }
}
