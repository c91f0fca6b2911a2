//! Conversions between Rust values and what travels: [`Body`]s for results and stream items,
//! JSON [`Value`]s for arguments.
//!
//! The macro picks one of four codecs per type, by its name: `Bytes` (binary), `Body` (raw),
//! `String` (JSON too, but moved into the body or argument instead of copied), or JSON (everything
//! else). Each conversion is a plain function so that generated code can pass it
//! around as a `fn` pointer; errors are messages that the caller prefixes with where they happened.

use std::any::Any;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Body;

/// Encodes a result or stream item as JSON (a string becomes a UTF-8 body).
pub fn encode_json<T: Serialize>(value: T) -> Result<Body, String> {
    Body::encode(&value).map_err(|e| e.to_string())
}

/// Encodes a `String` result or stream item as a UTF-8 body, moving it (what [`encode_json`] sends
/// too, without the copy). Another type that happens to be named `String` goes through
/// [`encode_json`].
pub fn encode_text<T: Serialize + 'static>(value: T) -> Result<Body, String> {
    match into_string(value) {
        Ok(s) => Ok(Body::Text(s)),
        Err(other) => encode_json(other),
    }
}

/// Encodes bytes as a binary body.
pub fn encode_bytes(value: Bytes) -> Result<Body, String> {
    Ok(Body::Binary(value))
}

/// Passes a raw body through.
pub fn encode_body(value: Body) -> Result<Body, String> {
    Ok(value)
}

/// Decodes a JSON (or UTF-8) body into `T`.
pub fn decode_json<T: DeserializeOwned>(body: Body) -> Result<T, String> {
    body.decode().map_err(|e| e.to_string())
}

/// Decodes bytes: a binary body as it is, a UTF-8 body as its bytes, a JSON body in the shape of
/// a JS `Buffer` or an array of numbers.
pub fn decode_bytes(body: Body) -> Result<Bytes, String> {
    match body {
        Body::Binary(b) => Ok(b),
        Body::Text(s) => Ok(Bytes::from(s)),
        Body::Json(v) => value_to_bytes(v),
    }
}

/// Accepts any answer of a method that returns `()`.
pub fn decode_unit(_body: Body) -> Result<(), String> {
    Ok(())
}

/// Passes a raw body through.
pub fn decode_body(body: Body) -> Result<Body, String> {
    Ok(body)
}

/// Encodes an argument as JSON.
pub fn value_json<T: Serialize>(value: T) -> Result<Value, String> {
    serde_json::to_value(&value).map_err(|e| e.to_string())
}

/// Encodes a `String` argument as a JSON string, moving it (what [`value_json`] gives too, without
/// the copy). Another type that happens to be named `String` goes through [`value_json`].
pub fn value_text<T: Serialize + 'static>(value: T) -> Result<Value, String> {
    match into_string(value) {
        Ok(s) => Ok(Value::String(s)),
        Err(other) => value_json(other),
    }
}

/// `value` itself if it is a `String`, without copying it.
fn into_string<T: 'static>(value: T) -> Result<String, T> {
    let mut slot = Some(value);
    if let Some(string) = (&mut slot as &mut dyn Any).downcast_mut::<Option<String>>() {
        return Ok(string.take().unwrap_or_default());
    }
    // The slot is only emptied above, when `T` is `String`.
    slot.map_or_else(|| Ok(String::new()), Err)
}

/// Encodes a bytes argument as JS's `JSON.stringify(buffer)` does: `{"type":"Buffer","data":[…]}`.
pub fn value_bytes(value: Bytes) -> Result<Value, String> {
    Ok(buffer_json(&value))
}

/// Encodes a raw body argument: binary as a JS `Buffer`, text as a string, JSON as it is.
pub fn value_body(value: Body) -> Result<Value, String> {
    Ok(match value {
        Body::Binary(b) => buffer_json(&b),
        other => other.into_json(),
    })
}

/// Decodes an argument from JSON.
pub fn value_to_json<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// Decodes a bytes argument from a JS `Buffer` object or an array of numbers 0–255.
pub fn value_to_bytes(value: Value) -> Result<Bytes, String> {
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
pub fn value_to_body(value: Value) -> Result<Body, String> {
    if is_buffer(&value) {
        return value_to_bytes(value).map(Body::Binary);
    }
    Ok(Body::from_json(value))
}

fn buffer_json(bytes: &[u8]) -> Value {
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
    use serde_json::json;

    #[test]
    fn bytes_round_trip_through_the_js_buffer_shape() {
        let v = value_bytes(Bytes::from_static(&[1, 2, 255])).unwrap();
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
    fn strings_move_into_bodies_and_arguments() {
        assert_eq!(
            encode_text(String::from("hi")).unwrap(),
            Body::Text("hi".into())
        );
        assert_eq!(value_text(String::from("hi")).unwrap(), json!("hi"));
        // A type that is not `std`'s `String` falls back on JSON.
        mod other {
            #[derive(serde::Serialize)]
            pub struct String {
                pub a: u8,
            }
        }
        assert_eq!(
            encode_text(other::String { a: 1 }).unwrap(),
            Body::Json(json!({"a": 1}))
        );
        assert_eq!(value_text(other::String { a: 2 }).unwrap(), json!({"a": 2}));
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
