use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    #[rpc(name = "make")]
    fn make() -> u8 {
        1
    }
}

fn main() {}
