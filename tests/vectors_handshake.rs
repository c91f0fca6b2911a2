//! Secret-handshake vectors: every recorded run replayed byte for byte through the client and
//! server state machines, every failure case rejected with the right error, and real handshakes
//! (and failures, timeouts, truncations) over an in-process duplex pipe.

use std::time::{Duration, Instant};

use secret_stack::handshake::{
    self, AcceptFault, ClientHandshake, EphemeralKey, HandshakeError, HelloFault, Phase,
    ServerHandshake, Session, Side,
};
use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack_tests::vectors::{hex_array, load, to_hex};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

// ---------------------------------------------------------------------------------------------
// Recorded runs

fn keypair(side: &Value) -> Keypair {
    let pair = Keypair::from_secret_bytes(&hex_array(&side["longterm_sk"])).expect("64-byte sk");
    assert_eq!(to_hex(&pair.public().0), side["longterm_pk"]);
    pair
}

/// The side's ephemeral key, checking that the JS seed derivation gives the same pair.
fn ephemeral(side: &Value) -> EphemeralKey {
    let key = EphemeralKey::from_secret(&hex_array(&side["ephemeral_sk"]));
    assert_eq!(to_hex(&key.public()), side["ephemeral_pk"]);
    if !side["ephemeral_ed25519_seed"].is_null() {
        let derived = EphemeralKey::from_ed25519_seed(&hex_array(&side["ephemeral_ed25519_seed"]));
        assert_eq!(derived, key, "ed25519 seed -> curve25519 ephemeral");
    }
    key
}

fn assert_outcome(session: &Session, outcome: &Value, remote: &PublicKey, name: &Value) {
    assert_eq!(&session.remote, remote, "{name}");
    assert_eq!(
        to_hex(&session.encrypt.key),
        outcome["encrypt_key"],
        "{name}"
    );
    assert_eq!(
        to_hex(&session.encrypt.nonce),
        outcome["encrypt_nonce"],
        "{name}"
    );
    assert_eq!(
        to_hex(&session.decrypt.key),
        outcome["decrypt_key"],
        "{name}"
    );
    assert_eq!(
        to_hex(&session.decrypt.nonce),
        outcome["decrypt_nonce"],
        "{name}"
    );
}

fn replay_runs(file: &str) -> usize {
    let vectors = load(file);
    let runs = vectors["vectors"].as_array().expect("vectors array");
    for run in runs {
        let name = &run["name"];
        let app_key = AppKey(hex_array(&run["app_key"]));
        let client_keys = keypair(&run["client"]);
        let server_keys = keypair(&run["server"]);
        assert_eq!(client_keys.id(), run["client"]["id"], "{name}");
        assert_eq!(server_keys.id(), run["server"]["id"], "{name}");
        let messages = &run["messages"];

        let client = ClientHandshake::new(
            &app_key,
            &client_keys,
            &server_keys.public(),
            ephemeral(&run["client"]),
        );
        let server = ServerHandshake::new(&app_key, &server_keys, ephemeral(&run["server"]));

        let msg1 = client.challenge();
        assert_eq!(to_hex(&msg1), messages["msg1"], "{name}: msg1");
        let (server, msg2) = server.read_challenge(&msg1).expect("server accepts msg1");
        assert_eq!(to_hex(&msg2), messages["msg2"], "{name}: msg2");
        let (client, msg3) = client.read_challenge(&msg2).expect("client accepts msg2");
        assert_eq!(to_hex(&msg3), messages["msg3"], "{name}: msg3");
        let verified = server.read_hello(&msg3).expect("server accepts msg3");
        assert_eq!(verified.client(), client_keys.public(), "{name}");
        let (msg4, server_session) = verified.accept();
        assert_eq!(to_hex(&msg4), messages["msg4"], "{name}: msg4");
        let client_session = client.read_accept(&msg4).expect("client accepts msg4");

        assert_outcome(
            &client_session,
            &run["client_outcome"],
            &server_keys.public(),
            name,
        );
        assert_outcome(
            &server_session,
            &run["server_outcome"],
            &client_keys.public(),
            name,
        );
    }
    runs.len()
}

#[test]
fn generated_runs_replay_byte_for_byte() {
    assert_eq!(replay_runs("shs-handshake.json"), 4);
}

