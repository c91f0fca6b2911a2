use secret_stack::plugin;

pub struct P;

#[plugin(name = "p", nmae = "q")]
impl P {
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {}
