//! Multiserver address vectors (`multiserver-address.json`): plugin parsing, suite
//! parsing, alternative selection, printing, the formal grammar and secret-stack's object addresses.
//!
//! Where JS behaviour is deliberately not copied, the case says why and asserts ours instead.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack::multiserver::{
    Address, AddressError, Announce, DialError, Multiaddress, Multiserver, Net, NetAddress, NoAuth,
    ObjectKey, OnionAddress, Protocol, Scope, Shs, ShsAddress, Transform, Ws, WsAddress,
    object_address,
};
use secret_stack_tests::vectors::load;
use serde_json::{Value, json};

fn vectors() -> Value {
    load("multiserver-address.json")
}

fn public_key(v: &Value) -> PublicKey {
    let text = v["public_key_base64"].as_str().expect("public_key_base64");
    let bytes = STANDARD.decode(text).expect("base64 key");
    PublicKey(bytes.try_into().expect("32-byte key"))
}

/// A registry with the given outgoing suites over net, ws and shs (nothing is dialled here: only
/// parsing and selection are exercised, so the shs identity does not matter).
fn registry(suites: &[(&str, &str)]) -> Multiserver {
    let mut ms = Multiserver::new();
    ms.add_transport(Net).unwrap();
    ms.add_transport(Ws).unwrap();
    ms.add_transform(Shs::new(Keypair::from_seed(&[5; 32]), AppKey([6; 32])))
        .unwrap();
    for (transport, transform) in suites {
        ms.add_outgoing(transport, transform).unwrap();
    }
    ms
}

fn net_json(a: &NetAddress) -> Value {
    json!({"name": "net", "host": a.host, "port": a.port})
}

fn shs_json(a: &ShsAddress) -> Value {
    let mut v = json!({"key": {"base64": STANDARD.encode(a.key.0)}});
    if let Some(seed) = &a.seed {
        v["seed"] = json!({"base64": STANDARD.encode(seed)});
    }
    v
}

fn ws_json(a: &WsAddress) -> Value {
    json!({
        "protocol": format!("{}:", a.scheme()),
        "slashes": true,
        "hostname": a.host,
        "port": a.port.map(|p| p.to_string()),
        "pathname": a.path,
    })
}

/// Parses one section with the named plugin's typed view, as the vector's JSON shape.
fn parse_with_plugin(plugin: &str, input: &str, key: PublicKey) -> Option<Value> {
    let section: Protocol = input.parse().ok()?;
    match plugin {
        "net" => NetAddress::from_protocol(&section)
            .ok()
            .map(|a| net_json(&a)),
        "shs" => ShsAddress::from_protocol(&section)
            .ok()
            .map(|a| shs_json(&a)),
        "onion" => OnionAddress::from_protocol(&section)
            .ok()
            .map(|a| json!({"name": "onion", "host": a.host, "port": a.port})),
        "ws" => WsAddress::from_protocol(&section).ok().map(|a| ws_json(&a)),
        "noauth" => Transform::parse(&NoAuth::new(key), &section)
            .ok()
            .map(|()| json!({})),
        other => panic!("unknown plugin in vectors: {other}"),
    }
}

