//! The server side of the secret handshake against any client bytes.
//!
//! Input: a mode byte, then
//! * mode 0 (raw): msg1 (64) ‖ msg3 (112) ‖ more, to the state machine holding the keys of the
//!   vector run `ssb-main-net` (so that run's messages are seeds that complete), then everything
//!   after the mode byte to the async `server` over an in-memory duplex;
//! * mode 1: a chosen client ephemeral key (32) wrapped in a valid MAC (low-order keys, keys off
//!   the curve), then msg3 (112);
//! * mode 2: client ephemeral secret (32) ‖ client seed (32) ‖ flags ‖ 96-byte XOR mask: a valid
//!   msg1, and a msg3 that boxes either the correct hello or 96 fuzzer bytes, XORed with the mask,
//!   under the right key (so the signature and client-key checks behind the box are reached);
//! * mode 3: the same keys and up to 8 (position, mask) patches on a correct msg1 ‖ msg3;
//! * mode 4: an interactive client over the duplex whose msg1 / msg3 the patches may alter, and
//!   an authorisation answer; the async server must end exactly as the inputs dictate.
//!
//! Every acceptance is checked against the transcript computed in `secret_stack_fuzz::shs`.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use secret_stack::handshake::{
    ClientHandshake, EphemeralKey, HandshakeError, ServerHandshake, Session, server,
};
use secret_stack::keys::Keypair;
use secret_stack_fuzz::input::{Input, mutate};
use secret_stack_fuzz::shs::{self, Transcript};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::runtime::Runtime;

thread_local! {
    static RUNTIME: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("current-thread runtime");
}

/// Generous: nothing here waits on anything but the other half of an in-memory pipe.
const TIMEOUT: Duration = Duration::from_secs(5);

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    match input.byte() % 5 {
        0 => raw(&mut input),
        1 => chosen_ephemeral(&mut input),
        2 => chosen_hello(&mut input),
        3 => patched_run(&mut input),
        _ => interactive(&mut input),
    }
});

fn raw(input: &mut Input<'_>) {
    let bytes = input.clone().rest().to_vec();
    let msg1: [u8; 64] = input.array();
    let msg3: [u8; 112] = input.array();
    drive(&Transcript::vector(), &msg1, &msg3);
    duplex_raw(&bytes);
}

fn chosen_ephemeral(input: &mut Input<'_>) {
    let msg1 = shs::challenge(&shs::APP_KEY, &input.array());
    let msg3: [u8; 112] = input.array();
    drive(&Transcript::vector(), &msg1, &msg3);
}

fn chosen_hello(input: &mut Input<'_>) {
    let t = transcript(input);
    let flags = input.byte();
    let mask: [u8; 96] = input.array();
    let mut plain = if flags & 1 == 0 {
        t.hello
    } else {
        input.array()
    };
    for (p, m) in plain.iter_mut().zip(mask) {
        *p ^= m;
    }
    let accepted = drive(&t, &t.msg1, &t.msg3_with(&plain));
    assert_eq!(accepted, plain == t.hello, "chosen hello");
}

fn patched_run(input: &mut Input<'_>) {
    let t = transcript(input);
    let mut both = [0u8; 176];
    both[..64].copy_from_slice(&t.msg1);
    both[64..].copy_from_slice(&t.msg3);
    let changed = mutate(&mut both, input, 8);
    let (msg1, msg3) = both.split_at(64);
    let accepted = drive(&t, msg1.try_into().unwrap(), msg3.try_into().unwrap());
    assert_eq!(accepted, !changed, "patched={changed}");
}

/// A transcript with the vector server and a fuzzer-chosen client ephemeral secret and seed.
fn transcript(input: &mut Input<'_>) -> Transcript {
    let ephemeral = input.array();
    Transcript::with_client(&input.array(), ephemeral)
}

