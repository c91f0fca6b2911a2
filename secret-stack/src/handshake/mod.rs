//! The secret handshake (SHS v1): four messages of mutual authentication bound to an app key.
//!
//! ```text
//! client                                         server
//!   msg1  64 B  hmac(K, a_pub) ‖ a_pub      ───►
//!                                            ◄───  msg2  64 B  hmac(K, b_pub) ‖ b_pub
//!   msg3 112 B  box(sig_A ‖ A_pub, key3)    ───►
//!                                            ◄───  msg4  80 B  box(sig_B, key4)
//! ```
//!
//! The message logic lives in pure state machines ([`ClientHandshake`], [`ServerHandshake`]) that
//! take their ephemeral key from the caller, so recorded runs replay byte for byte; [`client`] and
//! [`server`] are thin I/O wrappers that read exact sizes with a timeout per read. Having sent a
//! message they call the state's `precompute`, so curve work that does not need the peer's answer
//! runs while the peer computes it: this work bounds how fast a node takes connections. The result
//! is a [`Session`]: the peer's identity and the keys of both box streams.

mod client;
mod crypto;
mod error;
mod io;
mod server;

use std::time::Duration;

pub use client::{ClientAwaitingAccept, ClientHandshake, client};
pub use crypto::EphemeralKey;
pub use error::{AcceptFault, HandshakeError, HelloFault, Phase, Side};
pub use server::{ServerAwaitingHello, ServerHandshake, ServerHelloVerified, server};

use crate::box_stream::BoxKey;
use crate::keys::{AppKey, PublicKey};
use crypto::{MAC_LEN, auth, sha256};

/// The per-read timeout JS secret-stack uses when the config has no `timers` (5 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Size of messages 1 and 2 (the challenges).
pub const CHALLENGE_LEN: usize = 64;
/// Size of message 3 (the client hello).
pub const CLIENT_HELLO_LEN: usize = 112;
/// Size of message 4 (the server accept).
pub const SERVER_ACCEPT_LEN: usize = 80;

/// The outcome of a successful handshake: who the peer is, and the keys of the two box streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The peer's long-term public key (its identity).
    pub remote: PublicKey,
    /// Key and first nonce for what we send.
    pub encrypt: BoxKey,
    /// Key and first nonce for what we receive.
    pub decrypt: BoxKey,
}

/// A challenge message: `hmac(K, ephemeral_pub) ‖ ephemeral_pub`.
fn challenge_message(app_key: &AppKey, ephemeral: &[u8; 32]) -> [u8; CHALLENGE_LEN] {
    let mut msg = [0u8; CHALLENGE_LEN];
    msg[..MAC_LEN].copy_from_slice(&auth(app_key, ephemeral));
    msg[MAC_LEN..].copy_from_slice(ephemeral);
    msg
}

/// Splits a challenge message into its hmac and the ephemeral key.
fn split_challenge(msg: &[u8; CHALLENGE_LEN]) -> ([u8; MAC_LEN], [u8; 32]) {
    let mut mac = [0u8; MAC_LEN];
    let mut key = [0u8; 32];
    mac.copy_from_slice(&msg[..MAC_LEN]);
    key.copy_from_slice(&msg[MAC_LEN..]);
    (mac, key)
}

/// The box-stream keys the handshake derives: we encrypt with `sha256(S ‖ remote)` starting from the first 24
/// bytes of the peer's hmac, and decrypt with `sha256(S ‖ local)` from our own hmac's prefix.
fn session(
    key4: &[u8; 32],
    remote: PublicKey,
    local: &PublicKey,
    remote_mac: &[u8; MAC_LEN],
    local_mac: &[u8; MAC_LEN],
) -> Session {
    let secret = sha256(&[key4]);
    let nonce = |mac: &[u8; MAC_LEN]| {
        let mut nonce = [0u8; 24];
        nonce.copy_from_slice(&mac[..24]);
        nonce
    };
    Session {
        remote,
        encrypt: BoxKey {
            key: sha256(&[&secret, &remote.0]),
            nonce: nonce(remote_mac),
        },
        decrypt: BoxKey {
            key: sha256(&[&secret, &local.0]),
            nonce: nonce(local_mac),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    #[test]
    fn debug_output_never_shows_secrets() {
        let app_key = AppKey([1; 32]);
        let (client_keys, server_keys) =
            (Keypair::from_seed(&[2; 32]), Keypair::from_seed(&[3; 32]));
        let client = ClientHandshake::new(
            &app_key,
            &client_keys,
            &server_keys.public(),
            EphemeralKey::from_secret(&[4; 32]),
        );
        let server =
            ServerHandshake::new(&app_key, &server_keys, EphemeralKey::from_secret(&[5; 32]));
        let (server, msg2) = server.read_challenge(&client.challenge()).unwrap();
        let (client, msg3) = client.read_challenge(&msg2).unwrap();
        let verified = server.clone().read_hello(&msg3).unwrap();
        let shown = format!("{client:?} {server:?} {verified:?}");
        assert!(!shown.contains("[4, 4"), "ephemeral secret leaked: {shown}");
        assert!(!shown.contains("shared"), "shared secret leaked: {shown}");
        assert!(!shown.contains("key: ["), "box key leaked: {shown}");
        let (_, session) = verified.accept();
        assert_eq!(session.remote, client_keys.public());
    }
}
