use secret_stack::plugin;

pub struct P;

// Neither `Serialize` nor `Deserialize`: one error, at the type.
#[derive(Debug)]
pub struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}

#[plugin(name = "p")]
impl P {
    fn try_it(&self) -> Result<u8, Oops> {
        Err(Oops)
    }
}

fn main() {}
