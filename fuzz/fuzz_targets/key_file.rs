//! Identity text from anywhere: the whole input, as text, through the secret-file
//! parser, the key-object parser, feed ids, bare base64 keys, app keys and string seeds.
//!
//! Besides never panicking, whatever parses must survive the round trip through its own rendering
//! unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use secret_stack::keys::{
    AppKey, KeyObject, Keypair, PublicKey, parse_secret_file, render_secret_file,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    if let Ok(object) = parse_secret_file(text) {
        check_object(&object);
    }
    if let Ok(object) = KeyObject::from_json(text) {
        check_object(&object);
    }
    if let Ok(key) = text.parse::<PublicKey>() {
        assert_eq!(key.to_string().parse::<PublicKey>().ok(), Some(key));
        check_public_key(&key);
    }
    if let Ok(key) = PublicKey::from_base64(text) {
        assert_eq!(PublicKey::from_base64(&key.to_base64()).ok(), Some(key));
        check_public_key(&key);
    }
    if let Ok(app_key) = text.parse::<AppKey>() {
        assert_eq!(app_key.to_string().parse::<AppKey>().ok(), Some(app_key));
    }
    let pair = Keypair::from_string_seed(text);
    assert_eq!(pair.id().parse::<PublicKey>().ok(), Some(pair.public()));
});

/// A parsed key object either converts to a key pair that renders and parses back to itself, or
/// is refused with an error that says why (and does not print the secret).
fn check_object(object: &KeyObject) {
    let _ = format!("{object:?}");
    match object.to_keypair() {
        Ok(pair) => {
            assert_eq!(pair.public().id(), object.id);
            let rendered = KeyObject::from_keypair(&pair);
            let back = KeyObject::from_json(&rendered.to_json()).expect("own JSON parses");
            assert_eq!(back.to_keypair().expect("own object converts"), pair);
            let file = parse_secret_file(&render_secret_file(&pair)).expect("own file parses");
            assert_eq!(file, rendered);
        }
        Err(err) => {
            let shown = err.to_string();
            let secret = object.private.split('.').next().unwrap_or_default();
            assert!(
                secret.len() < 8 || !shown.contains(secret),
                "error message shows the private key: {shown}"
            );
        }
    }
}

/// Operations on a public key from outside must not panic.
fn check_public_key(key: &PublicKey) {
    let _ = key.to_curve25519();
    let _ = key.verify(b"message", &[0x11; 64]);
}
