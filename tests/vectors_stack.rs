//! `secret-stack-behaviour.json`: `camel_case` (plugin name → mount point and config key) and
//! `static` (plugin sets → merged manifest and permissions, the config each plugin's init
//! receives, the `global.connections` the app ends up with). Apps are built from plugins described
//! by the vectors, each with a trivial handler per manifest entry. Of `live`, the connection's
//! address, its end and the app's close are checked here over TCP on 127.0.0.1; the calls,
//! permissions and refusals in `tests/stack.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::FutureExt;
use secret_stack::keys::PublicKey;
use secret_stack::multiserver::Scope;
use secret_stack::plugin::Plugin;
use secret_stack::rpc::ManifestEntry;
use secret_stack::rpc::{Body, CallKind, Manifest, Method, Permissions, Reply};
use secret_stack::stack::{Builder, Config, Event, Peer, SecretStack, mount_name};
use secret_stack_tests::stack_fixtures::{config, live, live_plugin, next_event, start, within};
use secret_stack_tests::vectors;
use serde_json::{Value, json};

/// A plugin made from a vector's description: name, manifest, permissions.
struct VectorPlugin {
    name: String,
    manifest: Manifest,
    permissions: BTreeMap<String, Permissions>,
}

impl VectorPlugin {
    fn from_vector(plugin: &Value) -> VectorPlugin {
        VectorPlugin {
            name: plugin["name"].as_str().unwrap_or("").to_owned(),
            manifest: plugin
                .get("manifest")
                .map(|m| Manifest::from_json(m).expect("manifest"))
                .unwrap_or_default(),
            permissions: plugin
                .get("permissions")
                .map(|p| serde_json::from_value(p.clone()).expect("permissions"))
                .unwrap_or_default(),
        }
    }
}

fn leaves(manifest: &Manifest, prefix: &[String], out: &mut Vec<(Vec<String>, CallKind)>) {
    for (key, entry) in manifest.entries() {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        match entry {
            ManifestEntry::Method(kind) => out.push((path, *kind)),
            ManifestEntry::Namespace(inner) => leaves(inner, &path, out),
        }
    }
}

impl Plugin for VectorPlugin {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> &str {
        "0.0.0"
    }
    fn methods(self: Arc<Self>) -> Vec<Method> {
        let mut all = Vec::new();
        leaves(&self.manifest, &[], &mut all);
        all.into_iter()
            .map(|(path, kind)| Method {
                groups: groups_of(&self.permissions, &path),
                path,
                kind,
                handler: Arc::new(|_, _, _| {
                    Reply::Value(futures::future::ready(Ok(Body::from_json(json!(null)))).boxed())
                }),
            })
            .collect()
    }
}

/// The groups whose allow-list names the method at `path`.
fn groups_of(permissions: &BTreeMap<String, Permissions>, path: &[String]) -> Vec<String> {
    let dotted = path.join(".");
    permissions
        .iter()
        .filter(|(_, p)| {
            p.allow
                .as_ref()
                .is_some_and(|allow| allow.contains(&dotted))
        })
        .map(|(group, _)| group.clone())
        .collect()
}

/// Vectors write byte buffers as `{"hex": …}`; the config reads base64 strings.
fn hex_to_base64(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(hex)) = map.get("hex")
                && map.len() == 1
            {
                *value = Value::String(STANDARD.encode(vectors::hex(hex)));
                return;
            }
            map.values_mut().for_each(hex_to_base64);
        }
        Value::Array(items) => items.iter_mut().for_each(hex_to_base64),
        _ => {}
    }
}

