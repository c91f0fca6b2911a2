//! The server side of the handshake: a pure state machine that checks the
//! client's messages and produces ours, and the async [`server`] that runs it over a stream with an
//! authorisation callback.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::crypto::{EphemeralKey, PeerKey, auth_verify, dh, is_low_order, open, seal, sha256};
use super::error::{HandshakeError, HelloFault, Phase, Side};
use super::io::{read_msg, reject, write_msg};
use super::{
    CHALLENGE_LEN, CLIENT_HELLO_LEN, SERVER_ACCEPT_LEN, Session, challenge_message, session,
    split_challenge,
};
use crate::keys::{AppKey, Keypair, PublicKey};

/// A server before message 1.
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    app_key: AppKey,
    local: Keypair,
    ephemeral: EphemeralKey,
}

/// A server that sent message 2 and waits for the client's hello (message 3).
/// `Debug` shows only our public key, never the shared secret.
#[derive(Clone)]
pub struct ServerAwaitingHello {
    app_key: AppKey,
    local: Keypair,
    ephemeral: EphemeralKey,
    client_ephemeral: [u8; 32],
    /// `a·b` and `b·a` (our ephemeral and long-term keys with the client's ephemeral key), once
    /// [`precompute`](ServerAwaitingHello::precompute) has run.
    shared: Option<([u8; 32], [u8; 32])>,
    client_mac: [u8; 32],
    server_mac: [u8; 32],
}

/// A server that verified the client's hello: it knows who the client is and has message 4 ready,
/// to be sent only if the client is authorised.
#[derive(Debug, Clone)]
pub struct ServerHelloVerified {
    client: PublicKey,
    msg4: [u8; SERVER_ACCEPT_LEN],
    session: Session,
}

impl ServerHandshake {
    /// A server with long-term key `local` and the one-connection key `ephemeral`.
    pub fn new(app_key: &AppKey, local: &Keypair, ephemeral: EphemeralKey) -> Self {
        ServerHandshake {
            app_key: *app_key,
            local: local.clone(),
            ephemeral,
        }
    }

    /// Checks message 1 and returns message 2, `hmac(K, b_pub) ‖ b_pub`.
    pub fn read_challenge(
        self,
        msg1: &[u8; CHALLENGE_LEN],
    ) -> Result<(ServerAwaitingHello, [u8; CHALLENGE_LEN]), HandshakeError> {
        let (client_mac, client_ephemeral) = split_challenge(msg1);
        if !auth_verify(&self.app_key, &client_ephemeral, &client_mac) {
            return Err(HandshakeError::InvalidClientChallenge);
        }
        // Refused before we answer, as JS refuses it (its Diffie-Hellman fails); the
        // Diffie-Hellmans themselves can wait until message 2 is on its way.
        if is_low_order(&client_ephemeral) {
            return Err(HandshakeError::LowOrderKey {
                phase: Phase::ClientChallenge,
            });
        }
        let msg2 = challenge_message(&self.app_key, &self.ephemeral.public());
        let (server_mac, _) = split_challenge(&msg2);
        let next = ServerAwaitingHello {
            app_key: self.app_key,
            local: self.local,
            ephemeral: self.ephemeral,
            client_ephemeral,
            shared: None,
            client_mac,
            server_mac,
        };
        Ok((next, msg2))
    }
}

impl fmt::Debug for ServerAwaitingHello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerAwaitingHello")
            .field("local", &self.local.public())
            .finish_non_exhaustive()
    }
}

impl ServerAwaitingHello {
    /// Does the work that needs only message 1 — the Diffie-Hellmans of both our keys with the
    /// client's ephemeral key — so it can run while the client computes message 3;
    /// [`read_hello`](Self::read_hello) does it otherwise, with the same result and errors.
    pub fn precompute(&mut self) {
        if self.shared.is_none() {
            self.shared = self.shared_secrets().ok();
        }
    }

    /// `(dh(b, a), dh(curve(B), a))`. [`ServerHandshake::read_challenge`] already refused a
    /// low-order client key, so a failure here cannot happen; it is mapped like that one.
    fn shared_secrets(&self) -> Result<([u8; 32], [u8; 32]), HandshakeError> {
        let low_order = |_| HandshakeError::LowOrderKey {
            phase: Phase::ClientChallenge,
        };
        let ab = dh(&self.ephemeral.secret(), &self.client_ephemeral).map_err(low_order)?;
        let a_b = dh(&self.local.to_curve25519(), &self.client_ephemeral).map_err(low_order)?;
        Ok((ab, a_b))
    }