#[test]
fn plugin_parse() {
    let v = vectors();
    let key = public_key(&v);
    let cases = v["plugin_parse"].as_array().unwrap();
    assert!(cases.len() >= 25);
    for case in cases {
        let plugin = case["plugin"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let got = parse_with_plugin(plugin, input, key);
        if input == "ws:host.example:8989" {
            // JS's URL parser reads this as a URL without host (hostname null, pathname
            // "host.example:8989"), which the ws plugin then cannot dial. We reject it up front
            // so the dialler moves on to the next alternative.
            assert!(!case["result"].is_null());
            let err = input.parse::<WsAddress>().unwrap_err().to_string();
            assert!(err.contains("expected ws://host[:port][/path]"), "{err}");
            assert_eq!(got, None);
            continue;
        }
        let expected = (!case["result"].is_null()).then(|| case["result"].clone());
        assert_eq!(got, expected, "{plugin} parse of {input:?}");
    }
}

#[test]
fn compose_parse() {
    let v = vectors();
    let cases = v["compose_parse"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let input = case["input"].as_str().unwrap();
        for (suite, transport, field) in [
            ("net~shs", "net", "net_shs_result"),
            ("ws~shs", "ws", "ws_shs_result"),
        ] {
            let ms = registry(&[(transport, "shs")]);
            let expected = &case[field];
            let plan = ms.plan(input);
            if expected.get("thrown").is_some() {
                // JS throws out of `connect` (an extra `~` section meets no parser); an extra
                // section is simply not understood here.
                let Err(DialError::Unparseable { reasons, .. }) = plan else {
                    panic!("{input:?} should be unparseable by {suite}");
                };
                assert!(
                    reasons
                        .iter()
                        .any(|(_, e)| matches!(e, AddressError::SectionCount { got: 3, .. })),
                    "{reasons:?}"
                );
                continue;
            }
            let sections = expected.as_array().map(Vec::len);
            if sections == Some(1) {
                // JS parses an address with fewer sections than the suite (here no `shs` part)
                // and would then run shs as a *server* on the dialled stream. A suite here needs
                // every section, so this is unparseable.
                let Err(DialError::Unparseable { reasons, .. }) = plan else {
                    panic!("{input:?} should be unparseable by {suite}");
                };
                assert!(reasons.iter().any(|(_, e)| matches!(
                    e,
                    AddressError::SectionCount {
                        expected: 2,
                        got: 1,
                        ..
                    }
                )));
                let net = NetAddress::from_protocol(input.parse::<Address>().unwrap().transport());
                assert_eq!(net_json(&net.unwrap()), expected[0]);
                continue;
            }
            match expected {
                Value::Null => assert!(plan.is_err(), "{suite} should not parse {input:?}"),
                Value::Array(parts) => {
                    let plan = plan.unwrap_or_else(|e| panic!("{suite} on {input:?}: {e}"));
                    assert_eq!(plan.len(), 1);
                    assert_eq!(plan[0].suite, suite);
                    let address: Address = input.parse().unwrap();
                    let first = match transport {
                        "net" => net_json(&NetAddress::from_protocol(address.transport()).unwrap()),
                        _ => ws_json(&WsAddress::from_protocol(address.transport()).unwrap()),
                    };
                    assert_eq!(first, parts[0], "{input}");
                    let shs = ShsAddress::from_protocol(&address.transforms()[0]).unwrap();
                    assert_eq!(shs_json(&shs), parts[1], "{input}");
                }
                other => panic!("unexpected vector shape {other}"),
            }
        }
    }
}

#[test]
fn client_selection() {
    let v = vectors();
    let ms = registry(&[("net", "shs"), ("ws", "shs")]);
    assert_eq!(ms.suites(), "net~shs;ws~shs");
    let cases = v["client_selection"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let input = case["input"].as_str().unwrap();
        match case["chosen_alternative"].as_u64() {
            Some(index) => {
                let plan = ms.plan(input).unwrap();
                // JS dials only this first match; we dial it first and fall back to the rest.
                assert_eq!(plan[0].alternative as u64, index, "{input}");
                assert_eq!(
                    plan[0].address.to_string(),
                    case["address"].as_str().unwrap()
                );
                assert_eq!(plan[0].suite, case["suite"].as_str().unwrap());
            }
            None => {
                let err = ms.plan(input).unwrap_err();
                assert_eq!(err.to_string(), case["error"].as_str().unwrap());
            }
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("expected strings, got {other}"),
    }
}

/// What a listener configured like `transport` prints for `scope`, as the listener itself computes it.
fn printed(transport: &Value, scope: Scope, key: Option<PublicKey>) -> Option<String> {
    let scopes = strings(&transport["scope"])
        .iter()
        .map(|s| s.parse::<Scope>().unwrap())
        .collect::<Vec<_>>();
    let announce = Announce {
        scopes: if scopes.is_empty() {
            vec![Scope::Device]
        } else {
            scopes
        },
        host: transport["host"].as_str().map(str::to_owned),
        external: strings(&transport["external"]),
    };
    let port = u16::try_from(transport["port"].as_u64().unwrap()).unwrap();
    let sections = match transport["name"].as_str().unwrap() {
        "net" => secret_stack::multiserver::Net::listener_addresses(&announce, port, scope),
        "ws" => secret_stack::multiserver::Ws::listener_addresses(&announce, port, scope),
        other => panic!("unknown transport {other}"),
    };
    let addresses = sections
        .into_iter()
        .map(|section| {
            let mut parts = vec![section];
            parts.extend(key.map(|k| ShsAddress::new(k).to_protocol()));
            Address::new(parts).unwrap()
        })
        .collect();
    Multiaddress::new(addresses).map(|m| m.to_string())
}

#[test]
fn stringify() {
    let v = vectors();
    let key = public_key(&v);
    let cases = v["stringify"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let device_net = json!({"name": "net", "port": 8008, "host": "127.0.0.1", "scope": "device"});
    let device_ws = json!({"name": "ws", "port": 8989, "host": "localhost"});
    for case in cases {
        let scope = case["scope"].as_str().map(|s| s.parse::<Scope>().unwrap());
        let expected = case["result"].as_str().map(str::to_owned);
        let got = if case.get("transport").is_some() {
            let with_shs = case["with_shs"].as_bool().unwrap_or(false);
            printed(&case["transport"], scope.unwrap(), with_shs.then_some(key))
        } else if let Some(transform) = case["transform"].as_str() {
            Some(match transform {
                "shs" => ShsAddress::new(key).to_string(),
                "noauth" => Transform::local_section(&NoAuth::new(key)).to_string(),
                other => panic!("unknown transform {other}"),
            })
        } else if case["composed"] == "net~shs" {
            printed(&device_net, scope.unwrap(), Some(key))
        } else if case["multiserver"] == "[net~shs, ws~shs]" {
            let parts = [
                printed(&device_net, scope.unwrap(), Some(key)),
                printed(&device_ws, scope.unwrap(), Some(key)),
            ];
            Some(parts.into_iter().flatten().collect::<Vec<_>>().join(";"))
        } else {
            panic!("unknown stringify case {case}");
        };
        assert_eq!(got, expected, "{case}");
    }
}

fn decoded(m: &Multiaddress) -> Value {
    Value::Array(
        m.alternatives()
            .iter()
            .map(|a| {
                Value::Array(
                    a.sections()
                        .iter()
                        .map(|p| json!({"name": p.name(), "data": p.data()}))
                        .collect(),
                )
            })
            .collect(),
    )
}

#[test]
fn grammar() {
    let v = vectors();
    let cases = v["grammar"].as_array().unwrap();
    assert_eq!(cases.len(), 20);
    for case in cases {
        let input = case["input"].as_str().unwrap();
        let parsed = input.parse::<Multiaddress>();
        if case["valid"].as_bool().unwrap() {
            let m = parsed.unwrap_or_else(|e| panic!("{input:?} should be valid: {e}"));
            assert_eq!(decoded(&m), case["decoded"], "{input}");
            assert_eq!(m.to_string(), input, "round trip");
        } else {
            let err = parsed.expect_err(input);
            // Every rejection names a position or says the input is empty.
            let text = err.to_string();
            assert!(
                text.contains("byte") || input.is_empty(),
                "{input:?}: {text}"
            );
        }
    }
}

#[test]
fn coerce_address() {
    let v = vectors();
    let key = public_key(&v);
    let cases = v["coerce_address"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let input = &case["input"];
        let got = match input {
            // Strings pass through: `connect` takes them as they are.
            Value::String(s) => s.clone(),
            Value::Object(o) => {
                let host = o["host"].as_str().unwrap();
                let port = u16::try_from(o["port"].as_u64().unwrap()).unwrap();
                match &o["key"] {
                    Value::String(text) => object_address(host, port, ObjectKey::Text(text)),
                    Value::Object(k) if k["buffer_of_pubkey"] == true => {
                        object_address(host, port, ObjectKey::Key(&key))
                    }
                    other => panic!("unknown key form {other}"),
                }
            }
            other => panic!("unknown input {other}"),
        };
        assert_eq!(got, case["result"].as_str().unwrap());
    }
}

#[test]
fn sigil_key_in_object_address_is_unusable() {
    let v = vectors();
    let key = public_key(&v);
    let id = format!("@{}.ed25519", STANDARD.encode(key.0));
    let address = object_address("127.0.0.1", 8008, ObjectKey::Text(&id));
    let ms = registry(&[("net", "shs")]);
    let err = ms.plan(&address).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("could not connect to:{address}, only know:net~shs")
    );
}
