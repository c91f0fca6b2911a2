//! One muxrpc packet as it travels in a packet-stream-codec frame: a request number,
//! the stream and end/error flags, and a [`Body`].

use serde_json::Value;

use super::body::Body;
use super::error::RemoteError;
use super::wire;

/// A decoded (or to-be-encoded) RPC packet.
///
/// `req > 0` is sent by the side that opened the call, `req < 0` by the side answering it, `req == 0`
/// is a one-way message that muxrpc 8 ignores.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The request number (two's complement on the wire).
    pub req: i32,
    /// True if the packet belongs to a stream (flag `0x08`).
    pub stream: bool,
    /// True for the end of a stream or an error reply (flag `0x04`).
    pub end: bool,
    /// The value carried.
    pub body: Body,
}

impl Packet {
    /// A packet with the given fields.
    pub fn new(req: i32, stream: bool, end: bool, body: Body) -> Self {
        Packet {
            req,
            stream,
            end,
            body,
        }
    }

    /// The end of one half of a stream: JSON `true` for a normal end, else the error object.
    pub fn stream_end(req: i32, error: Option<&RemoteError>) -> Self {
        Packet::new(req, true, true, end_body(error))
    }

    /// The flags byte as written on the wire: stream, end and the body type in the low bits.
    pub fn flags(&self) -> u8 {
        let mut flags = match self.body {
            Body::Binary(_) => wire::BINARY,
            Body::Text(_) => wire::TEXT,
            Body::Json(_) => wire::JSON,
        };
        if self.stream {
            flags |= wire::STREAM;
        }
        if self.end {
            flags |= wire::END;
        }
        flags
    }
}

/// What one read from a packet-stream-codec stream yields: a packet, or the session goodbye.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A real packet.
    Packet(Packet),
    /// The goodbye: a header whose length field is 0 (the writer sends 9 zero bytes).
    Goodbye,
}

/// The body of an end packet: `true`, or the error as `{"message","name","stack"}`.
pub(crate) fn end_body(error: Option<&RemoteError>) -> Body {
    match error {
        None => Body::Json(Value::Bool(true)),
        Some(e) => Body::Json(error_json(e)),
    }
}

/// An error as the JSON object JS sends: keys `message`, `name`, `stack`, in that order, then the
/// typed error's `data` of a Rust method if present (JS peers ignore it; [`parse_error`] reads it
/// back).
///
/// `stack` is always there, because some clients refuse an error without it: it is the error's own
/// stack text if one was set, else empty. The engine never puts a Rust backtrace or a file path in it.
pub(crate) fn error_json(error: &RemoteError) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("message".into(), Value::String(error.message.clone()));
    map.insert("name".into(), Value::String(error.name.clone()));
    let stack = error.stack.clone().unwrap_or_default();
    map.insert("stack".into(), Value::String(stack));
    if let Some(data) = &error.data {
        map.insert("data".into(), (**data).clone());
    }
    Value::Object(map)
}

/// Reads an error body as JS would hand it to the caller: an object with a string `message` becomes
/// that error; anything else is kept as text in the message, so nothing a peer sends is lost.
pub(crate) fn parse_error(body: &Body) -> RemoteError {
    if let Body::Json(Value::Object(map)) = body
        && let Some(Value::String(message)) = map.get("message")
    {
        let name = match map.get("name") {
            Some(Value::String(n)) => n.clone(),
            _ => "Error".to_owned(),
        };
        let stack = match map.get("stack") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        return RemoteError {
            message: message.clone(),
            name,
            stack,
            data: map.get("data").cloned().map(Box::new),
        };
    }
    let text = match body {
        Body::Text(s) => s.clone(),
        Body::Json(v) => v.to_string(),
        Body::Binary(b) => format!("<{} bytes of binary>", b.len()),
    };
    RemoteError::new(text)
}

/// True if a stream end body means a normal end (JSON `true`), false if it carries an error.
pub(crate) fn is_normal_end(body: &Body) -> bool {
    matches!(body, Body::Json(Value::Bool(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of a JSON object, in their order.
    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn error_objects_carry_message_name_stack_in_js_order() {
        let plain = RemoteError::new("no async:x");
        let json = error_json(&plain);
        assert_eq!(keys(&json), ["message", "name", "stack"]);
        assert_eq!(
            json.to_string(),
            r#"{"message":"no async:x","name":"Error","stack":""}"#
        );
        let typed = RemoteError::new("test.fail: intentional failure")
            .with_data(serde_json::json!("Intentional"));
        let body = end_body(Some(&typed));
        let Body::Json(json) = &body else {
            panic!("not JSON: {body:?}")
        };
        assert_eq!(keys(json), ["message", "name", "stack", "data"]);
        assert_eq!(
            json.to_string(),
            r#"{"message":"test.fail: intentional failure","name":"Error","stack":"","data":"Intentional"}"#
        );
        assert!(!is_normal_end(&body));
        // Read back, an empty stack is a stack like any other: the error survives the round trip.
        let back = parse_error(&body);
        assert_eq!(back.stack.as_deref(), Some(""));
        assert_eq!((back.message, back.data), (typed.message, typed.data));
    }

    #[test]
    fn a_stack_of_our_own_is_sent_as_it_is() {
        let error = RemoteError {
            stack: Some("at board.post".to_owned()),
            ..RemoteError::named("TypeError", "board.post: bad")
        };
        assert_eq!(
            error_json(&error).to_string(),
            r#"{"message":"board.post: bad","name":"TypeError","stack":"at board.post"}"#
        );
    }

    #[test]
    fn reading_is_lenient_about_stack() {
        for (body, stack) in [
            (serde_json::json!({"message": "m", "name": "Error"}), None),
            (serde_json::json!({"message": "m", "stack": null}), None),
            (
                serde_json::json!({"message": "m", "stack": {"frames": 3}}),
                None,
            ),
            (
                serde_json::json!({"message": "m", "stack": "Error: m\n  at x"}),
                Some("Error: m\n  at x"),
            ),
        ] {
            let error = parse_error(&Body::Json(body.clone()));
            assert_eq!(error.message, "m", "{body}");
            assert_eq!(error.name, "Error", "{body}");
            assert_eq!(error.stack.as_deref(), stack, "{body}");
        }
    }
}
