use futures::FutureExt;
use secret_stack::plugin;
use secret_stack::rpc::Source;
use secret_stack::stack::App;

pub struct P;

#[plugin(name = "p")]
impl P {
    async fn hello(&self, name: String) -> String {
        name
    }

    fn count(&self, n: u32) -> Source<u32> {
        Source::iter(0..n)
    }
}

fn hook(app: &App) {
    // `hello` takes one argument: its hook gets a one-element tuple.
    let _ = app.hook(P::HELLO, |ctx, (name, extra), next| next.call(ctx, (name,)));
    // `count` is a source: its hook returns a stream of items, not a future of an answer.
    let _ = app.hook(P::COUNT, |ctx, (n,), next| async move { Ok(n) }.boxed());
}

fn main() {}
