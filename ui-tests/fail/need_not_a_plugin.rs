use secret_stack::plugin;
use secret_stack::stack::PluginInit;

pub struct Helper;

pub struct P;

// `Helper` has no `#[plugin]`: it cannot be needed by type.
#[plugin(name = "p", needs(Helper, "log"))]
impl P {
    fn ok(&self) -> bool {
        true
    }
}

fn init(init: &PluginInit<'_>) {
    // Nor can its handle be asked for.
    let _ = init.need::<Helper>();
}

fn main() {}
