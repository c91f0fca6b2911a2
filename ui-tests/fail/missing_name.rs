use secret_stack::plugin;

pub struct P;

#[plugin(version = "1.0.0")]
impl P {
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {}
