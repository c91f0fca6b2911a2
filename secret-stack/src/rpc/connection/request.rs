//! Reading a peer's request `{"name":…,"args":[…],"type":…}`: the checks JS muxrpc 8 makes, with
//! its exact error messages, and the method path lent out as `&[&str]` without copying a segment.
//!
//! Checks, in order (PROTOCOL.md §5.2, §5.5): for async/sync, `args` must be an array (`invalid
//! request, args should be array, was: <body>`), then `name`; for streams, `type` must be source,
//! sink or duplex (`unsupported stream type: <type>`), then `args`, then `name`. `name` may be an
//! array of strings or one string.

use serde_json::{Map, Value};

use crate::rpc::body::Body;
use crate::rpc::error::RemoteError;
use crate::rpc::manifest::CallKind;

/// How many path segments are lent out from the stack; longer paths (unheard of) use a `Vec`.
const INLINE_SEGMENTS: usize = 8;

/// A checked request: the method path and the arguments, taken out of the request object.
#[derive(Debug)]
pub(super) struct Request {
    /// The method path.
    pub name: Name,
    /// The `args` array, moved out of the request.
    pub args: Vec<Value>,
}

/// A checked `name`.
#[derive(Debug)]
pub(super) enum Name {
    /// `"name": "x"`.
    One(String),
    /// `"name": ["a", "b"]`: a non-empty array whose items are all strings.
    Many(Vec<Value>),
}

impl Name {
    /// Runs `f` with the method path.
    pub fn with_path<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
        match self {
            Name::One(s) => f(std::slice::from_ref(&s.as_str())),
            Name::Many(items) => with_segments(items.iter().map(|v| v.as_str().unwrap_or("")), f),
        }
    }
}

/// Runs `f` with the segments as a slice, kept on the stack when there are few.
pub(super) fn with_segments<'a, R>(
    segments: impl ExactSizeIterator<Item = &'a str>,
    f: impl FnOnce(&[&str]) -> R,
) -> R {
    let n = segments.len();
    if n > INLINE_SEGMENTS {
        let all: Vec<&str> = segments.collect();
        return f(&all);
    }
    let mut inline = [""; INLINE_SEGMENTS];
    for (slot, s) in inline.iter_mut().zip(segments) {
        *slot = s;
    }
    f(inline.get(..n).unwrap_or(&[]))
}

/// An async/sync request: args first, then name (JS order).
pub(super) fn parse_async(body: Body) -> Result<Request, RemoteError> {
    check_args(&body)?;
    check_name(&body)?;
    Ok(take(body))
}

/// A stream request: type first (JS order), then args and name.
pub(super) fn parse_stream(body: Body) -> Result<(CallKind, Request), RemoteError> {
    let kind = match request_object(&body).and_then(|m| m.get("type")) {
        Some(Value::String(t)) if t == "source" => CallKind::Source,
        Some(Value::String(t)) if t == "sink" => CallKind::Sink,
        Some(Value::String(t)) if t == "duplex" => CallKind::Duplex,
        Some(Value::String(t)) => return Err(unsupported(t)),
        Some(other) => return Err(unsupported(&other.to_string())),
        None => return Err(unsupported("undefined")),
    };
    check_args(&body)?;
    check_name(&body)?;
    Ok((kind, take(body)))
}

/// The request object of a body, if it is one.
fn request_object(body: &Body) -> Option<&Map<String, Value>> {
    match body {
        Body::Json(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// `name` must be a string or a non-empty array of strings.
fn check_name(body: &Body) -> Result<(), RemoteError> {
    let valid = match request_object(body).and_then(|m| m.get("name")) {
        Some(Value::String(_)) => true,
        Some(Value::Array(items)) => !items.is_empty() && items.iter().all(Value::is_string),
        _ => false,
    };
    if valid {
        return Ok(());
    }
    Err(RemoteError::new(format!(
        "invalid request, name should be a string or an array of strings, was: {}",
        render(body)
    )))
}

/// `args` must be an array.
fn check_args(body: &Body) -> Result<(), RemoteError> {
    match request_object(body).and_then(|m| m.get("args")) {
        Some(Value::Array(_)) => Ok(()),
        _ => Err(RemoteError::new(format!(
            "invalid request, args should be array, was: {}",
            render(body)
        ))),
    }
}

/// Moves name and args out of a checked request.
fn take(body: Body) -> Request {
    let Body::Json(Value::Object(mut map)) = body else {
        return Request {
            name: Name::Many(Vec::new()),
            args: Vec::new(),
        };
    };
    let args = match map.get_mut("args") {
        Some(Value::Array(args)) => std::mem::take(args),
        _ => Vec::new(),
    };
    let name = match map.get_mut("name").map(Value::take) {
        Some(Value::String(s)) => Name::One(s),
        Some(Value::Array(items)) => Name::Many(items),
        _ => Name::Many(Vec::new()),
    };
    Request { name, args }
}

/// The body as JS's `JSON.stringify` renders it in error messages.
fn render(body: &Body) -> String {
    body.clone().into_json().to_string()
}

fn unsupported(kind: &str) -> RemoteError {
    RemoteError::new(format!("unsupported stream type: {kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path_of(r: &Request) -> Vec<String> {
        r.name.with_path(|p| p.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn checked_requests_lend_their_path_and_give_their_args() {
        let r = parse_async(Body::Json(json!({"name": ["a", "b"], "args": [1, "x"]}))).unwrap();
        assert_eq!(path_of(&r), ["a", "b"]);
        assert_eq!(r.args, vec![json!(1), json!("x")]);
        let r = parse_async(Body::Json(json!({"name": "a", "args": []}))).unwrap();
        assert_eq!(path_of(&r), ["a"]);
        let long: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        let r = parse_async(Body::Json(json!({"name": long, "args": []}))).unwrap();
        assert_eq!(path_of(&r), long);
    }

    #[test]
    fn errors_quote_the_request_in_js_order() {
        let e = parse_async(Body::Json(json!({"name": 5, "args": 1}))).unwrap_err();
        assert_eq!(
            e.message,
            r#"invalid request, args should be array, was: {"name":5,"args":1}"#
        );
        let e = parse_async(Body::Json(json!({"name": [], "args": []}))).unwrap_err();
        assert_eq!(
            e.message,
            r#"invalid request, name should be a string or an array of strings, was: {"name":[],"args":[]}"#
        );
        let e = parse_stream(Body::Json(json!({"name": 5, "args": 1, "type": "async"})))
            .unwrap_err();
        assert_eq!(e.message, "unsupported stream type: async");
        let e = parse_stream(Body::Text("x".into())).unwrap_err();
        assert_eq!(e.message, "unsupported stream type: undefined");
        let (kind, r) = parse_stream(Body::Json(
            json!({"name": ["c"], "args": [3], "type": "source"}),
        ))
        .unwrap();
        assert_eq!(kind, CallKind::Source);
        assert_eq!(path_of(&r), ["c"]);
    }
}
