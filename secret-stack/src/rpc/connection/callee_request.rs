//! Reading a peer's request `{"name":…,"args":[…],"type":…}`: the checks JS muxrpc 8 makes, with
//! its exact error messages, and the method path lent out as `&[&str]` without copying a segment.
//!
//! Checks, in order: for async/sync, `args` must be an array (`invalid
//! request, args should be array, was: <body>`), then `name`; for streams, `type` must be source,
//! sink or duplex (`unsupported stream type: <type>`), then `args`, then `name`. `name` may be an
//! array of strings or one string.
//!
//! An async request, the common case, is read straight from its bytes by [`parse_raw_async`]: the
//! path stays in the packet (segments are byte ranges of it) and only `args` is built, where a JSON
//! tree of the whole object would take nine allocations for `{"name":["a","b"],"args":["x"]}`.
//! That fast path only takes requests it reads exactly as the general path would (see its docs);
//! anything else goes the general way, so what a peer sees never depends on which path ran.

use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::rpc::body::Body;
use crate::rpc::error::RemoteError;
use crate::rpc::manifest::CallKind;

/// How many path segments are lent out from the stack; longer paths (unheard of) use a `Vec`.
const INLINE_SEGMENTS: usize = 8;

/// A checked request: the method path and the arguments, taken out of the request object.
#[derive(Debug)]
pub(super) struct PeerRequest {
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
    /// A path read from the bytes of a packet: `len` segments, each a byte range of `body`.
    Raw {
        body: Bytes,
        segments: [(usize, usize); INLINE_SEGMENTS],
        len: usize,
    },
}

impl Name {
    /// Runs `f` with the method path.
    pub fn with_path<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
        match self {
            Name::One(s) => f(std::slice::from_ref(&s.as_str())),
            Name::Many(items) => with_segments(items.iter().map(|v| v.as_str().unwrap_or("")), f),
            Name::Raw {
                body,
                segments,
                len,
            } => {
                // Each range is where the JSON parser found that segment, as UTF-8, in `body`.
                let segment = |&(start, end): &(usize, usize)| {
                    body.get(start..end)
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .unwrap_or("")
                };
                with_segments(segments.iter().take(*len).map(segment), f)
            }
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
pub(super) fn parse_async(body: Body) -> Result<PeerRequest, RemoteError> {
    check_args(&body)?;
    check_name(&body)?;
    Ok(take(body))
}

/// A stream request: type first (JS order), then args and name.
pub(super) fn parse_stream(body: Body) -> Result<(CallKind, PeerRequest), RemoteError> {
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

/// An async request read straight from the bytes of its JSON body, or the bytes back if the fast
/// path does not take it.
///
/// It takes an object whose `name` is a string or an array of 1 to 8 strings, none with an escape
/// sequence, and whose `args` is an array, each given once. Other keys are parsed as JSON values
/// and dropped, as the general path keeps and ignores them. Nesting counts toward serde_json's
/// depth limit exactly as when parsing the whole body into a [`Value`], so a body this accepts is
/// one the general path accepts too, with the same path and arguments; a body it refuses, valid
/// or not, is left to the general path, which then answers (or fails the session) as it always did.
pub(super) fn parse_raw_async(body: Bytes) -> Result<PeerRequest, Bytes> {
    let parsed = {
        let mut de = serde_json::Deserializer::from_slice(&body);
        de.deserialize_map(RequestVisitor { base: &body })
            .and_then(|fields| de.end().map(|()| fields))
    };
    match parsed {
        Ok(Fields {
            segments,
            len,
            args,
        }) => Ok(PeerRequest {
            name: Name::Raw {
                body,
                segments,
                len,
            },
            args,
        }),
        Err(_) => Err(body),
    }
}

/// What the fast path reads from a request.
struct Fields {
    segments: [(usize, usize); INLINE_SEGMENTS],
    len: usize,
    args: Vec<Value>,
}

/// Why the fast path gives a request up (the general path then reads it).
fn give_up<E: de::Error>(why: &str) -> E {
    E::custom(why)
}

/// Reads the request object.
struct RequestVisitor<'b> {
    base: &'b [u8],
}

impl<'de> Visitor<'de> for RequestVisitor<'_> {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut name = None;
        let mut args = None;
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "name" if name.is_none() => {
                    name = Some(map.next_value_seed(NameSeed { base: self.base })?);
                }
                "args" if args.is_none() => args = Some(map.next_value::<Vec<Value>>()?),
                "name" | "args" => return Err(give_up("repeated key")),
                // Built and dropped rather than skipped: skipping would not count its depth.
                _ => {
                    let _: Value = map.next_value()?;
                }
            }
        }
        match (name, args) {
            (Some((segments, len)), Some(args)) => Ok(Fields {
                segments,
                len,
                args,
            }),
            _ => Err(give_up("name or args missing")),
        }
    }
}

