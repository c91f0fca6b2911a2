use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    fn items(&self) -> impl Iterator<Item = u8> {
        0..3
    }
}

fn main() {}