#[test]
fn camel_case_mount_points() {
    let cases = vectors::load("secret-stack-behaviour.json")["camel_case"].clone();
    let cases = cases.as_array().expect("camel_case cases");
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["plugin_name"].as_str().unwrap();
        let mount = case["mount_point"].as_str().unwrap();
        assert_eq!(mount_name(name), mount, "{name}");
        // A plugin of that name is mounted there, and reads that config section.
        let seen = Arc::new(Mutex::new(Value::Null));
        let record = Arc::clone(&seen);
        let app = SecretStack::builder()
            .plugin_with(name, move |init| {
                *record.lock().unwrap() = init.section().cloned().unwrap_or_default();
                Ok::<_, std::io::Error>(VectorPlugin::from_vector(
                    &json!({"name": init.name(), "manifest": {"m": "sync"}}),
                ))
            })
            .build(
                Config::from_json(json!({
                    "global": {"appKey": "PZLl2y3wexwd7Tp7hwd0hfJoW2lbbebYp+lqb4LtZnw="},
                    mount: {"mine": true}
                }))
                .unwrap(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            app.manifest().to_json()[mount],
            json!({"m": "sync"}),
            "{name}"
        );
        assert_eq!(*seen.lock().unwrap(), json!({"mine": true}), "{name}");
    }
}

#[test]
fn static_merges_and_config_isolation() {
    let cases = vectors::load("secret-stack-behaviour.json")["static"].clone();
    let cases = cases.as_array().expect("static cases");
    assert!(cases.len() >= 4);
    // The app key the generator passed as a default: it shows in what plugins received.
    let defaults = json!({"global": {"appKey": "PZLl2y3wexwd7Tp7hwd0hfJoW2lbbebYp+lqb4LtZnw="}});
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let mut builder: Builder = SecretStack::builder().defaults(defaults.clone());
        for plugin in case["plugins"].as_array().unwrap() {
            let plugin = plugin.clone();
            let record = Arc::clone(&received);
            let plugin_name = plugin["name"].as_str().unwrap_or("").to_owned();
            builder = builder.plugin_with(plugin_name, move |init| {
                let label = if init.name().is_empty() {
                    "(unnamed)"
                } else {
                    init.name()
                };
                record
                    .lock()
                    .unwrap()
                    .push(json!({"plugin": label, "config_received": init.config()}));
                Ok::<_, std::io::Error>(VectorPlugin::from_vector(&plugin))
            });
        }
        let mut config = case["config_given"].clone();
        hex_to_base64(&mut config);
        let app = builder
            .build(Config::from_json(config).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        let manifest = app.manifest().to_json();
        assert_eq!(&manifest, &case["merged_manifest"], "{name}: manifest");
        // In JS's key order too, so that it is the same text.
        assert_eq!(
            serde_json::to_string(&manifest).unwrap(),
            serde_json::to_string(&case["merged_manifest"]).unwrap(),
            "{name}: manifest key order"
        );
        assert_eq!(
            &app.permissions().to_json(),
            &case["merged_permissions"],
            "{name}: permissions"
        );
        assert_eq!(
            serde_json::to_string(&app.permissions().to_json()).unwrap(),
            serde_json::to_string(&case["merged_permissions"]).unwrap(),
            "{name}: permissions key order"
        );
        let mut expected = case["plugin_init_received"].clone();
        hex_to_base64(&mut expected);
        assert_eq!(
            Value::Array(received.lock().unwrap().clone()),
            expected,
            "{name}: what each plugin's init received"
        );
        assert_eq!(
            app.config().global.connections.as_ref(),
            Some(&case["app_config_global_connections"]),
            "{name}: global.connections"
        );
        // Every top-level entry of the manifest is a member of the JS app object.
        let members: Vec<&str> = case["app_keys_after_init"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for (key, _) in app.manifest().entries() {
            assert!(
                members.contains(&key.as_str()),
                "{name}: {key} not on the JS app"
            );
        }
        // The anonymous permissions are what a connection from a stranger gets.
        let anonymous: Permissions =
            serde_json::from_value(case["merged_permissions"]["anonymous"].clone()).unwrap();
        assert_eq!(app.anonymous(), &anonymous, "{name}");
    }
}

/// `address` as the vectors write it: the port replaced by `<port>`, `key` by `<base64 pubkey>`.
fn shape(address: &str, key: &PublicKey) -> String {
    let (transport, transforms) = address.split_once('~').unwrap_or((address, ""));
    let transport = match transport.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => format!("{host}:<port>"),
        _ => transport.to_owned(),
    };
    let transforms = transforms.replace(&key.to_base64(), "<base64 pubkey>");
    format!("{transport}~{transforms}")
}