/// Runs the server state machine of `t`'s server; returns whether it accepted the hello. It must
/// accept exactly when the messages are `t`'s (a hello from any other key needs that key's
/// signature over `t`'s secrets), and then everything it produces must match `t`.
fn drive(t: &Transcript, msg1: &[u8; 64], msg3: &[u8; 112]) -> bool {
    let honest = *msg1 == t.msg1 && *msg3 == t.msg3;
    let server = ServerHandshake::new(
        &t.app_key,
        &t.server,
        EphemeralKey::from_secret(&t.server_ephemeral),
    );
    let app_key = t.app_key;
    let mac_ok = shs::challenge_is_valid(&app_key, msg1);
    let client_ephemeral: [u8; 32] = msg1[32..].try_into().unwrap();
    let low_order = shs::dh(&t.server_ephemeral, &client_ephemeral) == [0; 32];
    let (waiting, msg2) = match server.read_challenge(msg1) {
        Ok(next) => next,
        Err(err) => {
            assert!(!mac_ok || low_order, "valid msg1 refused: {err}");
            assert!(err.is_rejection());
            return false;
        }
    };
    assert!(
        mac_ok && !low_order,
        "msg1 accepted: mac {mac_ok}, low order {low_order}"
    );
    assert_eq!(
        msg2,
        shs::challenge(&app_key, &shs::public_of(&t.server_ephemeral))
    );
    let verified = match waiting.read_hello(msg3) {
        Ok(verified) => verified,
        Err(err) => {
            assert!(!honest, "honest hello refused: {err}");
            assert!(err.is_rejection());
            return false;
        }
    };
    // Whatever was accepted must open under the key the transcript derives for this msg1.
    let server_curve = t.server.to_curve25519();
    let key3 = shs::sha256(&[
        &app_key.0,
        &shs::dh(&t.server_ephemeral, &client_ephemeral),
        &shs::dh(&server_curve, &client_ephemeral),
    ]);
    let Some(plain) = shs::open::<96>(&key3, msg3) else {
        panic!("server accepted a msg3 that does not open");
    };
    let client = verified.client();
    assert_eq!(&plain[64..], &client.0[..], "accepted key is the boxed key");
    let (msg4, session) = verified.accept();
    assert!(
        honest,
        "a hello not made by the transcript's client was accepted"
    );
    assert_eq!(client, t.client.public());
    assert_eq!(msg4, t.msg4);
    assert_eq!(session, t.server_session());
    true
}

/// The async server over a duplex, fed `bytes` and then end of input.
fn duplex_raw(bytes: &[u8]) {
    let local = Keypair::from_seed(&shs::SERVER_SEED);
    let (written, result) = RUNTIME.with(|rt| {
        rt.block_on(async {
            let (mut near, mut far) = tokio::io::duplex(1024);
            let serve = async {
                let result = server(&mut far, &shs::APP_KEY, &local, TIMEOUT, |_| async {
                    Some(())
                })
                .await;
                drop(far);
                result
            };
            let peer = async {
                // The server reads at most 176 bytes; the rest may not fit the pipe.
                let _ = near.write_all(&bytes[..bytes.len().min(176)]).await;
                let _ = near.shutdown().await;
                let mut written = Vec::new();
                let _ = near.read_to_end(&mut written).await;
                written
            };
            let (result, written) = tokio::join!(serve, peer);
            (written, result)
        })
    });
    let msg1_ok = bytes.len() >= 64 && shs::challenge_is_valid(&shs::APP_KEY, &first(bytes));
    match &result {
        Ok(_) => panic!("raw bytes completed a handshake with a random ephemeral key"),
        Err(HandshakeError::Timeout { .. }) => panic!("timed out on an in-memory pipe"),
        Err(_) if !msg1_ok => assert!(written.is_empty(), "wrote to a client that failed msg1"),
        Err(_) => assert_eq!(written.len(), 64, "only msg2 may be written"),
    }
}

fn first(bytes: &[u8]) -> [u8; 64] {
    bytes[..64].try_into().unwrap()
}

