//! The secret handshake computed from the outside, with the primitives taken from
//! the crypto crates directly rather than from secret-stack, so the targets can forge any message a
//! peer could send (a valid MAC over a chosen key, a box of chosen plaintext) and check what the
//! state machines accept against an independent derivation.

use std::sync::LazyLock;

use dryoc::classic::crypto_secretbox::{crypto_secretbox_easy, crypto_secretbox_open_easy};
use hmac::{Hmac, KeyInit as _, Mac as _};
use secret_stack::box_stream::BoxKey;
use secret_stack::handshake::Session;
use secret_stack::keys::{AppKey, Keypair};
use sha2::{Digest as _, Sha256, Sha512};

use crate::hex;

/// The app key of run `ssb-main-net` in `shs-handshake.json` (the main-network cap).
pub const APP_KEY: AppKey = AppKey(hex(
    "d4a1cb88a66f02f8db635ce26441cc5dac1b08420ceaac230839b755845a9ffb",
));
/// The client's long-term seed in that run.
pub const CLIENT_SEED: [u8; 32] =
    hex("b8254165840652cec636a753057d98449764a2834c1cf205a150349378b88674");
/// The client's ephemeral X25519 secret in that run.
pub const CLIENT_EPHEMERAL: [u8; 32] =
    hex("e8e382df3baaaf0a4ce45c8667d9adc6a21e1ba9a026c273da74be2c0876004b");
/// The server's long-term seed in that run.
pub const SERVER_SEED: [u8; 32] =
    hex("2b18f47826a31e41dafac98d82e0f984bc716acc15be6176ba32f761fc575a6d");
/// The server's ephemeral X25519 secret in that run.
pub const SERVER_EPHEMERAL: [u8; 32] =
    hex("c05651c4d17d63dc31ac4ddab1510e95361128a717677b62783b019a8a7f1754");

/// `hmac(K, message)`: HMAC-SHA-512 truncated to 32 bytes (libsodium `crypto_auth`).
pub fn mac(app_key: &AppKey, message: &[u8]) -> [u8; 32] {
    let Ok(mut hmac) = Hmac::<Sha512>::new_from_slice(&app_key.0) else {
        unreachable!("HMAC takes keys of any length")
    };
    hmac.update(message);
    let full = hmac.finalize().into_bytes();
    let mut tag = [0u8; 32];
    tag.copy_from_slice(&full[..32]);
    tag
}

/// A challenge (message 1 or 2) for any 32 bytes claimed as the ephemeral key: `hmac ‖ key`.
pub fn challenge(app_key: &AppKey, ephemeral_public: &[u8; 32]) -> [u8; 64] {
    let mut msg = [0u8; 64];
    msg[..32].copy_from_slice(&mac(app_key, ephemeral_public));
    msg[32..].copy_from_slice(ephemeral_public);
    msg
}

/// Whether `msg` is a challenge the app key authenticates.
pub fn challenge_is_valid(app_key: &AppKey, msg: &[u8; 64]) -> bool {
    let mut key = [0u8; 32];
    key.copy_from_slice(&msg[32..]);
    mac(app_key, &key) == msg[..32]
}

/// X25519 without any check of the result.
pub fn dh(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*secret, *public)
}

/// The X25519 public key of `secret`.
pub fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    dh(secret, &x25519_dalek::X25519_BASEPOINT_BYTES)
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// `box(plaintext, Z24, key)` with the tag first; `OUT` must be `plaintext.len() + 16`.
pub fn seal<const OUT: usize>(key: &[u8; 32], plaintext: &[u8]) -> [u8; OUT] {
    let mut out = [0u8; OUT];
    assert_eq!(plaintext.len() + 16, OUT, "box size");
    if crypto_secretbox_easy(&mut out, plaintext, &[0; 24], key).is_err() {
        unreachable!("sizes checked above");
    }
    out
}

/// Opens a zero-nonce box of `OUT` bytes of plaintext.
pub fn open<const OUT: usize>(key: &[u8; 32], boxed: &[u8]) -> Option<[u8; OUT]> {
    let mut out = [0u8; OUT];
    if boxed.len() != OUT + 16 {
        return None;
    }
    crypto_secretbox_open_easy(&mut out, boxed, &[0; 24], key).ok()?;
    Some(out)
}

