//! What a failed [`App::connect`](secret_stack::stack::App::connect) tells its caller: the
//! `Display` of the error and of each [`source`](std::error::Error::source) below it, asserted
//! whole for each common mistake. Each level says something the others do not.

use secret_stack::multiserver::Scope;
use secret_stack::stack::{App, ConnectError, SecretStack};
use secret_stack_tests::stack_fixtures::{
    OTHER_APP_KEY, builder, config, error_chain, key, start, within,
};
use serde_json::json;

/// The JS text of a client whose challenge the server hung up on.
const JS_PHASE_1: &str = "shs.client: error when expecting server to accept challenge (phase 1).\npossibly the server is busy, does not speak shs or uses a different application cap";

/// The JS text of a client whose hello the server hung up on.
const JS_PHASE_3: &str = "shs.client: server hung up when we sent hello (phase 3).\nPossibly we dailed a wrong number, or the server does not wish to talk to us.";

async fn chain_of(app: &App, address: &str) -> Vec<String> {
    let err: ConnectError = within(app.connect(address))
        .await
        .expect_err("the connection fails");
    error_chain(&err)
}

/// Asserts that no level of `chain` repeats a sentence of another level.
fn assert_each_level_new(chain: &[String]) {
    for (i, outer) in chain.iter().enumerate() {
        for inner in &chain[i + 1..] {
            assert!(
                !outer.contains(inner.as_str()),
                "{outer:?} repeats {inner:?}"
            );
        }
    }
}

#[tokio::test]
async fn unparseable_addresses_say_why_below_the_js_text() {
    let server = start(&builder(), config(1, json!({}))).await;
    let client = start(&builder(), config(2, json!({}))).await;
    let good = server.address(Scope::Device);
    let (hostport, key) = good.split_once("~shs:").expect("a net~shs address");
    let port = hostport.rsplit(':').next().expect("a port");
    let cases = [
        (
            format!("nte:127.0.0.1:{port}~shs:{key}"),
            r#"expected a net section, got "nte""#.to_owned(),
        ),
        (
            format!("{hostport}~shs:AAAAAAAAAAAAAAAAAAAA"),
            r#"bad shs address "shs:AAAAAAAAAAAAAAAAAAAA": key must be 32 bytes, got 15"#
                .to_owned(),
        ),
        (
            format!("net:127.0.0.1~shs:{key}"),
            r#"bad net address "net:127.0.0.1": expected <host>:<port>"#.to_owned(),
        ),
    ];
    let (bad_protocol, bad_port) = (&cases[0].0, &cases[2].0);
    let both = format!("{bad_protocol};{bad_port}");
    let several = format!(
        r#"{bad_protocol:?}: expected a net section, got "nte"; {bad_port:?}: bad net address "net:127.0.0.1": expected <host>:<port>"#
    );
    let cases = cases.clone().into_iter().chain([(both, several)]);
    for (address, reason) in cases {
        let chain = chain_of(&client, &address).await;
        let js = format!("could not connect to:{address}, only know:net~shs");
        assert_eq!(chain, [js, reason]);
        assert_each_level_new(&chain);
    }
    within(client.close()).await;
    within(server.close()).await;
}

#[tokio::test]
async fn refused_handshakes_name_the_address_then_the_js_text_then_what_to_check() {
    let server = start(&builder(), config(1, json!({}))).await;
    let address = server.address(Scope::Device);

    let wrong_cap = SecretStack::builder().app_key(OTHER_APP_KEY.parse().expect("an app key"));
    let stranger = start(&wrong_cap, config(3, json!({}))).await;
    let chain = chain_of(&stranger, &address).await;
    assert_eq!(
        chain,
        [
            format!("the handshake with {address} failed"),
            format!(
                "{JS_PHASE_1}: the peer hung up after 0 of 64 bytes (message 2, server challenge); a server hangs up on a challenge made with another app key: check that both use the same `AppKey` (config `caps.shs`)"
            ),
        ]
    );
    assert_each_level_new(&chain);

    let client = start(&builder(), config(2, json!({}))).await;
    let wrong_key = address.replace(&server.id().to_base64(), &key(99).to_base64());
    let chain = chain_of(&client, &wrong_key).await;
    assert_eq!(
        chain,
        [
            format!("the handshake with {wrong_key} failed"),
            format!(
                "{JS_PHASE_3}: the peer hung up after 0 of 80 bytes (message 4, server accept); a server hangs up on a hello meant for another key, or when its auth hook refuses us: check that the address's `shs:` key is the server's"
            ),
        ]
    );
    assert_each_level_new(&chain);
    for app in [&stranger, &client, &server] {
        within(app.close()).await;
    }
}

#[tokio::test]
async fn a_refused_dial_names_the_address_then_the_os_error() {
    let client = start(&builder(), config(2, json!({}))).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("an address").port();
    drop(closed);
    let address = format!("net:127.0.0.1:{port}~shs:{}", key(1).to_base64());
    let chain = chain_of(&client, &address).await;
    assert_eq!(chain.len(), 2, "{chain:?}");
    assert_eq!(chain[0], format!("could not dial {address}"));
    // The operating system's text, e.g. `Connection refused (os error 111)`.
    assert!(chain[1].contains("refused"), "{chain:?}");
    assert_each_level_new(&chain);
    within(client.close()).await;
}