#[test]
fn upstream_runs_replay_byte_for_byte() {
    assert_eq!(replay_runs("shs-handshake-upstream.json"), 6);
}

// ---------------------------------------------------------------------------------------------
// Recorded failures

/// Drives the verifying side of a failure case to the message it must reject (or accept).
fn run_failure_case(case: &Value) -> Result<(), HandshakeError> {
    let app_key = AppKey(hex_array(&case["app_key"]));
    let msg = |field: &str| case[field].clone();
    match case["verifier"].as_str() {
        Some("server") => {
            let server_side = &case["server"];
            let server =
                ServerHandshake::new(&app_key, &keypair(server_side), ephemeral(server_side));
            let (server, msg2) = server.read_challenge(&hex_array(&msg("msg1")))?;
            assert_eq!(to_hex(&msg2), msg("msg2"), "{}: our msg2", case["name"]);
            server.read_hello(&hex_array(&msg("msg3"))).map(|_| ())
        }
        Some("client") => {
            let client_side = &case["client"];
            let server_pk = PublicKey(hex_array(&case["server_longterm_pk"]));
            let client = ClientHandshake::new(
                &app_key,
                &keypair(client_side),
                &server_pk,
                ephemeral(client_side),
            );
            assert_eq!(to_hex(&client.challenge()), msg("msg1"), "{}", case["name"]);
            let (client, msg3) = client.read_challenge(&hex_array(&msg("msg2")))?;
            assert_eq!(to_hex(&msg3), msg("msg3"), "{}: our msg3", case["name"]);
            client.read_accept(&hex_array(&msg("msg4"))).map(|_| ())
        }
        other => panic!("unknown verifier {other:?}"),
    }
}

#[test]
fn recorded_failures_are_rejected_with_the_right_error() {
    let vectors = load("shs-handshake-failures.json");
    let cases = vectors["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 8);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let result = run_failure_case(case);
        match name {
            "client-accepts-valid-msg4 (control)" => {
                assert!(result.is_ok(), "{name}: {result:?}");
                continue;
            }
            "server-rejects-msg1-wrong-app-key" => {
                assert!(matches!(
                    result,
                    Err(HandshakeError::InvalidClientChallenge)
                ))
            }
            "client-rejects-msg2-wrong-app-key" => {
                assert!(matches!(
                    result,
                    Err(HandshakeError::InvalidServerChallenge)
                ))
            }
            "server-rejects-msg3-client-used-wrong-server-key" => assert!(matches!(
                result,
                Err(HandshakeError::InvalidClientHello(HelloFault::BoxOpen))
            )),
            "server-rejects-msg3-bad-signature" => assert!(matches!(
                result,
                Err(HandshakeError::InvalidClientHello(HelloFault::BadSignature))
            )),
            "client-rejects-msg4-bit-flipped" => assert!(matches!(
                result,
                Err(HandshakeError::InvalidServerAccept(AcceptFault::BoxOpen))
            )),
            "client-rejects-msg4-bad-signature" => assert!(matches!(
                result,
                Err(HandshakeError::InvalidServerAccept(
                    AcceptFault::BadSignature
                ))
            )),
            "server-rejects-msg1-low-order-ephemeral-key" => assert!(matches!(
                result,
                Err(HandshakeError::LowOrderKey {
                    phase: Phase::ClientChallenge
                })
            )),
            other => panic!("unexpected case {other}"),
        }
        let error = result.expect_err("rejected");
        assert!(error.is_rejection(), "{name}");
        if let Some(js) = case["js_error"].as_str() {
            assert!(
                error.to_string().starts_with(js),
                "{name}: {error} does not carry the JS text {js}"
            );
        }
    }
}

