use secret_stack::plugin;
use secret_stack::rpc::Sink;

pub struct P;

#[plugin(name = "p")]
impl P {
    async fn merge(&self, left: Sink<u32>, right: Sink<u32>) {
        let _ = (left, right);
    }
}

fn main() {}
