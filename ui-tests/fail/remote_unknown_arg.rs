use secret_stack::remote;

#[remote(name = "p", permission = "anonymous")]
pub trait P {
    fn hello(&self) -> u8;
}

fn main() {}