/// Reads `name` into byte ranges of the body.
struct NameSeed<'b> {
    base: &'b [u8],
}

impl NameSeed<'_> {
    /// Where `segment`, borrowed from the body, lies in it.
    fn range<E: de::Error>(&self, segment: &str) -> Result<(usize, usize), E> {
        let start = (segment.as_ptr() as usize)
            .checked_sub(self.base.as_ptr() as usize)
            .ok_or_else(|| give_up("segment outside the body"))?;
        let end = start + segment.len();
        if end > self.base.len() {
            return Err(give_up("segment outside the body"));
        }
        Ok((start, end))
    }
}

impl<'de> DeserializeSeed<'de> for NameSeed<'_> {
    type Value = ([(usize, usize); INLINE_SEGMENTS], usize);

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NameSeed<'_> {
    type Value = ([(usize, usize); INLINE_SEGMENTS], usize);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a method name")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(([self.range(s)?; INLINE_SEGMENTS], 1))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut segments = [(0, 0); INLINE_SEGMENTS];
        let mut len = 0;
        while let Some(s) = seq.next_element::<&'de str>()? {
            let slot = segments
                .get_mut(len)
                .ok_or_else(|| give_up("too many segments"))?;
            *slot = self.range(s)?;
            len += 1;
        }
        if len == 0 {
            return Err(give_up("empty name"));
        }
        Ok((segments, len))
    }
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
fn take(body: Body) -> PeerRequest {
    let Body::Json(Value::Object(mut map)) = body else {
        return PeerRequest {
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
    PeerRequest { name, args }
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

    fn path_of(r: &PeerRequest) -> Vec<String> {
        r.name
            .with_path(|p| p.iter().map(|s| (*s).to_owned()).collect())
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

    /// A request's path and args.
    type Call = (Vec<String>, Vec<Value>);

    /// What the general path makes of `bytes`: parse error, refusal, or the call.
    fn general(bytes: &[u8]) -> Result<Result<Call, String>, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        Ok(parse_async(Body::Json(value))
            .map(|r| (path_of(&r), r.args))
            .map_err(|e| e.message))
    }

    #[test]
    fn the_fast_path_reads_what_the_general_path_reads_or_leaves_it_alone() {
        let deep = |key: &str, n: usize| {
            format!(
                r#"{{"name":["a"],{key}:{}{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let mut bodies: Vec<String> = [
            r#"{"name":["test","hello"],"args":["x"]}"#,
            r#"{"name":"hello","args":["string name"]}"#,
            r#"{"name":["hello"],"args":["typed"],"type":"async"}"#,
            r#"{"args":[1,{"a":[2.5,null]}],"name":["x"],"other":{"k":[1,2]}}"#,
            r#" {"name":["a"],"args":[]} "#,
            r#"{"name":["a"],"args":[]} x"#,
            r#"{"name":["a"],"args":[]"#,
            r#"{"name":["h\u0065llo"],"args":[]}"#,
            r#"{"na\u006de":["hello"],"args":[]}"#,
            r#"{"name":["a\"b"],"args":[]}"#,
            r#"{"name":["a"],"name":["b"],"args":[]}"#,
            r#"{"name":["a"],"args":[1],"args":[2]}"#,
            r#"{"name":["a"],"args":"world"}"#,
            r#"{"name":[],"args":[]}"#,
            r#"{"name":[1],"args":[]}"#,
            r#"{"name":["a"]}"#,
            r#"{"args":[]}"#,
            r#"{"name":["1","2","3","4","5","6","7","8"],"args":[]}"#,
            r#"{"name":["1","2","3","4","5","6","7","8","9"],"args":[]}"#,
            r#"["name","args"]"#,
            r#""hello""#,
            "{\"name\":[\"\u{e9}\u{1F600}\"],\"args\":[\"\u{fc}\"]}",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // serde_json's depth limit (128) must bite at the same depth on both paths.
        for n in 120..=130 {
            bodies.push(deep(r#""args""#, n));
            bodies.push(deep(r#""args":[],"other""#, n));
        }
        let mut fast_taken = 0;
        for text in &bodies {
            let bytes = Bytes::from(text.clone());
            match parse_raw_async(bytes.clone()) {
                Ok(r) => {
                    fast_taken += 1;
                    let expected = general(&bytes)
                        .unwrap_or_else(|e| panic!("{text}: fast path took it, general: {e}"))
                        .unwrap_or_else(|e| panic!("{text}: fast path took it, general: {e}"));
                    assert_eq!((path_of(&r), r.args), expected, "{text}");
                }
                Err(back) => assert_eq!(back, bytes, "{text}: bytes given back as they came"),
            }
        }
        assert_eq!(
            fast_taken,
            7 + 2 * 7,
            "the fast path took an unexpected set"
        );
    }

    #[test]
    fn random_requests_read_the_same_on_both_paths() {
        // Requests assembled from pieces, valid and not, by a fixed pseudo-random sequence.
        const PIECES: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            " ",
            r#""name""#,
            r#""args""#,
            r#""type""#,
            r#""a""#,
            r#""b.c""#,
            r#""\u0061""#,
            r#""\"""#,
            "1",
            "-2.5e3",
            "null",
            "true",
            r#""x""#,
            r#"{"k":[1]}"#,
            "[[]]",
            "\"\u{e9}\"",
        ];
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let mut taken = 0;
        for i in 0..20_000 {
            let mut text = String::new();
            if i % 2 == 0 {
                // Mostly well-formed: name, args and maybe another key, in any order.
                let mut fields = vec![
                    format!(r#""name":{}"#, PIECES[next(PIECES.len())]),
                    format!(r#""args":[{}]"#, PIECES[next(PIECES.len())]),
                ];
                if next(3) == 0 {
                    fields.push(format!(r#""type":{}"#, PIECES[next(PIECES.len())]));
                }
                if next(2) == 0 {
                    fields.reverse();
                }
                text = format!("{{{}}}", fields.join(","));
            } else {
                for _ in 0..next(12) + 1 {
                    text.push_str(PIECES[next(PIECES.len())]);
                }
            }
            let bytes = Bytes::from(text.clone());
            match parse_raw_async(bytes.clone()) {
                Ok(r) => {
                    taken += 1;
                    let general = general(&bytes)
                        .unwrap_or_else(|e| panic!("{text}: fast path took it, general: {e}"))
                        .unwrap_or_else(|e| panic!("{text}: fast path took it, general: {e}"));
                    assert_eq!((path_of(&r), r.args), general, "{text}");
                }
                Err(back) => assert_eq!(back, bytes, "{text}"),
            }
        }
        assert!(taken > 1000, "the fast path took only {taken}");
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
        let e =
            parse_stream(Body::Json(json!({"name": 5, "args": 1, "type": "async"}))).unwrap_err();
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
