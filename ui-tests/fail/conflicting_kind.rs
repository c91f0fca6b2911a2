use secret_stack::plugin;
use secret_stack::rpc::Source;

pub struct P;

#[plugin(name = "p")]
impl P {
    #[rpc(kind = "sink")]
    fn count(&self) -> Source<u32> {
        Source::empty()
    }
}

fn main() {}
