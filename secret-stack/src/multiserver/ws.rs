//! The `ws` transport: WebSocket over TCP (tokio-tungstenite), `ws://host[:port][/path]`.
//!
//! Each write becomes one binary message; incoming binary (and text) messages are concatenated into
//! the byte stream; a close message (or the socket closing after one) is EOF. A WebSocket has no
//! half-close: shutting down our side sends a close message, after which the peer can no longer
//! send either (its close reply ends our reading side).
//!
//! `wss://` addresses parse and print, but dialling them fails with `Unsupported`: this crate is
//! built without TLS. Put a TLS-terminating proxy in front of a `ws` listener to serve `wss`.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::debug;

use super::address::{AddressError, Protocol};
use super::config::ListenConfig;
use super::net::{BoundTcp, NetAddress, bind, dial};
use super::scope::Scope;
use super::transport::{Announce, ByteStream, Listener, Transport};

/// How long an accepted TCP connection may take to complete the WebSocket upgrade.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// WebSocket upgrades in progress at once on one listener; at the cap it accepts no more TCP
/// connections until one ends (they wait in the kernel's listen backlog), so a flood of sockets
/// that never send the upgrade request cannot grow memory without bound.
const MAX_UPGRADES: usize = 128;

/// A `ws://` or `wss://` section.
///
/// Only the `scheme://host[:port][/path]` form is read; JS's URL parser also accepts `ws:host:port`
/// (no `//`) as a URL without a host, which cannot be dialled, so it is rejected here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WsAddress {
    /// `wss://` (TLS) rather than `ws://`.
    pub secure: bool,
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    /// The port, when written.
    pub port: Option<u16>,
    /// The path, `/` when none was written.
    pub path: String,
}

impl WsAddress {
    /// Reads a `ws` or `wss` section.
    pub fn from_protocol(section: &Protocol) -> Result<WsAddress, AddressError> {
        let secure = match section.name() {
            "ws" => false,
            "wss" => true,
            other => {
                return Err(AddressError::WrongProtocol {
                    expected: "ws or wss",
                    got: other.to_owned(),
                });
            }
        };
        let bad = |reason: &str| AddressError::invalid(section.name(), section, reason);
        let text = section.joined_data();
        let rest = text
            .strip_prefix("//")
            .ok_or_else(|| bad("expected ws://host[:port][/path]"))?;
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("user names in the URL are not supported"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("unclosed '[' in host"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected ':' after ']'"))?,
                ),
            };
            (host, port)
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        let port = match port {
            None | Some("") => None,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().map_err(|_| bad("port above 65535"))?)
            }
            Some(_) => return Err(bad("port is not a number")),
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(WsAddress {
            secure,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// The scheme: `ws` or `wss`.
    pub fn scheme(&self) -> &'static str {
        if self.secure { "wss" } else { "ws" }
    }

    /// The port to dial: the written one, else 80 (`ws`) or 443 (`wss`).
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.secure { 443 } else { 80 })
    }

    /// The URL: `ws://host[:port][path]`, IPv6 hosts in brackets, a bare `/` path left out.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let path = if self.path == "/" { "" } else { &self.path };
        format!("{}://{host}{port}{path}", self.scheme())
    }

    /// The section (the URL split on `:` into data fields).
    pub fn to_protocol(&self) -> Result<Protocol, AddressError> {
        let url = self.url();
        let mut fields = url.split(':');
        fields.next();
        Protocol::new(self.scheme(), fields)
    }
}

impl fmt::Display for WsAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_protocol() {
            Ok(p) => write!(f, "{p}"),
            Err(_) => f.write_str(&self.url()),
        }
    }
}

impl FromStr for WsAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WsAddress::from_protocol(&s.parse()?)
    }
}

/// The WebSocket transport (plain `ws` only; see the module docs about `wss`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ws;

impl Ws {
    /// The `ws` sections a listener bound to `port` prints for `scope` (JS ws `stringify`): one per host
    /// of [`Announce::hosts`], the port left out when it is 80.
    pub fn listener_addresses(announce: &Announce, port: u16, scope: Scope) -> Vec<Protocol> {
        listener_addresses(announce, port, scope)
    }
}

impl Transport for Ws {
    type Address = WsAddress;

    fn name(&self) -> &str {
        "ws"
    }

    fn parse(&self, section: &Protocol) -> Result<WsAddress, AddressError> {
        WsAddress::from_protocol(section)
    }