fn interactive(input: &mut Input<'_>) {
    let t = transcript(input);
    let flags = input.byte();
    let authorize = flags & 1 == 1;
    let mut msg1_patches = Input::new(input.take(usize::from(flags >> 1 & 3) * 3));
    let mut msg3_patches = Input::new(input.take(usize::from(flags >> 3 & 3) * 3));
    let server_keys = t.server.clone();
    let client_public = t.client.public();

    let (server_result, client_seen) = RUNTIME.with(|rt| {
        rt.block_on(async {
            let (mut near, mut far) = tokio::io::duplex(1024);
            let serve = async {
                let result = server(&mut far, &t.app_key, &server_keys, TIMEOUT, |client| {
                    assert_eq!(client, client_public, "authorize asked about the wrong key");
                    async move { authorize.then_some(client) }
                })
                .await;
                drop(far);
                result
            };
            let peer = async {
                let handshake = ClientHandshake::new(
                    &t.app_key,
                    &t.client,
                    &t.server.public(),
                    EphemeralKey::from_secret(&t.client_ephemeral),
                );
                let mut msg1 = handshake.challenge();
                let msg1_changed = mutate(&mut msg1, &mut msg1_patches, 3);
                near.write_all(&msg1).await.expect("write msg1");
                let mut msg2 = [0u8; 64];
                if near.read_exact(&mut msg2).await.is_err() {
                    return Seen::msg1_refused(msg1_changed);
                }
                let (waiting, mut msg3) = handshake
                    .read_challenge(&msg2)
                    .expect("a real server's msg2 is valid");
                let msg3_changed = mutate(&mut msg3, &mut msg3_patches, 3);
                near.write_all(&msg3).await.expect("write msg3");
                let mut rest = Vec::new();
                near.read_to_end(&mut rest).await.expect("read msg4");
                let session = <[u8; 80]>::try_from(rest.as_slice())
                    .ok()
                    .map(|msg4| waiting.read_accept(&msg4));
                Seen {
                    msg1_changed,
                    msg3_changed,
                    got_msg2: true,
                    after_msg3: rest.len(),
                    session: session.map(|s| s.expect("a real server's msg4 is valid")),
                }
            };
            tokio::join!(serve, peer)
        })
    });

    match (
        client_seen.msg1_changed,
        client_seen.msg3_changed,
        authorize,
    ) {
        (true, _, _) => {
            assert!(
                matches!(server_result, Err(HandshakeError::InvalidClientChallenge)),
                "bad msg1: {server_result:?}"
            );
            assert!(!client_seen.got_msg2, "msg2 sent after a bad msg1");
        }
        (false, true, _) => {
            assert!(
                matches!(server_result, Err(HandshakeError::InvalidClientHello(_))),
                "bad msg3: {server_result:?}"
            );
            assert_eq!(client_seen.after_msg3, 0, "msg4 sent after a bad msg3");
        }
        (false, false, false) => {
            assert!(matches!(
                server_result,
                Err(HandshakeError::Unauthorized { client }) if client == client_public
            ));
            assert_eq!(
                client_seen.after_msg3, 0,
                "msg4 sent to an unauthorised client"
            );
        }
        (false, false, true) => {
            let Ok((session, answer)) = server_result else {
                panic!("honest authorised client refused: {server_result:?}");
            };
            assert_eq!(answer, client_public);
            assert_eq!(session.remote, client_public);
            let client_session = client_seen.session.expect("client got msg4");
            assert_eq!(session.encrypt, client_session.decrypt);
            assert_eq!(session.decrypt, client_session.encrypt);
            assert_eq!(client_session.remote, t.server.public());
        }
    }
}

/// What the interactive client saw.
struct Seen {
    msg1_changed: bool,
    msg3_changed: bool,
    got_msg2: bool,
    after_msg3: usize,
    session: Option<Session>,
}

impl Seen {
    fn msg1_refused(msg1_changed: bool) -> Self {
        Seen {
            msg1_changed,
            msg3_changed: false,
            got_msg2: false,
            after_msg3: 0,
            session: None,
        }
    }
}
