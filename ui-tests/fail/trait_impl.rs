use secret_stack::plugin;

pub struct P;

trait Api {
    fn hello(&self) -> u8;
}

#[plugin(name = "p")]
impl Api for P {
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {}
