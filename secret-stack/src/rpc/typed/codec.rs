//! Conversions between Rust values and what travels: [`Body`]s for results and stream items,
//! JSON [`Value`]s for arguments.
//!
//! These are the JSON and binary conversions behind [`WireFormat`](super::WireFormat) and the JSON
//! codec. Each conversion is a plain function so that generated code can pass it around as a
//! `fn` pointer; errors are messages that the caller prefixes with where they happened.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Body;

/// Encodes a result or stream item as JSON (a string becomes a UTF-8 body).
pub(crate) fn encode_json<T: Serialize>(value: T) -> Result<Body, String> {
    Body::encode(&value).map_err(|e| e.to_string())
}

/// Decodes a JSON (or UTF-8) body into `T`.
pub(crate) fn decode_json<T: DeserializeOwned>(body: Body) -> Result<T, String> {
    body.decode().map_err(|e| e.to_string())
}

/// Decodes bytes: a binary body as it is, a UTF-8 body as its bytes, a JSON body in the shape of
/// a JS `Buffer` or an array of numbers.
pub(crate) fn decode_bytes(body: Body) -> Result<Bytes, String> {
    match body {
        Body::Binary(b) => Ok(b),
        Body::Text(s) => Ok(Bytes::from(s)),
        Body::Json(v) => value_to_bytes(v),
    }
}

/// Encodes an argument as JSON.
pub(crate) fn value_json<T: Serialize>(value: T) -> Result<Value, String> {
    serde_json::to_value(&value).map_err(|e| e.to_string())
}

/// Decodes an argument from JSON.
pub(crate) fn value_to_json<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// Decodes a bytes argument from a JS `Buffer` object or an array of numbers 0–255.
pub(crate) fn value_to_bytes(value: Value) -> Result<Bytes, String> {
    let data = match value {
        Value::Object(mut map) if map.get("type").and_then(Value::as_str) == Some("Buffer") => {
            map.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    };
    let Value::Array(items) = data else {
        return Err(format!(
            "expected a buffer ({{\"type\":\"Buffer\",\"data\":[…]}}) or an array of bytes, got {}",
            kind_of(&data)
        ));
    };
    items
        .iter()
        .map(|item| {
            item.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| format!("expected a byte (0 to 255), got {item}"))
        })
        .collect::<Result<Vec<u8>, String>>()
        .map(Bytes::from)
}

/// Decodes a raw body argument: a JS `Buffer` object becomes binary, anything else
/// [`Body::from_json`].
pub(crate) fn value_to_body(value: Value) -> Result<Body, String> {
    if is_buffer(&value) {
        return value_to_bytes(value).map(Body::Binary);
    }
    Ok(Body::from_json(value))
}

/// `bytes` as JS's `JSON.stringify(buffer)` writes it: `{"type":"Buffer","data":[…]}`.
pub(crate) fn buffer_json(bytes: &[u8]) -> Value {
    let mut map = Map::new();
    map.insert("type".to_owned(), Value::from("Buffer"));
    map.insert(
        "data".to_owned(),
        Value::Array(bytes.iter().map(|&b| Value::from(b)).collect()),
    );
    Value::Object(map)
}

fn is_buffer(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("Buffer")
        && value.get("data").is_some_and(Value::is_array)
}

/// A short description of a JSON value for error messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_through_the_js_buffer_shape() {
        let v = buffer_json(&[1, 2, 255]);
        assert_eq!(
            v,
            serde_json::json!({"type": "Buffer", "data": [1, 2, 255]})
        );
        assert_eq!(
            value_to_bytes(v.clone()).unwrap(),
            Bytes::from_static(&[1, 2, 255])
        );
        assert_eq!(
            value_to_body(v).unwrap(),
            Body::Binary(Bytes::from_static(&[1, 2, 255]))
        );
        assert_eq!(
            value_to_bytes(serde_json::json!([0, 7])).unwrap(),
            Bytes::from_static(&[0, 7])
        );
    }

    #[test]
    fn bad_bytes_are_refused_with_a_reason() {
        let e = value_to_bytes(serde_json::json!("abc")).unwrap_err();
        assert!(e.contains("got a string"), "{e}");
        let e = value_to_bytes(serde_json::json!([1, 256])).unwrap_err();
        assert_eq!(e, "expected a byte (0 to 255), got 256");
    }

    #[test]
    fn strings_travel_as_text_bodies() {
        assert_eq!(encode_json("hi").unwrap(), Body::Text("hi".into()));
        assert_eq!(
            decode_json::<String>(Body::Text("hi".into())).unwrap(),
            "hi"
        );
        assert_eq!(
            decode_bytes(Body::Text("hi".into())).unwrap(),
            Bytes::from_static(b"hi")
        );
    }
}
