use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    fn stats(&self) -> u8 {
        1
    }

    #[rpc(name = "stats.size")]
    fn size(&self) -> u8 {
        2
    }
}

fn main() {}
