use secret_stack::plugin;

#[plugin(name = "p")]
pub struct P;

fn main() {}
