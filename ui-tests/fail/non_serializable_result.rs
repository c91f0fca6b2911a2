use secret_stack::plugin;

pub struct P;

pub struct Opaque;

#[plugin(name = "p", client = false)]
impl P {
    fn give(&self) -> Opaque {
        Opaque
    }
}

fn main() {}
