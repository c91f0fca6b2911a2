//! A type alias of `Bytes` travels as binary, like `Bytes` itself: the codec is chosen by the
//! type, not by the name written in the signature.
use bytes::Bytes;
use futures::StreamExt;
use secret_stack::plugin;
use secret_stack::rpc::{Body, Sink, Source};

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
    let arg = serde_json::json!({"type": "Buffer", "data": [7]});
    let body = secret_stack_ui_tests::first_sync_answer(P, vec![arg]);
    assert_eq!(body, Body::Binary(Bytes::from_static(&[7])));
}
