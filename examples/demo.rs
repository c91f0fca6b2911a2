//! Two peers in one process: they authenticate each other and exchange a message.
fn main() {}
