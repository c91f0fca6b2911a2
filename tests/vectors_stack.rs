//! `secret-stack-behaviour.json`: `camel_case` (plugin name → mount point and config key) and
//! `static` (plugin sets → merged manifest and permissions, the config each plugin's init
//! receives, the `global.connections` the app ends up with). Apps are built from plugins described
//! by the vectors, each with a trivial handler per manifest entry. (`live` is checked over real
//! sockets in `tests/stack.rs`.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::FutureExt;
use secret_stack::plugin::Plugin;
use secret_stack::rpc::ManifestEntry;
use secret_stack::rpc::{Body, CallKind, Manifest, Method, Permissions, Reply};
use secret_stack::stack::{Builder, Config, SecretStack, mount_name};
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
