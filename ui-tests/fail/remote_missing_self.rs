use secret_stack::remote;

#[remote(name = "p")]
pub trait P {
    fn hello() -> u8;
}

fn main() {}
