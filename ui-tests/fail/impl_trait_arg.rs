use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    fn show(&self, value: impl serde::Serialize) -> u8 {
        let _ = value;
        1
    }
}

fn main() {}
