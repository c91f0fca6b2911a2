//! Our requests, encoded straight from the caller's path and arguments into frame bytes.
//!
//! A request is `{"name":[…],"args":[…]}`, plus `"type"` for streams, in that key order (JS's).
//! It is serialized from borrowed parts, with no JSON tree built in between, into a small buffer
//! the connection keeps: each frame is split off it and shares its allocation, and once the
//! writer has copied every frame out the buffer is reused. A request on a connection that keeps
//! up therefore allocates nothing.

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde_json::Value;

use crate::rpc::error::RpcError;
use crate::rpc::manifest::CallKind;
use crate::rpc::wire::{JSON, PACKET_HEADER_LEN, STREAM};

/// How much the buffer takes at a time: room for dozens of ordinary requests.
const CHUNK: usize = 2048;

/// Below this much room, the buffer is refilled (reclaimed if the writer is done with it).
const MIN_ROOM: usize = 256;

/// The request object, serialized as JS writes it.
#[derive(Serialize)]
struct RequestBody<'a> {
    name: &'a [&'a str],
    args: &'a [Value],
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
}

/// The buffer our request frames are encoded into.
#[derive(Debug, Default)]
pub(super) struct RequestEncoder {
    buf: BytesMut,
}

impl RequestEncoder {
    /// The frame of request `req` calling `path` with `args`: async when `kind` is `None`, else a
    /// stream of that kind. Fails only if the body does not fit a frame (4 GiB).
    pub fn encode(
        &mut self,
        req: i32,
        path: &[&str],
        args: &[Value],
        kind: Option<CallKind>,
    ) -> Result<BytesMut, RpcError> {
        if self.buf.capacity() < MIN_ROOM {
            // Reuses the current allocation if no frame split off it is still alive.
            self.buf.reserve(CHUNK);
        }
        let start = self.buf.len();
        let flags = if kind.is_some() { STREAM | JSON } else { JSON };
        self.buf.put_u8(flags);
        self.buf.put_u32(0); // patched below once the body length is known
        self.buf.put_i32(req);
        let body = RequestBody {
            name: path,
            args,
            kind: kind.map(CallKind::as_str),
        };
        let written = serde_json::to_writer((&mut self.buf).writer(), &body)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let len = self.buf.len().saturating_sub(start + PACKET_HEADER_LEN);
                u32::try_from(len).map_err(|_| format!("a {len}-byte body does not fit a frame"))
            });
        let len = match written {
            Ok(len) => len,
            Err(e) => {
                self.buf.truncate(start);
                return Err(RpcError::InvalidValue(format!(
                    "cannot send the request: {e}"
                )));
            }
        };
        if let Some(slot) = self.buf.get_mut(start + 1..start + 5) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
        if self.buf.len() > CHUNK {
            // An exceptional frame: it leaves with its own allocation instead of pinning a large
            // one here.
            return Ok(std::mem::take(&mut self.buf));
        }
        Ok(self.buf.split())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::body::Body;
    use crate::rpc::codec::PacketCodec;
    use crate::rpc::packet::Packet;
    use serde_json::json;

    /// The frame the generic encoder writes for the same request, as a JSON tree.
    fn reference(req: i32, path: &[&str], args: &[Value], kind: Option<CallKind>) -> Vec<u8> {
        let mut body = json!({"name": path, "args": args});
        if let (Some(kind), Some(map)) = (kind, body.as_object_mut()) {
            map.insert("type".into(), json!(kind.as_str()));
        }
        let mut buf = BytesMut::new();
        PacketCodec::encode_packet(
            &Packet::new(req, kind.is_some(), false, Body::Json(body)),
            &mut buf,
        )
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn frames_match_the_generic_encoder_byte_for_byte() {
        let mut frames = RequestEncoder::default();
        type Case<'a> = (i32, Vec<&'a str>, Vec<Value>, Option<CallKind>);
        let cases: Vec<Case> = vec![
            (1, vec!["hello"], vec![json!("world")], None),
            (2, vec!["nested", "deep"], vec![], None),
            (3, vec!["count"], vec![json!(3)], Some(CallKind::Source)),
            (4, vec!["collect"], vec![], Some(CallKind::Sink)),
            (
                5,
                vec!["echo"],
                vec![json!({"b": 1, "a": [null, 1.5]})],
                Some(CallKind::Duplex),
            ),
            (i32::MAX, vec!["é\"\n\u{1}"], vec![json!("ü\u{2028}")], None),
        ];
        for (req, path, args, kind) in cases {
            let frame = frames.encode(req, &path, &args, kind).unwrap();
            assert_eq!(
                frame.to_vec(),
                reference(req, &path, &args, kind),
                "{path:?}"
            );
        }
    }

    #[test]
    fn the_buffer_is_reused_once_frames_are_gone_and_large_frames_leave_with_theirs() {
        let mut frames = RequestEncoder::default();
        let first = frames.encode(1, &["a"], &[], None).unwrap();
        let ptr = first.as_ptr();
        drop(first);
        // Use up the chunk so that the next request has to refill the buffer.
        while frames.buf.capacity() >= MIN_ROOM {
            drop(frames.encode(2, &["a"], &[], None).unwrap());
        }
        let again = frames.encode(3, &["a"], &[], None).unwrap();
        assert_eq!(again.as_ptr(), ptr, "the buffer was not reclaimed");
        let big = vec![json!("x".repeat(3 * CHUNK))];
        let large = frames.encode(4, &["a"], &big, None).unwrap();
        assert!(large.len() > CHUNK);
        assert_eq!(frames.buf.capacity(), 0);
        assert_eq!(large.to_vec(), reference(4, &["a"], &big, None));
    }
}
