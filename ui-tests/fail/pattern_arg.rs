use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    fn add(&self, (a, b): (i64, i64)) -> i64 {
        a + b
    }
}

fn main() {}
