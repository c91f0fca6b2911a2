use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    fn bump(&mut self) -> u8 {
        1
    }
}

fn main() {
    use secret_stack::plugin::Plugin;
    let _ = P.name();
    let _ = PClient::new(());
}
