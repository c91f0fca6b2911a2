//! The client side of the handshake: a pure state machine that turns the
//! server's messages into ours, and the async [`client`] that runs it over a stream.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::crypto::{EphemeralKey, PeerKey, auth, auth_verify, dh, open, seal, sha256};
use super::error::{AcceptFault, HandshakeError, Phase, Side};
use super::io::{read_msg, reject, write_msg};
use super::{
    CHALLENGE_LEN, CLIENT_HELLO_LEN, SERVER_ACCEPT_LEN, Session, challenge_message, session,
    split_challenge,
};
use crate::keys::{AppKey, KeyError, Keypair, PublicKey};

/// A client before message 2: holds our keys and the server's expected long-term key.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    app_key: AppKey,
    local: Keypair,
    server: PublicKey,
    ephemeral: EphemeralKey,
    /// The server's checked key and `a·B`, once [`precompute`](Self::precompute) has run.
    server_dh: Option<Result<(PeerKey, [u8; 32]), KeyError>>,
}

/// A client that sent message 3 and waits for the server's accept (message 4).
/// `Debug` shows only the public parties, never the shared secrets.
#[derive(Clone)]
pub struct ClientAwaitingAccept {
    app_key: AppKey,
    local: Keypair,
    server: PublicKey,
    server_key: PeerKey,
    server_ephemeral: [u8; 32],
    shared_ab: [u8; 32],
    shared_a_b: [u8; 32],
    /// `A·b` (our long-term key with the server's ephemeral key), once
    /// [`precompute`](ClientAwaitingAccept::precompute) has run.
    shared_ab_long: Option<[u8; 32]>,
    hashed_ab: [u8; 32],
    signature_a: [u8; 64],
    client_mac: [u8; 32],
    server_mac: [u8; 32],
}

impl ClientHandshake {
    /// A client with long-term key `local` dialling the server whose key is `server`, using the
    /// one-connection key `ephemeral`.
    pub fn new(
        app_key: &AppKey,
        local: &Keypair,
        server: &PublicKey,
        ephemeral: EphemeralKey,
    ) -> Self {
        ClientHandshake {
            app_key: *app_key,
            local: local.clone(),
            server: *server,
            ephemeral,
            server_dh: None,
        }
    }

    /// Message 1: `hmac(K, a_pub) ‖ a_pub`.
    pub fn challenge(&self) -> [u8; CHALLENGE_LEN] {
        challenge_message(&self.app_key, &self.ephemeral.public())
    }

    /// Does the work that needs only what the client knows before message 2 — checking the
    /// server's long-term key and `a·B` — so it can run while message 1 is on its way and the
    /// server answers. [`read_challenge`](Self::read_challenge) does it otherwise; the result and
    /// the errors are the same either way (and reported in the same order).
    pub fn precompute(&mut self) {
        if self.server_dh.is_none() {
            self.server_dh = Some(server_dh(&self.server, &self.ephemeral.secret()));
        }
    }

    /// Checks message 2 and returns message 3, `box(sig_A ‖ A_pub, Z24, key3)`.
    pub fn read_challenge(
        self,
        msg2: &[u8; CHALLENGE_LEN],
    ) -> Result<(ClientAwaitingAccept, [u8; CLIENT_HELLO_LEN]), HandshakeError> {
        let (server_mac, server_ephemeral) = split_challenge(msg2);
        if !auth_verify(&self.app_key, &server_ephemeral, &server_mac) {
            return Err(HandshakeError::InvalidServerChallenge);
        }
        let secret = self.ephemeral.secret();
        let shared_ab =
            dh(&secret, &server_ephemeral).map_err(|_| HandshakeError::LowOrderKey {
                phase: Phase::ServerChallenge,
            })?;
        let precomputed = match self.server_dh {
            Some(done) => done,
            None => server_dh(&self.server, &secret),
        };
        let (server_key, shared_a_b) =
            precomputed.map_err(|source| HandshakeError::InvalidServerKey {
                server: self.server,
                source,
            })?;
        let hashed_ab = sha256(&[&shared_ab]);
        let key3 = sha256(&[&self.app_key.0, &shared_ab, &shared_a_b]);
        let signature_a = self
            .local
            .sign(&[&self.app_key.0[..], &self.server.0, &hashed_ab].concat());
        let plaintext = [&signature_a[..], &self.local.public().0].concat();
        let msg3 = seal(&key3, &plaintext).ok_or(HandshakeError::Seal(Phase::ClientHello))?;
        let next = ClientAwaitingAccept {
            app_key: self.app_key,
            client_mac: auth(&self.app_key, &self.ephemeral.public()),
            local: self.local,
            server: self.server,
            server_key,
            server_ephemeral,
            shared_ab,
            shared_a_b,
            shared_ab_long: None,
            hashed_ab,
            signature_a,
            server_mac,
        };
        Ok((next, msg3))
    }
}

