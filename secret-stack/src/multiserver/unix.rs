//! The `unix` transport: Unix domain sockets, `unix:<path>`, device scope only.
//!
//! As in JS, the listener's `path` setting is a directory and the socket is `<path>/socket`
//! (a fresh temporary directory when unset), readable and writable by the owner only. A stale
//! socket file nobody listens on is replaced; a live one is an `AddrInUse` error. The socket file
//! (and the temporary directory) is removed when the listener is dropped.

use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use futures::future::BoxFuture;
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use super::address::{AddressError, Protocol};
use super::config::ListenConfig;
use super::scope::Scope;
use super::transport::{ByteStream, Listener, Transport, printable};

/// A `unix:<path>` section; the path may contain `:` (the data fields are rejoined).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnixAddress {
    /// The socket file.
    pub path: PathBuf,
}

impl UnixAddress {
    /// Reads a `unix` section.
    pub fn from_protocol(section: &Protocol) -> Result<UnixAddress, AddressError> {
        if section.name() != "unix" {
            return Err(AddressError::WrongProtocol {
                expected: "unix",
                got: section.name().to_owned(),
            });
        }
        let path = section.joined_data();
        if path.is_empty() {
            return Err(AddressError::invalid(
                "unix",
                section,
                "expected unix:<path>",
            ));
        }
        Ok(UnixAddress {
            path: PathBuf::from(path),
        })
    }

    /// The section, if the path can be written in an address (UTF-8, no spaces or control
    /// characters).
    pub fn to_protocol(&self) -> Result<Protocol, AddressError> {
        let path = self.path.to_str().ok_or_else(|| AddressError::Invalid {
            protocol: "unix".into(),
            section: self.path.display().to_string(),
            reason: "path is not UTF-8".into(),
        })?;
        Protocol::new("unix", path.split(':'))
    }
}

impl fmt::Display for UnixAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_protocol() {
            Ok(p) => write!(f, "{p}"),
            Err(_) => write!(f, "unix:{}", self.path.display()),
        }
    }
}

impl FromStr for UnixAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnixAddress::from_protocol(&s.parse()?)
    }
}

/// The Unix domain socket transport.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unix;

impl Transport for Unix {
    type Address = UnixAddress;

    fn name(&self) -> &str {
        "unix"
    }

    fn parse(&self, section: &Protocol) -> Result<UnixAddress, AddressError> {
        UnixAddress::from_protocol(section)
    }

    fn connect<'a>(&'a self, address: &'a UnixAddress) -> BoxFuture<'a, io::Result<ByteStream>> {
        Box::pin(async move {
            let stream = UnixStream::connect(&address.path).await?;
            debug!(path = %address.path.display(), "unix: connected");
            let (reader, writer) = stream.into_split();
            Ok(ByteStream::new(reader, writer, address.to_string(), "unix"))
        })
    }

    fn listen<'a>(
        &'a self,
        config: &'a ListenConfig,
    ) -> BoxFuture<'a, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            if config.scopes.iter().any(|s| *s != Scope::Device) {
                warn!("unix: a unix socket only serves the device scope; ignoring the others");
            }
            let (dir, temporary) = match &config.path {
                Some(dir) => (dir.clone(), false),
                None => (make_temp_dir()?, true),
            };
            let socket = dir.join("socket");
            let listener = bind_replacing_stale(&socket).await?;
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
            debug!(path = %socket.display(), "unix: listening");
            Ok(Box::new(UnixSocketListener {
                listener,
                address: UnixAddress { path: socket },
                temp_dir: temporary.then_some(dir),
            }) as Box<dyn Listener>)
        })
    }
}

async fn bind_replacing_stale(socket: &Path) -> io::Result<UnixListener> {
    match UnixListener::bind(socket) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => match UnixStream::connect(socket).await {
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("someone else is listening on {}", socket.display()),
            )),
            Err(_) => {
                debug!(path = %socket.display(), "unix: replacing stale socket");
                std::fs::remove_file(socket)?;
                UnixListener::bind(socket)
            }
        },
        other => other,
    }
}

/// Creates `<tmp>/multiserver-<random>`, private to the owner.
fn make_temp_dir() -> io::Result<PathBuf> {
    for _ in 0..8 {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("multiserver-{name}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "could not create a temporary socket directory",
    ))
}

/// A listening Unix socket.
struct UnixSocketListener {
    listener: UnixListener,
    address: UnixAddress,
    temp_dir: Option<PathBuf>,
}

impl Listener for UnixSocketListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<ByteStream>> {
        Box::pin(async move {
            let (stream, _) = self.listener.accept().await?;
            debug!(path = %self.address.path.display(), "unix: accepted");
            let (reader, writer) = stream.into_split();
            Ok(ByteStream::new(
                reader,
                writer,
                self.address.to_string(),
                "unix",
            ))
        })
    }

    fn scopes(&self) -> &[Scope] {
        &[Scope::Device]
    }

    fn address(&self, scope: Scope) -> Vec<Protocol> {
        let served = (scope == Scope::Device).then(|| self.address.to_protocol());
        printable("unix", served)
    }

    fn is_device_only(&self) -> bool {
        true
    }
}

impl Drop for UnixSocketListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.address.path);
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
