//! Identity vectors (`keys.json`): seeds, ids, ssb-keys objects, string seeds, secret files,
//! Curve25519 conversions and keys that must not convert; plus real key-file create/reload.

use std::path::PathBuf;

use secret_stack::keys::{
    KeyError, KeyFileError, KeyObject, Keypair, PublicKey, create_key_file, load_key_file,
    load_or_create_key_file, parse_secret_file, render_secret_file,
};
use secret_stack_tests::vectors::{hex, hex_array, load, to_hex};
use serde_json::Value;

fn key_object(value: &Value) -> KeyObject {
    KeyObject::from_json(&value.to_string()).expect("vector key object parses")
}

#[test]
fn seeds_give_the_recorded_keys_ids_objects_and_curve_keys() {
    let vectors = load("keys.json");
    let cases = vectors["keys"].as_array().expect("keys array");
    assert!(!cases.is_empty());
    for case in cases {
        let name = &case["name"];
        let pair = Keypair::from_seed(&hex_array(&case["seed"]));
        assert_eq!(to_hex(&pair.public().0), case["ed25519_pk"], "{name}");
        assert_eq!(
            to_hex(&pair.to_secret_bytes()),
            case["ed25519_sk"],
            "{name}"
        );

        let expected = key_object(&case["ssb_keys_object"]);
        assert_eq!(KeyObject::from_keypair(&pair), expected, "{name}");
        assert_eq!(expected.to_keypair().expect("object loads"), pair, "{name}");
        assert_eq!(pair.id(), expected.id, "{name}");
        let parsed: PublicKey = expected.id.parse().expect("id parses");
        assert_eq!(parsed, pair.public(), "{name}");
        assert_eq!(parsed.to_string(), expected.id, "{name}");

        let from_secret =
            Keypair::from_secret_bytes(&hex_array(&case["ed25519_sk"])).expect("64-byte sk");
        assert_eq!(from_secret, pair, "{name}");

        let curve_pk = pair.public().to_curve25519().expect("valid key converts");
        assert_eq!(to_hex(&curve_pk), case["curve25519_pk"], "{name}");
        assert_eq!(
            to_hex(&pair.to_curve25519()),
            case["curve25519_sk"],
            "{name}"
        );
    }
}

#[test]
fn string_seeds_follow_the_ssb_keys_rule() {
    let vectors = load("keys.json");
    let cases = vectors["string_seeds"].as_array().expect("string_seeds");
    assert!(!cases.is_empty());
    for case in cases {
        let seed = case["seed_string"].as_str().expect("seed string");
        let pair = Keypair::from_string_seed(seed);
        assert_eq!(to_hex(&pair.seed()), case["effective_seed"], "{seed}");
        assert_eq!(
            KeyObject::from_keypair(&pair),
            key_object(&case["ssb_keys_object"]),
            "{seed}"
        );
    }
}

#[test]
fn js_secret_file_loads_with_its_id() {
    let vectors = load("keys.json");
    let sample = &vectors["secret_file"];
    let text = sample["text"].as_str().expect("secret file text");
    let object = parse_secret_file(text).expect("JS secret file parses");
    let expected = key_object(&sample["loads_as"]);
    assert_eq!(object, expected);
    let pair = object.to_keypair().expect("JS key object is consistent");
    assert_eq!(pair.id(), expected.id);

    // The same text from disk.
    let dir = scratch_dir("js-file");
    let path = dir.join("secret");
    std::fs::write(&path, text).expect("write sample");
    assert_eq!(load_key_file(&path).expect("load sample").id(), expected.id);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn secret_file_without_id_gets_at_public() {
    let vectors = load("keys.json");
    let sample = &vectors["secret_file_without_id"];
    let text = format!(
        "# comment\n{}\n# trailer",
        serde_json::to_string_pretty(&sample["json"]).expect("json")
    );
    let object = parse_secret_file(&text).expect("parses");
    let expected = key_object(&sample["loads_as"]);
    assert_eq!(object, expected);
    assert_eq!(object.id, format!("@{}", object.public));
    assert_eq!(object.to_keypair().expect("consistent").id(), expected.id);
}

#[test]
fn bad_public_keys_do_not_convert() {
    let vectors = load("keys.json");
    let cases = vectors["bad_public_keys_for_conversion"]
        .as_array()
        .expect("bad keys");
    assert_eq!(cases.len(), 3);
    for case in cases {
        let key = PublicKey(hex_array(&case["ed25519_pk"]));
        let result = key.to_curve25519();
        assert!(
            matches!(result, Err(KeyError::NotOnCurve | KeyError::SmallOrder)),
            "{}: {result:?}",
            case["name"]
        );
    }
    // A point with a small-order component (valid key + 8-torsion point) is refused too, like
    // libsodium's main-subgroup check.
    let mixed = mixed_order_point();
    assert_eq!(PublicKey(mixed).to_curve25519(), Err(KeyError::SmallOrder));
}

/// Alice's public key plus the order-2 point (0, -1): on the curve, but outside the prime-order
/// subgroup. Adding (0, -1) to (x, y) gives (-x, -y), so the encoding is `p - y` with the sign
/// bit of x flipped.
fn mixed_order_point() -> [u8; 32] {
    let alice = hex("d5bf4a3fcce717b0388bcc2749ebc148ad9969b23f45ee1b605fd58778576ac4");
    let mut y = [0u8; 32];
    y.copy_from_slice(&alice);
    let sign = y[31] & 0x80;
    y[31] &= 0x7f;
    // p - y, little-endian, p = 2^255 - 19.
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in 0..32 {
        let d = p[i] as i16 - y[i] as i16 - borrow;
        out[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    // -x flips the sign bit of x.
    out[31] |= sign ^ 0x80;
    out
}

#[test]
fn created_key_file_is_private_exclusive_and_reloads() {
    let dir = scratch_dir("create");
    let path = dir.join("nested").join("secret");
    let created = create_key_file(&path).expect("create");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let text = std::fs::read_to_string(&path).expect("read back");
    assert_eq!(text, render_secret_file(&created));
    assert!(text.starts_with('#'));
    assert!(text.contains("\n\n{\n  \"curve\": \"ed25519\",\n  \"public\": \""));
    assert!(text.ends_with(&format!("# your public id: {}", created.id())));
    assert_eq!(load_key_file(&path).expect("reload"), created);

    match create_key_file(&path) {
        Err(KeyFileError::AlreadyExists { path: p }) => assert_eq!(p, path),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(load_key_file(&path).expect("unchanged"), created);
    assert_eq!(load_or_create_key_file(&path).expect("loads"), created);

    let fresh = dir.join("other");
    let made = load_or_create_key_file(&fresh).expect("creates");
    assert_ne!(made, created);
    assert_eq!(load_or_create_key_file(&fresh).expect("loads"), made);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn broken_key_files_give_typed_errors() {
    let dir = scratch_dir("broken");
    let missing = load_key_file(dir.join("none"));
    assert!(
        matches!(missing, Err(KeyFileError::Io { .. })),
        "{missing:?}"
    );

    let garbage = dir.join("garbage");
    std::fs::write(&garbage, "# only a comment\nnot json").expect("write");
    let err = load_key_file(&garbage).expect_err("garbage refused");
    assert!(matches!(err, KeyFileError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

/// A fresh folder under the system temp dir, unique to this process and test.
fn scratch_dir(label: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "secret-stack-keys-{label}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
