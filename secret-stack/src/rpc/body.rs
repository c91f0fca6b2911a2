//! The value a packet carries: binary, UTF-8 text or JSON, as in packet-stream-codec.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The body of one muxrpc packet.
///
/// JS sends every string as a UTF-8 body and every other non-buffer value as JSON, so a JSON string
/// value is encoded as [`Body::Text`] on the wire; [`Body::decode`] reads text back as a JSON string.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Raw bytes (body type 0).
    Binary(Bytes),
    /// A UTF-8 string (body type 1).
    Text(String),
    /// Any JSON value (body type 2).
    Json(Value),
}

impl Body {
    /// Serializes `value` as a body: a string becomes [`Body::Text`], anything else [`Body::Json`].
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Body, serde_json::Error> {
        Ok(Body::from_json(serde_json::to_value(value)?))
    }

    /// Wraps a JSON value, turning a JSON string into [`Body::Text`] as JS would send it.
    pub fn from_json(value: Value) -> Body {
        match value {
            Value::String(s) => Body::Text(s),
            other => Body::Json(other),
        }
    }

    /// Deserializes the body into `T`: text reads as a JSON string, binary as an array of bytes.
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.into_json())
    }

    /// The body as a JSON value: text becomes a string, binary an array of numbers.
    pub fn into_json(self) -> Value {
        match self {
            Body::Json(v) => v,
            Body::Text(s) => Value::String(s),
            Body::Binary(b) => Value::Array(b.iter().map(|&x| Value::from(x)).collect()),
        }
    }
}

impl From<Value> for Body {
    fn from(value: Value) -> Self {
        Body::from_json(value)
    }
}

impl From<Bytes> for Body {
    fn from(value: Bytes) -> Self {
        Body::Binary(value)
    }
}

impl From<String> for Body {
    fn from(value: String) -> Self {
        Body::Text(value)
    }
}

impl From<&str> for Body {
    fn from(value: &str) -> Self {
        Body::Text(value.to_owned())
    }
}
