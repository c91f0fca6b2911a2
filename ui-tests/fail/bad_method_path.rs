use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    #[rpc(name = "a..b")]
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {}
