//! The client side of the secret handshake against any server bytes.
//!
//! Input: a mode byte, then
//! * mode 0 (raw): msg2 (64) ‖ msg4 (80) to the state machine holding the client keys of the
//!   vector run `ssb-main-net` (that run's messages are seeds that complete), then everything
//!   after the mode byte to the async `client` over an in-memory duplex;
//! * mode 1: a chosen server ephemeral key (32) wrapped in a valid MAC, then msg4 (80);
//! * mode 2: server ephemeral secret (32) ‖ flags ‖ 64-byte XOR mask: a valid msg2, and a msg4
//!   boxing the correct signature or 64 fuzzer bytes, XORed with the mask, under the right key;
//! * mode 3: up to 8 (position, mask) patches on a correct msg2 ‖ msg4;
//! * mode 4: an interactive server over the duplex whose msg2 / msg4 the patches may alter.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use secret_stack::handshake::{
    ClientHandshake, EphemeralKey, HandshakeError, ServerHandshake, client,
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
        2 => chosen_accept(&mut input),
        3 => patched_run(&mut input),
        _ => interactive(&mut input),
    }
});

/// The vector run's client state machine, dialling the vector server.
fn vector_client(t: &Transcript) -> ClientHandshake {
    ClientHandshake::new(
        &t.app_key,
        &t.client,
        &t.server.public(),
        EphemeralKey::from_secret(&t.client_ephemeral),
    )
}

fn raw(input: &mut Input<'_>) {
    let bytes = input.clone().rest().to_vec();
    let msg2: [u8; 64] = input.array();
    let msg4: [u8; 80] = input.array();
    drive(&Transcript::vector(), &msg2, &msg4);
    duplex_raw(&bytes);
}

fn chosen_ephemeral(input: &mut Input<'_>) {
    let msg2 = shs::challenge(&shs::APP_KEY, &input.array());
    let msg4: [u8; 80] = input.array();
    drive(&Transcript::vector(), &msg2, &msg4);
}

fn chosen_accept(input: &mut Input<'_>) {
    let t = transcript(input);
    let flags = input.byte();
    let mask: [u8; 64] = input.array();
    let mut plain = if flags & 1 == 0 {
        t.accept
    } else {
        input.array()
    };
    for (p, m) in plain.iter_mut().zip(mask) {
        *p ^= m;
    }
    let accepted = drive(&t, &t.msg2, &t.msg4_with(&plain));
    assert_eq!(accepted, plain == t.accept, "chosen accept");
}

fn patched_run(input: &mut Input<'_>) {
    let t = transcript(input);
    let mut both = [0u8; 144];
    both[..64].copy_from_slice(&t.msg2);
    both[64..].copy_from_slice(&t.msg4);
    let changed = mutate(&mut both, input, 8);
    let (msg2, msg4) = both.split_at(64);
    let accepted = drive(&t, msg2.try_into().unwrap(), msg4.try_into().unwrap());
    assert_eq!(accepted, !changed, "patched={changed}");
}

/// The vector client and server keys with a fuzzer-chosen server ephemeral secret.
fn transcript(input: &mut Input<'_>) -> Transcript {
    Transcript::with_server_ephemeral(input.array())
}

/// Runs the client state machine of `t`'s client against `msg2` and `msg4`; returns whether it
/// completed. It must complete exactly when the messages are `t`'s (no one else can produce a
/// valid msg4 for `t`'s client), and then everything must match `t`.
fn drive(t: &Transcript, msg2: &[u8; 64], msg4: &[u8; 80]) -> bool {
    let honest = *msg2 == t.msg2 && *msg4 == t.msg4;
    let start = vector_client(t);
    assert_eq!(start.challenge(), t.msg1);
    let mac_ok = shs::challenge_is_valid(&t.app_key, msg2);
    let server_ephemeral: [u8; 32] = msg2[32..].try_into().unwrap();
    let low_order = shs::dh(&t.client_ephemeral, &server_ephemeral) == [0; 32];
    let (waiting, msg3) = match start.read_challenge(msg2) {
        Ok(next) => next,
        Err(err) => {
            assert!(!mac_ok || low_order, "valid msg2 refused: {err}");
            assert!(err.is_rejection());
            return false;
        }
    };
    assert!(
        mac_ok && !low_order,
        "msg2 accepted: mac {mac_ok}, low order {low_order}"
    );
    // msg3 must be the hello of this client boxed for whoever holds server_ephemeral.
    let key3 = shs::sha256(&[
        &t.app_key.0,
        &shs::dh(&t.client_ephemeral, &server_ephemeral),
        &shs::dh(
            &t.client_ephemeral,
            &t.server.public().to_curve25519().unwrap(),
        ),
    ]);
    let Some(plain) = shs::open::<96>(&key3, &msg3) else {
        panic!("msg3 does not open under the derived key");
    };
    assert_eq!(&plain[64..], &t.client.public().0[..]);
    if honest {
        assert_eq!(msg3, t.msg3);
    }
    match waiting.read_accept(msg4) {
        Ok(session) => {
            assert!(honest, "a tampered or forged msg4 was accepted");
            assert_eq!(session, t.client_session());
            true
        }
        Err(err) => {
            assert!(!honest, "honest msg4 refused: {err}");
            assert!(err.is_rejection());
            false
        }
    }
}

