use std::rc::Rc;

use secret_stack::plugin;

pub struct P;

async fn pause() {}

#[plugin(name = "p")]
impl P {
    async fn hold(&self) -> u8 {
        let local = Rc::new(1);
        pause().await;
        *local
    }
}

fn main() {}
