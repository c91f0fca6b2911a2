//! Reading types by their shape: `Result`, `Source<T>`, `Sink<T>`, `Option<T>`. Shapes are
//! recognised by the name of the last path segment, so `io::Result<T>` is a `Result` and an alias
//! named otherwise is not (`#[rpc(kind = "...")]` then says what it is). How a value travels is
//! never read from its name: generated code asks the type (`WireFormat` or JSON).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{GenericArgument, Ident, PathArguments, Type};

/// `Source<T>` or `Result<Source<T>, E>` → (T, E).
pub fn source_parts(ty: &Type) -> Option<(Type, Option<TokenStream>)> {
    let last = last_segment(ty)?;
    if last.ident == "Source" {
        return single_type_arg(last).map(|t| (t.clone(), None));
    }
    if last.ident == "Result" {
        let args = type_args(last);
        let inner = last_segment(args.first()?)?;
        if inner.ident == "Source" {
            let item = single_type_arg(inner)?.clone();
            let err = args.get(1).map(|e| e.to_token_stream());
            // A one-argument alias (`io::Result<Source<T>>`) hides its error type: the client
            // then reports errors untyped.
            return Some((item, err));
        }
    }
    None
}

/// For a `Result`-named return type: (the success type if written, its tokens, the error type).
/// Aliases that hide a part are read through `MethodResult`.
pub fn result_parts(
    ty: &Type,
    krate: &TokenStream,
) -> Option<(Option<Type>, TokenStream, TokenStream)> {
    let last = last_segment(ty)?;
    if last.ident != "Result" {
        return None;
    }
    let args = type_args(last);
    let projection = |part: &str| {
        let part = Ident::new(part, Span::call_site());
        quote!(<#ty as #krate::__private::MethodResult>::#part)
    };
    let (ok_ty, ok) = match args.first() {
        Some(t) => (Some((*t).clone()), t.to_token_stream()),
        None => (None, projection("Ok")),
    };
    let err = match args.get(1) {
        Some(e) => e.to_token_stream(),
        None => projection("Err"),
    };
    Some((ok_ty, ok, err))
}

/// For a `Result`-named type: its success type, if written.
pub fn result_ok(ty: &Type) -> Option<Option<&Type>> {
    let last = last_segment(ty)?;
    (last.ident == "Result").then(|| type_args(last).first().copied())
}

pub fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

pub fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

fn type_args(segment: &syn::PathSegment) -> Vec<&Type> {
    match &segment.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn single_type_arg(segment: &syn::PathSegment) -> Option<&Type> {
    match type_args(segment).as_slice() {
        [one] => Some(one),
        _ => None,
    }
}