/// One handshake between two key pairs whose four secrets the harness knows, derived once, step
/// by step as the handshake is specified.
#[derive(Clone)]
pub struct Transcript {
    /// The network key.
    pub app_key: AppKey,
    /// The client's long-term pair.
    pub client: Keypair,
    /// The server's long-term pair.
    pub server: Keypair,
    /// The client's ephemeral secret `a`.
    pub client_ephemeral: [u8; 32],
    /// The server's ephemeral secret `b`.
    pub server_ephemeral: [u8; 32],
    /// Message 1.
    pub msg1: [u8; 64],
    /// Message 2.
    pub msg2: [u8; 64],
    /// The plaintext of message 3: `sig_A ‖ A_pub`, `sig_A` over `K ‖ B_pub ‖ sha256(ab)`.
    pub hello: [u8; 96],
    /// Message 3.
    pub msg3: [u8; 112],
    /// The plaintext of message 4: `sig_B` over `K ‖ sig_A ‖ A_pub ‖ sha256(ab)`.
    pub accept: [u8; 64],
    /// Message 4.
    pub msg4: [u8; 80],
    /// The key of message 3's box.
    pub key3: [u8; 32],
    /// The key of message 4's box.
    pub key4: [u8; 32],
}

impl Transcript {
    /// Derives the whole handshake of these keys.
    pub fn new(
        app_key: AppKey,
        client: Keypair,
        server: Keypair,
        client_ephemeral: [u8; 32],
        server_ephemeral: [u8; 32],
    ) -> Self {
        let (a_pub, b_pub) = (public_of(&client_ephemeral), public_of(&server_ephemeral));
        let shared_ab = dh(&client_ephemeral, &b_pub);
        // aB on the server's side and Ab on the client's: each from the other half of the pair
        // the state machine under test uses.
        let shared_a_b = dh(&server.to_curve25519(), &a_pub);
        let shared_ab_long = dh(&client.to_curve25519(), &b_pub);
        let key3 = sha256(&[&app_key.0, &shared_ab, &shared_a_b]);
        let key4 = sha256(&[&app_key.0, &shared_ab, &shared_a_b, &shared_ab_long]);
        let hashed = sha256(&[&shared_ab]);
        let mut hello = [0u8; 96];
        let signed = [&app_key.0[..], &server.public().0, &hashed].concat();
        hello[..64].copy_from_slice(&client.sign(&signed));
        hello[64..].copy_from_slice(&client.public().0);
        let accept = server.sign(&[&app_key.0[..], &hello, &hashed].concat());
        Transcript {
            msg1: challenge(&app_key, &a_pub),
            msg2: challenge(&app_key, &b_pub),
            msg3: seal(&key3, &hello),
            msg4: seal(&key4, &accept),
            app_key,
            client,
            server,
            client_ephemeral,
            server_ephemeral,
            hello,
            accept,
            key3,
            key4,
        }
    }

    /// The run `ssb-main-net` of the vectors, whose messages are seeds of the corpora.
    pub fn vector() -> Self {
        static VECTOR: LazyLock<Transcript> = LazyLock::new(|| {
            Transcript::new(
                APP_KEY,
                Keypair::from_seed(&CLIENT_SEED),
                Keypair::from_seed(&SERVER_SEED),
                CLIENT_EPHEMERAL,
                SERVER_EPHEMERAL,
            )
        });
        VECTOR.clone()
    }

    /// The vector run with another client (seed and ephemeral secret).
    pub fn with_client(seed: &[u8; 32], ephemeral: [u8; 32]) -> Self {
        let v = Transcript::vector();
        Transcript::new(
            v.app_key,
            Keypair::from_seed(seed),
            v.server,
            ephemeral,
            v.server_ephemeral,
        )
    }

    /// The vector run with another server ephemeral secret.
    pub fn with_server_ephemeral(ephemeral: [u8; 32]) -> Self {
        let v = Transcript::vector();
        Transcript::new(v.app_key, v.client, v.server, v.client_ephemeral, ephemeral)
    }

    /// Message 3 boxing another plaintext.
    pub fn msg3_with(&self, plaintext: &[u8; 96]) -> [u8; 112] {
        seal(&self.key3, plaintext)
    }

    /// Message 4 boxing another plaintext.
    pub fn msg4_with(&self, plaintext: &[u8; 64]) -> [u8; 80] {
        seal(&self.key4, plaintext)
    }

    /// The session the client must end with.
    pub fn client_session(&self) -> Session {
        let secret = sha256(&[&self.key4]);
        Session {
            remote: self.server.public(),
            encrypt: BoxKey {
                key: sha256(&[&secret, &self.server.public().0]),
                nonce: prefix(&self.msg2),
            },
            decrypt: BoxKey {
                key: sha256(&[&secret, &self.client.public().0]),
                nonce: prefix(&self.msg1),
            },
        }
    }

    /// The session the server must end with: the client's, mirrored.
    pub fn server_session(&self) -> Session {
        let client = self.client_session();
        Session {
            remote: self.client.public(),
            encrypt: client.decrypt,
            decrypt: client.encrypt,
        }
    }
}

/// The first 24 bytes of a challenge: the first nonce of a box stream.
fn prefix(msg: &[u8; 64]) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&msg[..24]);
    nonce
}
