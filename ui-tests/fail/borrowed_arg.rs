use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    fn greet(&self, name: &str) -> String {
        name.to_owned()
    }
}

fn main() {}
