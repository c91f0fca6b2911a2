//! `crate = "..."` points the expansion at a re-export of secret_stack.
mod facade {
    pub use ::secret_stack as stack;
}

pub struct Routed;

#[secret_stack::plugin(name = "routed", crate = "crate::facade::stack", client = false)]
impl Routed {
    fn ping(&self) -> bool {
        true
    }
}

#[secret_stack::remote(name = "routed", crate = "crate::facade::stack")]
pub trait Routed2 {
    fn ping(&self) -> bool;
}

fn main() {
    use secret_stack::plugin::Plugin;
    assert_eq!(Routed.name(), "routed");
    assert_eq!(Routed2Client::<()>::MOUNT, "routed");
}
