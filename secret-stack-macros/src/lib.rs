//! Procedural macros of `secret-stack`: `#[plugin]` and `#[remote]`. Use them through the
//! `secret_stack` crate, which re-exports them; its `plugin` module has the full guide with
//! runnable examples.

mod ast;
mod attr;
mod expand;
mod fallback;
mod names;
mod valid;

use proc_macro::TokenStream;

/// Turns an `impl` block into a secret-stack plugin: its manifest, permissions, method table
/// and a typed client, from ordinary Rust methods.
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::plugin(args.into(), input.into()).into()
}

/// Turns a trait listing a remote plugin's methods into a typed client (`FooClient<C>`), for
/// plugins that exist only on the other side (for example in JS peers).
#[proc_macro_attribute]
pub fn remote(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::remote(args.into(), input.into()).into()
}
