use secret_stack::plugin;
use secret_stack::rpc::CallContext;

pub struct P;

#[plugin(name = "p")]
impl P {
    fn who(&self, ctx: CallContext) -> u8 {
        let _ = ctx;
        1
    }
}

fn main() {}
