//! The `shs` transform: the secret handshake ([`crate::handshake`]) then the box stream
//! ([`crate::box_stream`]) over a transport's byte stream; and its section, `shs:<base64 key>` or
//! `shs:<base64 key>:<base64 seed>`: whom the handshake must reach, and
//! optionally the seed of a one-off client identity.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::future::BoxFuture;
use tokio::io::Join;

use super::address::{AddressError, Protocol};
use super::refusal_log::RefusalLog;
use super::transform::{Transform, TransformError, TransformInfo};
use super::transport::{ByteReader, ByteStream, ByteWriter};
use crate::box_stream;
use crate::handshake::{self, HandshakeError};
use crate::keys::{AppKey, Keypair, PublicKey};
use crate::rpc::Permissions;

/// A parsed `shs` section.
///
/// Stricter than JS (Node's base64 decoder skips invalid characters and ignores extra fields): the
/// key and seed must be canonical padded base64 of exactly 32 bytes, and there are at most two fields.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShsAddress {
    /// The Ed25519 key the server must prove.
    pub key: PublicKey,
    /// Seed of the Ed25519 key pair to dial with instead of our own.
    pub seed: Option<[u8; 32]>,
}

impl fmt::Debug for ShsAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShsAddress")
            .field("key", &STANDARD.encode(self.key.0))
            .field("seed", &self.seed.map(|_| ".."))
            .finish()
    }
}

impl ShsAddress {
    /// An address to `key` without a seed.
    pub fn new(key: PublicKey) -> ShsAddress {
        ShsAddress { key, seed: None }
    }

    /// Reads an `shs` section.
    pub fn from_protocol(section: &Protocol) -> Result<ShsAddress, AddressError> {
        if section.name() != "shs" {
            return Err(AddressError::WrongProtocol {
                expected: "shs",
                got: section.name().to_owned(),
            });
        }
        let (key, seed) = match section.data() {
            [key] => (key, None),
            [key, seed] => (key, Some(seed)),
            _ => {
                return Err(AddressError::invalid(
                    "shs",
                    section,
                    "expected shs:<key> or shs:<key>:<seed>",
                ));
            }
        };
        let key =
            decode32(key).map_err(|e| AddressError::invalid("shs", section, format!("key {e}")))?;
        let seed = seed
            .map(|s| decode32(s))
            .transpose()
            .map_err(|e| AddressError::invalid("shs", section, format!("seed {e}")))?;
        Ok(ShsAddress {
            key: PublicKey(key),
            seed,
        })
    }

    /// The section: `shs:<key>` or `shs:<key>:<seed>`.
    pub fn to_protocol(&self) -> Protocol {
        let mut data = vec![STANDARD.encode(self.key.0)];
        if let Some(seed) = &self.seed {
            data.push(STANDARD.encode(seed));
        }
        // Standard base64 only uses characters the grammar allows in data.
        Protocol::trusted("shs", data)
    }
}

fn decode32(text: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("is not base64 ({e})"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("must be 32 bytes, got {}", bytes.len()))
}

impl fmt::Display for ShsAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_protocol())
    }
}

impl FromStr for ShsAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShsAddress::from_protocol(&s.parse()?)
    }
}

/// Decides, during the server handshake, whether a client may connect: `Some(permissions)` to
/// accept it with those, `None` to hang up before message 4.
pub type Authorize =
    Arc<dyn Fn(PublicKey) -> BoxFuture<'static, Option<Permissions>> + Send + Sync>;

/// The `shs` transform: secret handshake with the app key, then box stream both ways.
#[derive(Clone)]
pub struct Shs {
    keys: Keypair,
    app_key: AppKey,
    timeout: Duration,
    authorize: Option<Authorize>,
    /// Which refusals for another app key are worth an INFO line (shared by clones).
    refusals: Arc<RefusalLog>,
}

impl fmt::Debug for Shs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shs")
            .field("public", &self.keys.public())
            .field("timeout", &self.timeout)
            .field("authorize", &self.authorize.is_some())
            .finish_non_exhaustive()
    }
}

impl Shs {
    /// A transform for the node with `keys` in the network of `app_key`, with the default per-read
    /// timeout ([`handshake::DEFAULT_TIMEOUT`]) and no authorisation hook (every client that
    /// completes the handshake is accepted, `TransformInfo::permissions` left `None`).
    pub fn new(keys: Keypair, app_key: AppKey) -> Shs {
        Shs {
            keys,
            app_key,
            timeout: handshake::DEFAULT_TIMEOUT,
            authorize: None,
            refusals: Arc::default(),
        }
    }