/// The async client over a duplex, the peer answering with `bytes` and then end of input.
fn duplex_raw(bytes: &[u8]) {
    let t = Transcript::vector();
    let (got, result) = RUNTIME.with(|rt| {
        rt.block_on(async {
            let (mut near, mut far) = tokio::io::duplex(1024);
            let dial = async {
                let result =
                    client(&mut far, &t.app_key, &t.client, &t.server.public(), TIMEOUT).await;
                drop(far);
                result
            };
            let peer = async {
                let _ = near.write_all(&bytes[..bytes.len().min(144)]).await;
                let _ = near.shutdown().await;
                let mut got = Vec::new();
                let _ = near.read_to_end(&mut got).await;
                got
            };
            let (result, got) = tokio::join!(dial, peer);
            (got, result)
        })
    });
    assert!(got.len() >= 64, "msg1 is always sent");
    let msg2_ok = bytes.len() >= 64 && shs::challenge_is_valid(&t.app_key, &first(bytes));
    match &result {
        Ok(_) => panic!("raw bytes completed a handshake with a random ephemeral key"),
        Err(HandshakeError::Timeout { .. }) => panic!("timed out on an in-memory pipe"),
        Err(_) if !msg2_ok => assert_eq!(got.len(), 64, "msg3 sent after a bad msg2"),
        Err(_) => assert!(
            got.len() == 64 || got.len() == 176,
            "wrote {} bytes",
            got.len()
        ),
    }
}

fn first(bytes: &[u8]) -> [u8; 64] {
    bytes[..64].try_into().unwrap()
}

fn interactive(input: &mut Input<'_>) {
    let client_keys = Keypair::from_seed(&input.array());
    let server_ephemeral: [u8; 32] = input.array();
    let flags = input.byte();
    let mut msg2_patches = Input::new(input.take(usize::from(flags & 3) * 3));
    let mut msg4_patches = Input::new(input.take(usize::from(flags >> 2 & 3) * 3));
    let t = Transcript::vector();

    let (client_result, served) = RUNTIME.with(|rt| {
        rt.block_on(async {
            let (mut near, mut far) = tokio::io::duplex(1024);
            let dial = async {
                let result = client(
                    &mut far,
                    &t.app_key,
                    &client_keys,
                    &t.server.public(),
                    TIMEOUT,
                )
                .await;
                drop(far);
                result
            };
            let peer = async {
                let handshake = ServerHandshake::new(
                    &t.app_key,
                    &t.server,
                    EphemeralKey::from_secret(&server_ephemeral),
                );
                let mut msg1 = [0u8; 64];
                near.read_exact(&mut msg1).await.expect("msg1");
                let (waiting, mut msg2) = handshake
                    .read_challenge(&msg1)
                    .expect("a real client's msg1 is valid");
                let msg2_changed = mutate(&mut msg2, &mut msg2_patches, 3);
                near.write_all(&msg2).await.expect("write msg2");
                let mut msg3 = [0u8; 112];
                if near.read_exact(&mut msg3).await.is_err() {
                    return (msg2_changed, false, None);
                }
                let verified = waiting
                    .read_hello(&msg3)
                    .expect("a real client's msg3 is valid");
                assert_eq!(verified.client(), client_keys.public());
                let (mut msg4, session) = verified.accept();
                let msg4_changed = mutate(&mut msg4, &mut msg4_patches, 3);
                near.write_all(&msg4).await.expect("write msg4");
                let mut rest = Vec::new();
                near.read_to_end(&mut rest).await.expect("read to end");
                assert!(rest.is_empty(), "client wrote after msg3");
                (msg2_changed, msg4_changed, Some(session))
            };
            tokio::join!(dial, peer)
        })
    });

    match served {
        (true, _, session) => {
            assert!(session.is_none(), "msg3 sent after a bad msg2");
            assert!(matches!(
                client_result,
                Err(HandshakeError::InvalidServerChallenge)
            ));
        }
        (false, true, _) => assert!(matches!(
            client_result,
            Err(HandshakeError::InvalidServerAccept(_))
        )),
        (false, false, server_session) => {
            let server_session = server_session.expect("msg3 arrived");
            let Ok(session) = client_result else {
                panic!("honest server refused: {client_result:?}");
            };
            assert_eq!(session.remote, t.server.public());
            assert_eq!(server_session.remote, client_keys.public());
            assert_eq!(session.encrypt, server_session.decrypt);
            assert_eq!(session.decrypt, server_session.encrypt);
        }
    }
}
