//! The plugin's description: its manifest (`{"hello": "async", ...}`) and its permission groups
//! (`{"anonymous": {allow: ["hello", ...]}}`), computed at expansion time and emitted as data.

use proc_macro2::TokenStream;
use quote::quote;

use super::Model;
use crate::attr::Access;

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

/// An expression of type `BTreeMap<String, Permissions>`: each group with the dotted relative
/// paths of its methods, in declaration order, as a JS plugin's `permissions` object lists them.
pub fn permissions(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for method in &model.methods {
        let Access::Groups(names) = &method.access else {
            continue;
        };
        for name in names {
            let path = method.dotted();
            match groups.iter_mut().find(|(g, _)| g == name) {
                Some((_, paths)) => paths.push(path),
                None => groups.push((name.clone(), vec![path])),
            }
        }
    }
    let entries = groups
        .iter()
        .map(|(group, paths)| quote!((#group, &[#(#paths),*])));
    quote!(#krate::__private::permissions(&[#(#entries),*]))
}