/// The next `Connect` event: its peer and whether we dialled it.
async fn next_connect(events: &mut tokio::sync::broadcast::Receiver<Event>) -> (Peer, bool) {
    loop {
        if let Event::Connect { peer, is_client } = next_event(events).await {
            return (peer, is_client);
        }
    }
}

/// Waits for the `Disconnect` of connection `number`.
async fn disconnected(events: &mut tokio::sync::broadcast::Receiver<Event>, number: u64) {
    loop {
        if let Event::Disconnect { connection, .. } = next_event(events).await
            && connection == number
        {
            return;
        }
    }
}

/// `server_rpc_stream_address_shape` (and the client's), `rpc_closed_event`,
/// `server_peers_after_close` and `app_close_event_args`, in the order the JS run recorded them: a client dials, closes its connection, then the server closes by force
/// (JS `server.close(true, cb)`) with another connection still open.
#[tokio::test]
async fn live_address_connection_end_and_app_close() {
    let live = live();
    let builder = SecretStack::builder()
        .plugin(live_plugin())
        .close_deadline(Duration::from_secs(2));
    let server = start(&builder, config(51, json!({}))).await;
    let client = start(&builder, config(52, json!({}))).await;
    let other = start(&builder, config(53, json!({}))).await;
    let mut server_events = server.events();
    let mut client_events = client.events();

    let peer = within(client.connect(&server.address(Scope::Device)))
        .await
        .expect("connects");
    let (on_server, is_client) = next_connect(&mut server_events).await;
    assert!(!is_client);
    assert_eq!(
        shape(on_server.address(), &client.id()),
        live["server_rpc_stream_address_shape"]
    );
    assert_eq!(
        shape(peer.address(), &server.id()),
        live["client_rpc_stream_address_shape"]
    );
    // As in JS, the server's address of the connection names the client's end of the socket,
    // not where the client listens.
    assert_ne!(on_server.address(), client.address(Scope::Device));

    // `rpc_closed_event`: closing the connection ends it on our side with an event, once.
    within(peer.close()).await;
    let closed_event = tokio::time::timeout(
        Duration::from_secs(10),
        disconnected(&mut client_events, peer.connection()),
    )
    .await
    .is_ok();
    assert_eq!(json!(closed_event), live["rpc_closed_event"]);
    assert!(peer.is_closed());
    // `server_peers_after_close`: the server let go of it (its `Disconnect` comes after that).
    within(disconnected(&mut server_events, on_server.connection())).await;
    assert_eq!(
        json!(server.peers_with(&client.id()).len()),
        live["server_peers_after_close"]
    );

    // `app_close_event_args`: a forced close with a connection open ends it, and the app's
    // `Close` event carries no error (JS: `close` emitted with `null`; `close_now`
    // cannot fail, as JS's callback got `null`).
    let kept = within(other.connect(&server.address(Scope::Device)))
        .await
        .expect("connects");
    let (kept_on_server, _) = next_connect(&mut server_events).await;
    within(server.close_now()).await;
    let mut closes = Vec::new();
    loop {
        match next_event(&mut server_events).await {
            Event::Close => {
                closes.push(Value::Null);
                break;
            }
            Event::Disconnect { connection, .. } => {
                assert_eq!(connection, kept_on_server.connection());
            }
            other => panic!("unexpected event while closing: {other:?}"),
        }
    }
    assert_eq!(Value::Array(closes), live["app_close_event_args"]);
    assert!(server.peers().is_empty());
    within(kept.closed()).await;
    within(client.close()).await;
    within(other.close()).await;
}
