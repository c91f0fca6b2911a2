use secret_stack::plugin;

pub struct P<T>(T);

#[plugin(name = "p")]
impl<T: Send + Sync + 'static> P<T> {
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {}