#[test]
fn invalid_server_key_is_refused_before_msg3() {
    let vectors = load("keys.json");
    let app_key = AppKey([7; 32]);
    let server_keys = Keypair::from_seed(&[8; 32]);
    for bad in vectors["bad_public_keys_for_conversion"]
        .as_array()
        .expect("bad keys")
    {
        let bad_key = PublicKey(hex_array(&bad["ed25519_pk"]));
        let client = ClientHandshake::new(
            &app_key,
            &Keypair::from_seed(&[9; 32]),
            &bad_key,
            EphemeralKey::from_secret(&[10; 32]),
        );
        let server =
            ServerHandshake::new(&app_key, &server_keys, EphemeralKey::from_secret(&[11; 32]));
        let (_, msg2) = server
            .read_challenge(&client.challenge())
            .expect("msg1 fine");
        let result = client.read_challenge(&msg2);
        assert!(
            matches!(result, Err(HandshakeError::InvalidServerKey { server, .. }) if server == bad_key),
            "{}: {result:?}",
            bad["name"]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Over a duplex pipe

const APP: AppKey = AppKey([0x5a; 32]);
const SHORT: Duration = Duration::from_millis(300);

fn pipe() -> (DuplexStream, DuplexStream) {
    tokio::io::duplex(4096)
}

async fn accept_all(key: PublicKey) -> Option<PublicKey> {
    Some(key)
}

#[tokio::test]
async fn real_handshake_over_duplex_agrees_and_leaves_the_stream_intact() {
    let (client_keys, server_keys) = (Keypair::generate(), Keypair::generate());
    let server_pk = server_keys.public();
    let (mut a, mut b) = pipe();
    let (client, server) = tokio::join!(
        async {
            let session = handshake::client(
                &mut a,
                &APP,
                &client_keys,
                &server_pk,
                handshake::DEFAULT_TIMEOUT,
            )
            .await;
            a.write_all(b"after").await.expect("write after handshake");
            session
        },
        async {
            let result = handshake::server(
                &mut b,
                &APP,
                &server_keys,
                handshake::DEFAULT_TIMEOUT,
                accept_all,
            )
            .await;
            let mut rest = [0u8; 5];
            b.read_exact(&mut rest)
                .await
                .expect("bytes after msg3 stay");
            (result, rest)
        }
    );
    let client = client.expect("client handshake");
    let ((server, authorised), rest) = {
        let (result, rest) = server;
        (result.expect("server handshake"), rest)
    };
    assert_eq!(&rest, b"after");
    assert_eq!(authorised, client_keys.public());
    assert_eq!(client.remote, server_keys.public());
    assert_eq!(server.remote, client_keys.public());
    assert_eq!(client.encrypt, server.decrypt);
    assert_eq!(client.decrypt, server.encrypt);
    assert_ne!(client.encrypt.key, client.decrypt.key);
}

#[tokio::test]
async fn self_connection_works_with_distinct_nonces() {
    let keys = Keypair::generate();
    let server_pk = keys.public();
    let (mut a, mut b) = pipe();
    let (client, server) = tokio::join!(
        handshake::client(&mut a, &APP, &keys, &server_pk, SHORT),
        handshake::server(&mut b, &APP, &keys, SHORT, accept_all),
    );
    let client = client.expect("client");
    let (server, _) = server.expect("server");
    assert_eq!(client.encrypt.key, client.decrypt.key);
    assert_ne!(client.encrypt.nonce, client.decrypt.nonce);
    assert_eq!(client.encrypt, server.decrypt);
}

#[tokio::test]
async fn wrong_app_key_gets_silence_and_a_hang_up() {
    let (client_keys, server_keys) = (Keypair::generate(), Keypair::generate());
    let server_pk = server_keys.public();
    let (mut a, mut b) = pipe();
    let (client, server) = tokio::join!(
        handshake::client(&mut a, &AppKey([1; 32]), &client_keys, &server_pk, SHORT),
        handshake::server(&mut b, &APP, &server_keys, SHORT, accept_all),
    );
    assert!(
        matches!(server, Err(HandshakeError::InvalidClientChallenge)),
        "{server:?}"
    );
    match client {
        Err(HandshakeError::PeerHungUp {
            side: Side::Client,
            phase: Phase::ServerChallenge,
            received: 0,
            expected: 64,
        }) => {}
        other => panic!("client should see the server hang up silently: {other:?}"),
    }
}

#[tokio::test]
async fn server_sends_nothing_to_a_bad_msg1() {
    let vectors = load("shs-handshake-failures.json");
    for name in [
        "server-rejects-msg1-wrong-app-key",
        "server-rejects-msg1-low-order-ephemeral-key",
    ] {
        let case = vectors["cases"]
            .as_array()
            .and_then(|cases| cases.iter().find(|c| c["name"] == name))
            .expect("case present");
        let server_keys = keypair(&case["server"]);
        let app_key = AppKey(hex_array(&case["app_key"]));
        let (mut a, mut b) = pipe();
        let msg1: [u8; 64] = hex_array(&case["msg1"]);
        a.write_all(&msg1).await.expect("send msg1");
        let result = handshake::server(&mut b, &app_key, &server_keys, SHORT, accept_all).await;
        assert!(
            result.as_ref().is_err_and(HandshakeError::is_rejection),
            "{name}: {result:?}"
        );
        let mut sent = Vec::new();
        a.read_to_end(&mut sent)
            .await
            .expect("read until the server's shutdown");
        assert!(sent.is_empty(), "{name}: server wrote {} bytes", sent.len());
    }
}

#[tokio::test]
async fn wrong_server_key_looks_like_a_hang_up_to_the_client() {
    let (client_keys, server_keys) = (Keypair::generate(), Keypair::generate());
    let someone_else = Keypair::generate().public();
    let (mut a, mut b) = pipe();
    let (client, server) = tokio::join!(
        handshake::client(&mut a, &APP, &client_keys, &someone_else, SHORT),
        handshake::server(&mut b, &APP, &server_keys, SHORT, accept_all),
    );
    assert!(
        matches!(
            server,
            Err(HandshakeError::InvalidClientHello(HelloFault::BoxOpen))
        ),
        "{server:?}"
    );
    let client = client.expect_err("client fails");
    assert!(
        matches!(
            client,
            HandshakeError::PeerHungUp {
                phase: Phase::ServerAccept,
                received: 0,
                ..
            }
        ),
        "{client:?}"
    );
    assert!(
        client
            .to_string()
            .starts_with("shs.client: server hung up when we sent hello (phase 3).")
    );
}

#[tokio::test]
async fn authorize_none_rejects_after_msg3() {
    let (client_keys, server_keys) = (Keypair::generate(), Keypair::generate());
    let server_pk = server_keys.public();
    let (mut a, mut b) = pipe();
    let expected = client_keys.public();
    let (client, server) = tokio::join!(
        handshake::client(&mut a, &APP, &client_keys, &server_pk, SHORT),
        handshake::server(&mut b, &APP, &server_keys, SHORT, |key| async move {
            assert_eq!(key, expected, "authorize sees the client's key");
            None::<()>
        }),
    );
    match server {
        Err(HandshakeError::Unauthorized { client }) => assert_eq!(client, expected),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(
        matches!(
            client,
            Err(HandshakeError::PeerHungUp {
                phase: Phase::ServerAccept,
                received: 0,
                ..
            })
        ),
        "{client:?}"
    );
}

#[tokio::test]
async fn silent_peers_time_out_per_phase() {
    let keys = Keypair::generate();
    let (mut a, _quiet_server) = pipe();
    let started = Instant::now();
    let client = handshake::client(&mut a, &APP, &keys, &keys.public(), SHORT).await;
    assert!(
        matches!(
            client,
            Err(HandshakeError::Timeout {
                side: Side::Client,
                phase: Phase::ServerChallenge,
                timeout: SHORT
            })
        ),
        "{client:?}"
    );
    assert!(started.elapsed() >= SHORT);

    let (_quiet_client, mut b) = pipe();
    let server = handshake::server(&mut b, &APP, &keys, SHORT, accept_all).await;
    assert!(
        matches!(
            server,
            Err(HandshakeError::Timeout {
                side: Side::Server,
                phase: Phase::ClientChallenge,
                ..
            })
        ),
        "{server:?}"
    );
}

#[tokio::test]
async fn the_timeout_is_per_read_not_per_handshake() {
    // A server that takes 60% of the timeout before each reply: 120% in total, yet no read waits
    // longer than the limit.
    let limit = Duration::from_millis(500);
    let delay = limit * 6 / 10;
    let (client_keys, server_keys) = (Keypair::generate(), Keypair::generate());
    let server_pk = server_keys.public();
    let (mut a, mut b) = pipe();
    let server_task = async {
        let server =
            ServerHandshake::new(&APP, &server_keys, EphemeralKey::generate().expect("rng"));
        let mut msg1 = [0u8; 64];
        b.read_exact(&mut msg1).await.expect("msg1");
        let (server, msg2) = server.read_challenge(&msg1).expect("valid msg1");
        tokio::time::sleep(delay).await;
        b.write_all(&msg2).await.expect("msg2");
        let mut msg3 = [0u8; 112];
        b.read_exact(&mut msg3).await.expect("msg3");
        let (msg4, _) = server.read_hello(&msg3).expect("valid msg3").accept();
        tokio::time::sleep(delay).await;
        b.write_all(&msg4).await.expect("msg4");
    };
    let started = Instant::now();
    let (client, ()) = tokio::join!(
        handshake::client(&mut a, &APP, &client_keys, &server_pk, limit),
        server_task
    );
    assert!(started.elapsed() > limit);
    assert_eq!(
        client.expect("slow server still succeeds").remote,
        server_keys.public()
    );
}

/// A fake server that answers correctly up to `cut` bytes of message `upto` (2 or 4), then hangs up.
async fn truncating_server(mut b: DuplexStream, server_keys: Keypair, upto: u8, cut: usize) {
    let server = ServerHandshake::new(&APP, &server_keys, EphemeralKey::generate().expect("rng"));
    let mut msg1 = [0u8; 64];
    b.read_exact(&mut msg1).await.expect("msg1");
    let (server, msg2) = server.read_challenge(&msg1).expect("valid msg1");
    if upto == 2 {
        b.write_all(&msg2[..cut]).await.expect("partial msg2");
        return;
    }
    b.write_all(&msg2).await.expect("msg2");
    let mut msg3 = [0u8; 112];
    b.read_exact(&mut msg3).await.expect("msg3");
    let (msg4, _) = server.read_hello(&msg3).expect("valid msg3").accept();
    b.write_all(&msg4[..cut]).await.expect("partial msg4");
}

#[tokio::test]
async fn truncated_server_messages_are_hang_ups_with_counts() {
    for (upto, cut, phase, expected) in [
        (2, 40, Phase::ServerChallenge, 64),
        (4, 50, Phase::ServerAccept, 80),
    ] {
        let (client_keys, server_keys) = (Keypair::generate(), Keypair::generate());
        let server_pk = server_keys.public();
        let (mut a, b) = pipe();
        let (client, ()) = tokio::join!(
            handshake::client(&mut a, &APP, &client_keys, &server_pk, SHORT),
            truncating_server(b, server_keys, upto, cut)
        );
        match client {
            Err(HandshakeError::PeerHungUp {
                side: Side::Client,
                phase: p,
                received,
                expected: e,
            }) => {
                assert_eq!((p, received, e), (phase, cut, expected));
            }
            other => panic!("msg{upto} cut at {cut}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn truncated_client_messages_are_hang_ups_with_counts() {
    let (client_keys, server_keys) = (Keypair::generate(), Keypair::generate());

    // Message 1 cut short.
    let (mut a, mut b) = pipe();
    a.write_all(&[0u8; 30]).await.expect("partial msg1");
    drop(a);
    let server = handshake::server(&mut b, &APP, &server_keys, SHORT, accept_all).await;
    assert!(
        matches!(
            server,
            Err(HandshakeError::PeerHungUp {
                side: Side::Server,
                phase: Phase::ClientChallenge,
                received: 30,
                expected: 64
            })
        ),
        "{server:?}"
    );

    // Message 3 cut short.
    let (mut a, mut b) = pipe();
    let client_task = async {
        let client = ClientHandshake::new(
            &APP,
            &client_keys,
            &server_keys.public(),
            EphemeralKey::generate().expect("rng"),
        );
        a.write_all(&client.challenge()).await.expect("msg1");
        let mut msg2 = [0u8; 64];
        a.read_exact(&mut msg2).await.expect("msg2");
        let (_, msg3) = client.read_challenge(&msg2).expect("valid msg2");
        a.write_all(&msg3[..100]).await.expect("partial msg3");
        drop(a);
    };
    let (server, ()) = tokio::join!(
        handshake::server(&mut b, &APP, &server_keys, SHORT, accept_all),
        client_task
    );
    assert!(
        matches!(
            server,
            Err(HandshakeError::PeerHungUp {
                side: Side::Server,
                phase: Phase::ClientHello,
                received: 100,
                expected: 112
            })
        ),
        "{server:?}"
    );
}