    /// Opens and verifies message 3, learning the client's long-term key, and prepares message 4.
    pub fn read_hello(
        self,
        msg3: &[u8; CLIENT_HELLO_LEN],
    ) -> Result<ServerHelloVerified, HandshakeError> {
        let invalid = HandshakeError::InvalidClientHello;
        let (shared_ab, shared_a_b) = match self.shared {
            Some(done) => done,
            None => self.shared_secrets()?,
        };
        let key3 = sha256(&[&self.app_key.0, &shared_ab, &shared_a_b]);
        let plaintext: [u8; 96] = open(&key3, msg3).ok_or(invalid(HelloFault::BoxOpen))?;
        let mut signature_a = [0u8; 64];
        signature_a.copy_from_slice(&plaintext[..64]);
        let mut client = PublicKey([0; 32]);
        client.0.copy_from_slice(&plaintext[64..]);
        let client_key = PeerKey::new(&client).map_err(|_| invalid(HelloFault::BadSignature))?;

        let local_public = self.local.public();
        let hashed_ab = sha256(&[&shared_ab]);
        let signed = [&self.app_key.0[..], &local_public.0, &hashed_ab].concat();
        client_key
            .verify(&signed, &signature_a)
            .map_err(|_| invalid(HelloFault::BadSignature))?;
        client_key
            .check_order()
            .map_err(|_| invalid(HelloFault::ClientKeyInvalid))?;
        let shared_ab_long = client_key
            .dh(&self.ephemeral.secret())
            .map_err(|_| invalid(HelloFault::ClientKeyInvalid))?;
        let key4 = sha256(&[&self.app_key.0, &shared_ab, &shared_a_b, &shared_ab_long]);

        let accepted = [&self.app_key.0[..], &plaintext, &hashed_ab].concat();
        let signature_b = self.local.sign(&accepted);
        let msg4 = seal(&key4, &signature_b).ok_or(HandshakeError::Seal(Phase::ServerAccept))?;
        let session = session(
            &key4,
            client,
            &local_public,
            &self.client_mac,
            &self.server_mac,
        );
        Ok(ServerHelloVerified {
            client,
            msg4,
            session,
        })
    }
}

impl ServerHelloVerified {
    /// The client's long-term key (its identity), to authorise.
    pub fn client(&self) -> PublicKey {
        self.client
    }

    /// Accepts the client: message 4 to send, and the box-stream keys.
    pub fn accept(self) -> ([u8; SERVER_ACCEPT_LEN], Session) {
        (self.msg4, self.session)
    }
}

/// Runs the server side of the handshake over `stream`: reads exactly 64 then 112 bytes (each
/// read and write limited by `timeout`), asks `authorize` about the client, and sends message 4
/// only if it answers `Some`. The answer is returned beside the session.
///
/// A client that fails phase 1 receives nothing. On any rejection the stream is shut down.
/// `authorize` itself is not timed: bound it yourself if it can hang.
pub async fn server<S, F, Fut, T>(
    stream: &mut S,
    app_key: &AppKey,
    local: &Keypair,
    timeout: Duration,
    authorize: F,
) -> Result<(Session, T), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(PublicKey) -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let result = run(stream, app_key, local, timeout, authorize).await;
    match &result {
        Ok((session, _)) => {
            tracing::debug!(client = %session.remote, "shs server handshake complete");
        }
        Err(error) => {
            tracing::debug!(%error, "shs server handshake failed");
            if error.is_rejection() {
                reject(stream, timeout).await;
            }
        }
    }
    result
}

async fn run<S, F, Fut, T>(
    stream: &mut S,
    app_key: &AppKey,
    local: &Keypair,
    timeout: Duration,
    authorize: F,
) -> Result<(Session, T), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(PublicKey) -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let ephemeral = EphemeralKey::generate().map_err(HandshakeError::Random)?;
    let side = Side::Server;
    let msg1 = read_msg(stream, side, Phase::ClientChallenge, timeout).await?;
    let (waiting, msg2) = ServerHandshake::new(app_key, local, ephemeral).read_challenge(&msg1)?;
    write_msg(stream, &msg2, side, Phase::ServerChallenge, timeout).await?;
    // While the client works on message 3: the part of its checking that needs only message 1.
    let mut waiting = waiting;
    waiting.precompute();
    let msg3 = read_msg(stream, side, Phase::ClientHello, timeout).await?;
    let verified = waiting.read_hello(&msg3)?;
    let client = verified.client();
    let Some(answer) = authorize(client).await else {
        return Err(HandshakeError::Unauthorized { client });
    };
    let (msg4, session) = verified.accept();
    write_msg(stream, &msg4, side, Phase::ServerAccept, timeout).await?;
    Ok((session, answer))
}
