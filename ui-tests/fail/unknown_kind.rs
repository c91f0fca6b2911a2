use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    #[rpc(kind = "stream")]
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {}
