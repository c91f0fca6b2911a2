use secret_stack::plugin;

pub struct P;

#[plugin(name = "p")]
impl P {
    fn show<T: serde::Serialize>(&self, value: T) -> String {
        serde_json::to_string(&value).unwrap_or_default()
    }
}

fn main() {}
