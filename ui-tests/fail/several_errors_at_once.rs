use secret_stack::plugin;

pub struct P;

#[plugin(name = "p", nmae = "q")]
impl P {
    fn bump(&mut self) -> u8 {
        1
    }

    #[rpc(kind = "stream")]
    fn hello(&self) -> u8 {
        1
    }

    fn greet(&self, name: &str) -> String {
        name.to_owned()
    }
}

fn main() {}
