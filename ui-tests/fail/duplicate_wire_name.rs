use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    fn hello(&self) -> u8 {
        1
    }

    #[rpc(name = "hello")]
    fn hello_again(&self) -> u8 {
        2
    }
}

fn main() {}