    fn connect<'a>(&'a self, address: &'a WsAddress) -> BoxFuture<'a, io::Result<ByteStream>> {
        Box::pin(async move {
            if address.secure {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "cannot dial {}: wss:// (TLS) is not supported",
                        address.url()
                    ),
                ));
            }
            let tcp = dial(&address.host, address.port_or_default()).await?;
            let mut url = address.url();
            if address.path == "/" {
                url.push('/');
            }
            let (ws, _response) = tokio_tungstenite::client_async(url, tcp)
                .await
                .map_err(to_io)?;
            debug!(url = %address.url(), "ws: connected");
            Ok(ByteStream::from_duplex(
                WsByteStream::new(ws),
                address.to_string(),
                "ws",
            ))
        })
    }

    fn listen<'a>(
        &'a self,
        config: &'a ListenConfig,
    ) -> BoxFuture<'a, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let bound = bind(config).await?;
            Ok(Box::new(WsListener {
                bound,
                upgrading: FuturesUnordered::new(),
            }) as Box<dyn Listener>)
        })
    }
}

/// The `ws` sections a listener bound to `port` prints for `scope` (JS ws `stringify`): one per host
/// of [`Announce::hosts`], the port left out when it is 80.
pub(crate) fn listener_addresses(announce: &Announce, port: u16, scope: Scope) -> Vec<Protocol> {
    announce.sections(scope, "ws", |host| {
        WsAddress {
            secure: false,
            host,
            port: (port != 80).then_some(port),
            path: "/".into(),
        }
        .to_protocol()
    })
}

type Upgrade = BoxFuture<'static, io::Result<ByteStream>>;

/// A TCP listener upgrading each connection to a WebSocket; upgrades run concurrently (up to
/// [`MAX_UPGRADES`]) so a slow client does not hold up the others.
struct WsListener {
    bound: BoundTcp,
    upgrading: FuturesUnordered<Upgrade>,
}

impl Listener for WsListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<ByteStream>> {
        Box::pin(async move {
            loop {
                let room = self.upgrading.len() < MAX_UPGRADES;
                tokio::select! {
                    accepted = self.bound.listener.accept(), if room => {
                        let (tcp, peer) = accepted?;
                        tcp.set_nodelay(true)?;
                        self.upgrading.push(Box::pin(upgrade(tcp, peer)));
                    }
                    Some(done) = self.upgrading.next(), if !self.upgrading.is_empty() => {
                        match done {
                            Ok(connection) => return Ok(connection),
                            Err(e) => debug!("ws: upgrade failed: {e}"),
                        }
                    }
                }
            }
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

async fn upgrade(tcp: TcpStream, peer: std::net::SocketAddr) -> io::Result<ByteStream> {
    let ws = tokio::time::timeout(UPGRADE_TIMEOUT, tokio_tungstenite::accept_async(tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "ws upgrade timed out"))?
        .map_err(to_io)?;
    let remote = NetAddress::from_socket(peer);
    let address = WsAddress {
        secure: false,
        host: remote.host,
        port: Some(remote.port),
        path: "/".into(),
    };
    debug!(%peer, "ws: accepted");
    Ok(ByteStream::from_duplex(
        WsByteStream::new(ws),
        address.to_string(),
        "ws",
    ))
}

/// A WebSocket seen as a byte stream (see the module docs).
pub struct WsByteStream<S> {
    ws: WebSocketStream<S>,
    pending: Bytes,
    eof: bool,
}

impl<S> WsByteStream<S> {
    /// Wraps an established WebSocket.
    pub fn new(ws: WebSocketStream<S>) -> Self {
        WsByteStream {
            ws,
            pending: Bytes::new(),
            eof: false,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.ws.poll_next_unpin(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(text))) => this.pending = Bytes::from(text),
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => this.eof = true,
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsByteStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let ws = &mut self.ws;
        ready!(ws.poll_ready_unpin(cx)).map_err(to_io)?;
        ws.start_send_unpin(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(to_io)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ws.poll_flush_unpin(cx).map_err(to_io)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(self.ws.poll_close_unpin(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }
}

/// Maps a WebSocket error to an I/O error, keeping the I/O error inside when there is one.
fn to_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "websocket closed")
        }
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let a: WsAddress = "ws://[::1]:8989".parse().unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.path.as_str()),
            ("::1", Some(8989), "/")
        );
        assert_eq!(a.to_string(), "ws://[::1]:8989");
        let a: WsAddress = "wss://host.example/a/b".parse().unwrap();
        assert!(a.secure);
        assert_eq!(a.port_or_default(), 443);
        assert_eq!(a.to_string(), "wss://host.example/a/b");
        assert!("ws:host.example:8989".parse::<WsAddress>().is_err());
        assert!("ws://:80".parse::<WsAddress>().is_err());
    }
}
