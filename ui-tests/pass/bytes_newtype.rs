//! A newtype of `Bytes` travels as binary once it implements `BinaryValue`.
use bytes::Bytes;
use secret_stack::plugin;
use secret_stack::rpc::typed::BinaryValue;
use secret_stack::rpc::{Body, CallContext, Permissions, Sink, Source};
use secret_stack::{Plugin, keys::PublicKey};

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
    let method = std::sync::Arc::new(P).methods().remove(0);
    let ctx = CallContext::new(PublicKey([0; 32]), Permissions::default(), 0);
    let arg = serde_json::json!({"type": "Buffer", "data": [7]});
    let reply = (method.handler)(ctx, vec![arg], None);
    let secret_stack::rpc::Reply::Value(answer) = reply else {
        panic!("a sync method answers with a value");
    };
    // A sync method has answered already.
    let body = futures::FutureExt::now_or_never(answer).unwrap().unwrap();
    assert_eq!(body, Body::Binary(Bytes::from_static(&[7])));
}
