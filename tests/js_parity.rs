//! The config paths of JS secret-stack 8.1.0's `multiserver-shs` plugin, over real connections on
//! 127.0.0.1: which key pair an app uses and which app key (network) it speaks, as JS decides them:
//!
//! - `global.keys` (an ssb-keys object, `.ed25519` suffixes and all) wins over any seed (JS:
//!   `opts.keys || opts.seed`);
//! - `multiserverShs.seed` wins over `global.seed`;
//! - `multiserverShs.cap` wins over `global.caps.shs`, which wins over `global.appKey`.
//!
//! Each case checks the app's id and that a peer reaches it over the key it should use (the
//! handshake proves the secret key), and that the app key it does not use keeps peers out with
//! JS's error text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secret_stack::keys::{KeyObject, Keypair};
use secret_stack::multiserver::Scope;
use secret_stack::stack::{App, Config, SecretStack};
use secret_stack_tests::stack_fixtures::{
    APP_KEY, OTHER_APP_KEY, assert_js_error, config, key, live, live_plugin, seed, within,
};
use serde_json::{Value, json};

/// A config listening on 127.0.0.1 with `global` laid over the listener settings and the plugin
/// sections of `sections` beside it.
fn with_paths(global: Value, sections: Value) -> Config {
    let mut value = sections;
    value["global"] = json!({
        "connections": {
            "incoming": {"net": [{"scope": "device", "transform": "shs", "host": "127.0.0.1"}]},
            "outgoing": {"net": [{"transform": "shs"}]}
        }
    });
    if let (Some(target), Value::Object(extra)) = (value["global"].as_object_mut(), global) {
        target.extend(extra);
    }
    Config::from_json(value).expect("config")
}

async fn start(config: Config) -> App {
    within(SecretStack::builder().plugin(live_plugin()).start(config))
        .await
        .expect("app starts")
}

/// A client on the test network (`APP_KEY`) or on another one.
async fn client(n: u8, app_key: &str) -> App {
    start(with_paths(
        json!({"caps": {"shs": app_key}, "seed": seed(n)}),
        json!({}),
    ))
    .await
}

/// `client` dials `server` and calls its `hello`.
async fn reaches(client: &App, server: &App) {
    let peer = within(client.connect(&server.address(Scope::Device)))
        .await
        .expect("connects");
    assert_eq!(peer.id(), server.id());
    let hello: String = within(peer.rpc().call(&["hello"], vec![json!("parity")]))
        .await
        .unwrap();
    assert_eq!(hello, "hello parity");
}

/// `client` cannot complete a handshake with `server`: JS's text for another network.
async fn kept_out(client: &App, server: &App) {
    let err = within(client.connect(&server.address(Scope::Device)))
        .await
        .unwrap_err();
    assert_js_error(&err, &live()["wrong_app_key"]["err"]);
}

async fn close(apps: &[&App]) {
    for app in apps {
        within(app.close()).await;
    }
}

#[tokio::test]
async fn global_keys_win_over_every_seed() {
    let pair = Keypair::from_seed(&[61; 32]);
    let object = KeyObject::from_keypair(&pair);
    assert!(object.private.ends_with(".ed25519"));
    let server = start(with_paths(
        json!({
            "caps": {"shs": APP_KEY},
            "keys": serde_json::from_str::<Value>(&object.to_json()).unwrap(),
            "seed": seed(62),
        }),
        json!({"multiserverShs": {"seed": seed(63)}}),
    ))
    .await;
    assert_eq!(server.id(), pair.public());
    assert!(
        server
            .address(Scope::Device)
            .ends_with(&format!("~shs:{}", pair.public().to_base64()))
    );
    let client = client(64, APP_KEY).await;
    reaches(&client, &server).await;
    close(&[&client, &server]).await;
}

#[tokio::test]
async fn global_keys_without_suffixes_are_read_too() {
    // JS strips what follows the first `.`, so bare base64 works as well.
    let pair = Keypair::from_seed(&[65; 32]);
    let keys = json!({
        "curve": "ed25519",
        "public": pair.public().to_base64(),
        "private": STANDARD.encode(pair.to_secret_bytes()),
    });
    let server = start(with_paths(
        json!({"caps": {"shs": APP_KEY}, "keys": keys}),
        json!({}),
    ))
    .await;
    assert_eq!(server.id(), pair.public());
    close(&[&server]).await;
}

#[tokio::test]
async fn multiserver_shs_seed_wins_over_global_seed() {
    let server = start(with_paths(
        json!({"caps": {"shs": APP_KEY}, "seed": seed(71)}),
        json!({"multiserverShs": {"seed": seed(72)}}),
    ))
    .await;
    assert_eq!(server.id(), key(72));
    let client = client(73, APP_KEY).await;
    reaches(&client, &server).await;
    // And `global.seed` alone still names the key (the fixture apps rely on it).
    let plain = start(config(74, json!({}))).await;
    assert_eq!(plain.id(), key(74));
    close(&[&client, &server, &plain]).await;
}

#[tokio::test]
async fn multiserver_shs_cap_wins_over_caps_shs_and_app_key() {
    // The section's cap is the network; the global ones are ignored.
    let server = start(with_paths(
        json!({"caps": {"shs": OTHER_APP_KEY}, "appKey": OTHER_APP_KEY, "seed": seed(81)}),
        json!({"multiserverShs": {"cap": APP_KEY}}),
    ))
    .await;
    let ours = client(82, APP_KEY).await;
    reaches(&ours, &server).await;
    let theirs = client(83, OTHER_APP_KEY).await;
    kept_out(&theirs, &server).await;

    // `caps.shs` wins over `appKey` when the section has no cap.
    let by_caps = start(with_paths(
        json!({"caps": {"shs": APP_KEY}, "appKey": OTHER_APP_KEY, "seed": seed(84)}),
        json!({"multiserverShs": {"seed": seed(84)}}),
    ))
    .await;
    reaches(&ours, &by_caps).await;
    kept_out(&theirs, &by_caps).await;

    // `appKey` alone is enough.
    let by_app_key = start(with_paths(
        json!({"appKey": APP_KEY, "seed": seed(85)}),
        json!({}),
    ))
    .await;
    reaches(&ours, &by_app_key).await;
    close(&[&ours, &theirs, &server, &by_caps, &by_app_key]).await;
}
