use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    #[permission(master, group = "friends")]
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {}
