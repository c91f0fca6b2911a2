use secret_stack::remote;

#[remote(name = "p")]
pub struct P;

fn main() {}
