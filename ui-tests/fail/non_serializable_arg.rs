use secret_stack::plugin;

pub struct P;

pub struct Opaque;

#[plugin(name = "p")]
impl P {
    fn take(&self, value: Opaque) -> u8 {
        let _ = value;
        1
    }
}

fn main() {}