impl fmt::Debug for ClientAwaitingAccept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAwaitingAccept")
            .field("local", &self.local.public())
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl ClientAwaitingAccept {
    /// Does the work that message 4 needs but that needs nothing from it — `A·b`, our long-term
    /// key with the server's ephemeral key — so it can run while the server checks message 3;
    /// [`read_accept`](Self::read_accept) does it otherwise, with the same result and errors.
    pub fn precompute(&mut self) {
        if self.shared_ab_long.is_none() {
            self.shared_ab_long = self.long_term_dh().ok();
        }
    }

    /// `dh(curve(A), b)`. The server's ephemeral key already passed `dh` with ours in
    /// [`ClientHandshake::read_challenge`], so a low-order failure cannot happen here; it is
    /// mapped like that one.
    fn long_term_dh(&self) -> Result<[u8; 32], HandshakeError> {
        dh(&self.local.to_curve25519(), &self.server_ephemeral).map_err(|_| {
            HandshakeError::LowOrderKey {
                phase: Phase::ServerChallenge,
            }
        })
    }

    /// Checks message 4 (the server's signature over `K ‖ sig_A ‖ A_pub ‖ sha256(ab)`) and
    /// derives the box-stream keys.
    pub fn read_accept(self, msg4: &[u8; SERVER_ACCEPT_LEN]) -> Result<Session, HandshakeError> {
        let shared_ab_long = match self.shared_ab_long {
            Some(done) => done,
            None => self.long_term_dh()?,
        };
        let key4 = sha256(&[
            &self.app_key.0,
            &self.shared_ab,
            &self.shared_a_b,
            &shared_ab_long,
        ]);
        let signature_b: [u8; 64] =
            open(&key4, msg4).ok_or(HandshakeError::InvalidServerAccept(AcceptFault::BoxOpen))?;
        let local_public = self.local.public();
        let signed = [
            &self.app_key.0[..],
            &self.signature_a,
            &local_public.0,
            &self.hashed_ab,
        ]
        .concat();
        self.server_key
            .verify(&signed, &signature_b)
            .map_err(|_| HandshakeError::InvalidServerAccept(AcceptFault::BadSignature))?;
        Ok(session(
            &key4,
            self.server,
            &local_public,
            &self.server_mac,
            &self.client_mac,
        ))
    }
}

/// The server's key, checked as libsodium's conversion checks it, and `dh(a, curve(B))`.
fn server_dh(server: &PublicKey, secret: &[u8; 32]) -> Result<(PeerKey, [u8; 32]), KeyError> {
    let key = PeerKey::new(server)?;
    key.check_order()?;
    let shared = key.dh(secret).map_err(|_| KeyError::SmallOrder)?;
    Ok((key, shared))
}

/// Runs the client side of the handshake over `stream`: sends message 1 at once, then reads
/// exactly 64 and 80 bytes, each read (and write) limited by `timeout`.
///
/// On a rejection the stream is shut down; nothing but the four messages is ever written.
pub async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    app_key: &AppKey,
    local: &Keypair,
    server: &PublicKey,
    timeout: Duration,
) -> Result<Session, HandshakeError> {
    let result = run(stream, app_key, local, server, timeout).await;
    match &result {
        Ok(session) => tracing::debug!(server = %session.remote, "shs client handshake complete"),
        Err(error) => {
            tracing::debug!(%server, %error, "shs client handshake failed");
            if error.is_rejection() {
                reject(stream, timeout).await;
            }
        }
    }
    result
}

async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    app_key: &AppKey,
    local: &Keypair,
    server: &PublicKey,
    timeout: Duration,
) -> Result<Session, HandshakeError> {
    let ephemeral = EphemeralKey::generate().map_err(HandshakeError::Random)?;
    let start = ClientHandshake::new(app_key, local, server, ephemeral);
    let side = Side::Client;
    write_msg(
        stream,
        &start.challenge(),
        side,
        Phase::ClientChallenge,
        timeout,
    )
    .await?;
    // While message 1 travels and the server answers: the work that does not need message 2.
    let mut start = start;
    start.precompute();
    let msg2 = read_msg(stream, side, Phase::ServerChallenge, timeout).await?;
    let (waiting, msg3) = start.read_challenge(&msg2)?;
    write_msg(stream, &msg3, side, Phase::ClientHello, timeout).await?;
    // While the server checks message 3: the key material message 4 is sealed with.
    let mut waiting = waiting;
    waiting.precompute();
    let msg4 = read_msg(stream, side, Phase::ServerAccept, timeout).await?;
    waiting.read_accept(&msg4)
}
