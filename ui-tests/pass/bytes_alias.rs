//! A type alias of `Bytes` travels as binary, like `Bytes` itself: the codec is chosen by the
//! type, not by the name written in the signature.
use bytes::Bytes;
use futures::StreamExt;
use secret_stack::plugin;
use secret_stack::rpc::{Body, CallContext, Permissions, Sink, Source};
use secret_stack::{Plugin, keys::PublicKey};

type Chunk = Bytes;

pub struct P;

#[plugin(name = "p", permission = "anonymous")]
impl P {
    fn echo(&self, chunk: Chunk) -> Chunk {
        chunk
    }
    fn chunks(&self) -> Source<Chunk> {
        Source::iter([Chunk::from_static(b"a")])
    }
    async fn take(&self, mut chunks: Sink<Chunk>) {
        while chunks.next().await.is_some() {}
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