    /// Sets the limit on each handshake read and write.
    pub fn with_timeout(mut self, timeout: Duration) -> Shs {
        self.timeout = timeout;
        self
    }

    /// Sets the server-side authorisation: its answer becomes `TransformInfo::permissions`, and
    /// `None` rejects the client.
    pub fn with_authorize<F, Fut>(mut self, authorize: F) -> Shs
    where
        F: Fn(PublicKey) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Permissions>> + Send + 'static,
    {
        self.authorize = Some(Arc::new(move |client| Box::pin(authorize(client))));
        self
    }

    /// Our public key.
    pub fn public(&self) -> PublicKey {
        self.keys.public()
    }
}

/// Reports a client whose challenge was not made with our app key at INFO (once per host per
/// minute, see [`RefusalLog`]): it is the most common misconfiguration. Other refusals, and
/// repeats, stay at DEBUG where the handshake logs them.
fn report_refusal(refusals: &RefusalLog, peer: &str, error: &HandshakeError) {
    if matches!(error, HandshakeError::InvalidClientChallenge)
        && refusals.should_log(peer, std::time::Instant::now())
    {
        tracing::info!(
            %peer,
            "shs: refused a connection from {peer}: its handshake was not made with our app key; it \
             likely uses another `AppKey` (config `caps.shs`), or does not speak secret-handshake \
             (further refusals from this host are not repeated at INFO for a minute)"
        );
    }
}

fn failed(error: HandshakeError) -> TransformError {
    TransformError::Handshake {
        transform: "shs".into(),
        source: Box::new(error),
    }
}

/// A connection opened up for the handshake: its halves joined into one duplex stream, and what
/// the secured connection keeps of it. The client and the server side both go through it.
struct Opened {
    duplex: Join<ByteReader, ByteWriter>,
    address: String,
    transport: String,
}

impl Opened {
    fn new(connection: ByteStream) -> Opened {
        let ByteStream {
            reader,
            writer,
            address,
            transport,
        } = connection;
        Opened {
            duplex: tokio::io::join(reader, writer),
            address,
            transport,
        }
    }

    /// The secured connection: both halves wrapped in the box stream keyed by `session`.
    fn seal(self, session: handshake::Session) -> (ByteStream, TransformInfo) {
        let (reader, writer) = self.duplex.into_inner();
        let (reader, writer) = box_stream::pair(reader, writer, session.encrypt, session.decrypt);
        let info = TransformInfo {
            remote: session.remote,
            section: ShsAddress::new(session.remote).to_protocol(),
            permissions: None,
        };
        let connection = ByteStream::new(reader, writer, self.address, self.transport);
        (connection, info)
    }
}

impl Transform for Shs {
    type Address = ShsAddress;

    fn name(&self) -> &str {
        "shs"
    }

    fn parse(&self, section: &Protocol) -> Result<ShsAddress, AddressError> {
        ShsAddress::from_protocol(section)
    }

    fn client<'a>(
        &'a self,
        connection: ByteStream,
        address: &'a ShsAddress,
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>> {
        Box::pin(async move {
            let seeded = address.seed.map(|seed| Keypair::from_seed(&seed));
            let keys = seeded.as_ref().unwrap_or(&self.keys);
            let mut opened = Opened::new(connection);
            let session = handshake::client(
                &mut opened.duplex,
                &self.app_key,
                keys,
                &address.key,
                self.timeout,
            )
            .await
            .map_err(failed)?;
            Ok(opened.seal(session))
        })
    }

    fn server<'a>(
        &'a self,
        connection: ByteStream,
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>> {
        Box::pin(async move {
            let mut opened = Opened::new(connection);
            let authorize = self.authorize.clone();
            let (session, permissions) = handshake::server(
                &mut opened.duplex,
                &self.app_key,
                &self.keys,
                self.timeout,
                |client| async move {
                    match authorize {
                        None => Some(None),
                        Some(authorize) => authorize(client).await.map(Some),
                    }
                },
            )
            .await
            .map_err(|e| {
                report_refusal(&self.refusals, &opened.address, &e);
                failed(e)
            })?;
            let (connection, mut info) = opened.seal(session);
            info.permissions = permissions;
            Ok((connection, info))
        })
    }

    fn local_section(&self) -> Protocol {
        ShsAddress::new(self.keys.public()).to_protocol()
    }
}
