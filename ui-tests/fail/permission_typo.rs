use secret_stack::plugin;

pub struct P;

// One edit away from `anonymous`: would silently lock anonymous peers out.
#[plugin(name = "p", permission = "anonymus")]
impl P {
    fn hello(&self) -> u8 {
        1
    }

    #[permission(mastr)]
    fn secret(&self) -> u8 {
        2
    }
}

pub struct Q;

#[plugin(name = "q", permission = "Master")]
impl Q {
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {}
