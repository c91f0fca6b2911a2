//! A group whose name is close to a keyword is still possible, written explicitly; the list form
//! of the plugin's default takes several groups.
use secret_stack::plugin;
use secret_stack::rpc::Permissions;

pub struct P;

#[plugin(name = "p", permission(group = "anonymus"))]
impl P {
    fn hello(&self) -> u8 {
        1
    }
}

pub struct Q;

#[plugin(name = "q", permission(anonymous, group = "friends"))]
impl Q {
    fn hello(&self) -> u8 {
        1
    }
}

fn main() {
    use secret_stack::plugin::PluginDescription;
    use std::sync::Arc;
    let groups = Arc::new(P).permissions();
    assert_eq!(groups["anonymus"], Permissions::allow(["hello"]));
    assert!(!groups.contains_key("anonymous"));
    let groups = Arc::new(Q).permissions();
    assert_eq!(groups["anonymous"], Permissions::allow(["hello"]));
    assert_eq!(groups["friends"], Permissions::allow(["hello"]));
}
