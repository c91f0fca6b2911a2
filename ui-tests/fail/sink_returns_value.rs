use secret_stack::plugin;
use secret_stack::rpc::Sink;

pub struct P;

#[plugin(name = "p")]
impl P {
    async fn total(&self, items: Sink<u32>) -> u32 {
        let _ = items;
        0
    }
}

fn main() {}
