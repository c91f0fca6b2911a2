//! The expansion uses absolute paths only.
#![no_implicit_prelude]

extern crate secret_stack;
extern crate std;

pub struct Bare;

#[secret_stack::plugin(name = "bare", version = "1.0.0", permission = "anonymous")]
impl Bare {
    async fn hello(&self, name: ::std::string::String) -> ::std::string::String {
        name
    }
    fn add(&self, a: i64, b: ::std::option::Option<i64>) -> ::std::result::Result<i64, ::std::string::String> {
        ::std::result::Result::Ok(a + b.unwrap_or(0))
    }
    fn count(&self, n: u32) -> secret_stack::rpc::Source<u32> {
        secret_stack::rpc::Source::iter(0..n)
    }
    async fn collect(&self, items: secret_stack::rpc::Sink<u32>) {
        let _ = items;
    }
    fn echo(
        &self,
        items: secret_stack::rpc::Sink<secret_stack::rpc::Body>,
    ) -> secret_stack::rpc::Source<secret_stack::rpc::Body> {
        ::std::convert::From::from(items)
    }
}

fn main() {}
