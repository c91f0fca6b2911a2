use secret_stack::plugin;
use secret_stack::stack::App;

pub struct P;

#[plugin(name = "p")]
impl P {
    async fn hello(&self, name: String) -> String {
        name
    }
}

fn hook(app: &App) {
    // A path string is not a typed target: the typed form names the method through its type.
    let _ = app.hook("p.hello", |ctx, args, next| next.call(ctx, args));
}

fn main() {}
