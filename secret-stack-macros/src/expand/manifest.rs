//! The manifest the typed client announces (`{"hello": "async", ...}`), emitted as data. The
//! plugin's own manifest and permission table are derived at run time from its methods, which
//! carry their kind and permission groups.

use proc_macro2::TokenStream;
use quote::quote;

use super::Model;

/// An expression of type `Manifest`: the methods' relative paths and kinds.
pub fn manifest(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let entries = model.methods.iter().map(|m| {
        let path = &m.path;
        let kind = m.kind.variant();
        quote!((&[#(#path),*], #krate::__private::CallKind::#kind))
    });
    quote!(#krate::__private::manifest(&[#(#entries),*]))
}
