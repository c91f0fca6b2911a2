//! How a value travels is asked of its type, never read from its name: the emitted expression
//! resolves, at the user's type, to the type's `WireFormat` conversions when it has them (binary,
//! text, raw body, unit) and to serde JSON otherwise, so an alias or a newtype of `Bytes` travels
//! as binary.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};

use super::dispatch::{respan, tokens_span};

/// Which conversion of a type is wanted.
#[derive(Clone, Copy)]
pub enum Op {
    /// Result or stream item → body.
    EncodeBody,
    /// Body → result or stream item.
    DecodeBody,
    /// Argument → JSON.
    EncodeArg,
    /// JSON → argument.
    DecodeArg,
}

impl Op {
    fn method(self) -> &'static str {
        match self {
            Op::EncodeBody => "encode_body",
            Op::DecodeBody => "decode_body",
            Op::EncodeArg => "encode_arg",
            Op::DecodeArg => "decode_arg",
        }
    }
}

/// An expression giving the `fn` pointer of `op` for `ty`, spanned at the type so that a type
/// that can travel neither way (not `WireFormat`, not serde) is reported there.
///
/// `Encoding::<T>::PICK.pick()` (`PICK` is a `&&Encoding<T>`) finds `PickWire::pick` (implemented for `&Encoding<T>`
/// where `T: WireFormat`) one auto-deref step before `PickJson::pick` (implemented for
/// `Encoding<T>`, any `T`), so the binary/text/body form wins whenever the type has one.
pub fn codec(krate: &TokenStream, ty: &TokenStream, op: Op) -> TokenStream {
    let span = tokens_span(ty);
    let method = Ident::new(op.method(), span);
    // Every token at the type, so that the whole expression (and any error about it) is there.
    let private = respan(&quote!(#krate::__private), span);
    // One of the two traits is always unused: the one whose `pick` lost.
    quote_spanned! {span=> {
        #[allow(unused_imports)]
        use #private::{PickJson as _, PickWire as _};
        #private::Encoding::<#ty>::PICK.pick().#method()
    }}
}
