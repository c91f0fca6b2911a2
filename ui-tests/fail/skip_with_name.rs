use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    #[rpc(skip, name = "x")]
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {}
