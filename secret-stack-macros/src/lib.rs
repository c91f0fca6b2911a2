//! Procedural macros of `secret-stack`. Use them through the `secret_stack` crate, which re-exports them.

use proc_macro::TokenStream;

/// Placeholder.
#[proc_macro_attribute]
pub fn plugin(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}

/// Placeholder.
#[proc_macro_attribute]
pub fn remote(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}
