//! A newtype of `Bytes` travels as binary once it implements `BinaryValue`.
use bytes::Bytes;
use secret_stack::plugin;
use secret_stack::rpc::BinaryValue;
use secret_stack::rpc::{Body, Sink, Source};

pub struct Blob(Bytes);

impl From<Bytes> for Blob {
    fn from(bytes: Bytes) -> Self {
        Blob(bytes)
    }
}

impl From<Blob> for Bytes {
    fn from(blob: Blob) -> Self {
        blob.0
    }
}

impl BinaryValue for Blob {}

pub struct P;

#[plugin(name = "p", permission = "anonymous")]
impl P {
    fn echo(&self, blob: Blob) -> Blob {
        blob
    }
    fn echo_all(&self, blobs: Sink<Blob>) -> Source<Blob> {
        Source::from(blobs)
    }
    fn maybe(&self, blob: Option<Blob>) -> bool {
        blob.is_some()
    }
}

fn main() {
    let arg = serde_json::json!({"type": "Buffer", "data": [7]});
    let body = secret_stack_ui_tests::first_sync_answer(P, vec![arg]);
    assert_eq!(body, Body::Binary(Bytes::from_static(&[7])));
}
