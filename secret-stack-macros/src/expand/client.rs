//! The caller side: `FooClient<C: Caller>`, one method per RPC method, generated from the same
//! model for `#[plugin]` impls and `#[remote]` traits.
//!
//! async/sync methods return a `TypedFuture<T, E>`, sources a `TypedStream<T, E>`, sinks take
//! any `Stream` of items and return a `TypedFuture<(), E>`, duplexes do both; `E` is the method's
//! own error type (`Infallible` when it has none), delivered as `CallError::Method(E)`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use super::codec::{Op, codec};
use super::dispatch::tokens_span;
use super::{Model, manifest};
use crate::model::{Role, RpcMethod, Shape};

/// The client struct and its methods.
pub fn client(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let Some(client) = &model.client else {
        return TokenStream::new();
    };
    let vis = &model.client_vis;
    let mount = &model.mount;
    let doc = format!(
        "Typed client of the `{}` plugin (mounted at `{mount}`): one method per RPC method, over \
         any `Caller` (a connection, or a `LocalCaller` for the local app).",
        model.name,
    );
    let manifest = manifest::manifest(model);
    let methods = model.methods.iter().map(|m| method(model, m));
    quote! {
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client<C> {
            caller: C,
        }

        impl<C> #client<C> {
            /// The name the plugin is mounted under (the camelCase of its name).
            #vis const MOUNT: &'static str = #mount;

            /// A client placing its calls through `caller`.
            #vis fn new(caller: C) -> Self {
                #client { caller }
            }

            /// The caller this client uses.
            #vis fn caller(&self) -> &C {
                &self.caller
            }

            /// Gives the caller back.
            #vis fn into_caller(self) -> C {
                self.caller
            }

            /// The plugin's manifest, relative to its mount point.
            #vis fn manifest() -> #krate::__private::Manifest {
                #manifest
            }
        }

        impl<C: #krate::__private::Caller> #client<C> {
            #(#methods)*
        }
    }
}

/// The parameters of one client method, what encodes them, and the sink's items if any.
pub struct Params {
    pub params: Vec<TokenStream>,
    pushes: Vec<TokenStream>,
    /// The sink parameter and its item type.
    pub items: Option<(syn::Ident, TokenStream)>,
}

pub fn params(model: &Model, method: &RpcMethod) -> Params {
    let krate = &model.krate;
    let mut out = Params {
        params: Vec::new(),
        pushes: Vec::new(),
        items: None,
    };
    for param in &method.params {
        let name = &param.name;
        let var = &param.ident;
        let ty = &param.ty;
        match &param.role {
            Role::Context => {}
            Role::Arg { optional } => {
                out.params.push(quote!(#var: #ty));
                out.pushes.push(match optional {
                    Some(inner) => {
                        let enc = codec(krate, &quote!(#inner), Op::EncodeArg);
                        quote!(__ss_args.push_optional(#name, #var, #enc);)
                    }
                    None => {
                        let enc = codec(krate, &quote!(#ty), Op::EncodeArg);
                        quote!(__ss_args.push(#name, #var, #enc);)
                    }
                });
            }
            Role::Sink { item } => {
                out.params.push(quote!(#var: __SsItems));
                out.items = Some((var.clone(), item.clone()));
            }
        }
    }
    out
}

fn method(model: &Model, method: &RpcMethod) -> TokenStream {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let vis = &model.client_vis;
    let label = model.label(method);
    let ident = &method.ident;
    let docs = &method.docs;
    let calls = format!("Calls `{label}` ({}).", method.kind.as_str());
    let Params {
        params,
        pushes,
        items,
    } = params(model, method);
    let mutability = if pushes.is_empty() {
        TokenStream::new()
    } else {
        quote!(mut)
    };
    let (generics, bounds) = match &items {
        Some((_, item)) => (
            quote!(<__SsItems>),
            quote!(where __SsItems: #private::Stream<Item = #item> + ::core::marker::Send + 'static),
        ),
        None => (TokenStream::new(), TokenStream::new()),
    };
    let Some((ret, body)) = call(model, method, items.as_ref()) else {
        return TokenStream::new();
    };
    quote! {
        #(#docs)*
        #[doc = ""]
        #[doc = #calls]
        // Mirrors the method's parameters, which the user may have allowed to be many.
        #[allow(clippy::too_many_arguments)]
        #vis fn #ident #generics(&self, #(#params),*) -> #ret #bounds {
            let #mutability __ss_args = #private::ArgsBuilder::new(#label);
            #(#pushes)*
            #body
        }
    }
}

/// The client method's return type and the call it places; `None` for a sink without items.
pub fn call(
    model: &Model,
    method: &RpcMethod,
    items: Option<&(syn::Ident, TokenStream)>,
) -> Option<(TokenStream, TokenStream)> {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let label = model.label(method);
    let full_path = model.full_path(method);
    let err_of = |err: &Option<TokenStream>| error_of(model, err);
    let common = quote!(&self.caller, #label, &[#(#full_path),*], __ss_args.finish());
    Some(match &method.shape {
        Shape::Value { ok, err, .. } => {
            let (err, error) = err_of(err);
            let decoder = codec(krate, ok, Op::DecodeBody);
            (
                quote!(#private::TypedFuture<#ok, #err>),
                quote!(::std::boxed::Box::pin(#private::call(#common, #decoder, #error))),
            )
        }
        Shape::Source { item, err } => {
            let (err, error) = err_of(err);
            let decoder = codec(krate, item, Op::DecodeBody);
            let body = match items {
                Some((var, sent)) => {
                    let encoder = codec(krate, sent, Op::EncodeBody);
                    quote!(#private::duplex(#common, #var, #encoder, #decoder, #error))
                }
                None => quote!(#private::source(#common, #decoder, #error)),
            };
            (quote!(#private::TypedStream<#item, #err>), body)
        }
        Shape::Done { err } => {
            let (err, error) = err_of(err);
            let (var, sent) = items?;
            let encoder = codec(krate, sent, Op::EncodeBody);
            (
                quote!(#private::TypedFuture<(), #err>),
                quote!(::std::boxed::Box::pin(#private::sink(#common, #var, #encoder, #error))),
            )
        }
    })
}

/// The error type of a method's answer (`Infallible` when it has none) and the function turning a
/// call's failure into a `CallError` of it.
pub fn error_of(model: &Model, err: &Option<TokenStream>) -> (TokenStream, TokenStream) {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    match err {
        Some(e) => {
            let span = tokens_span(e);
            (
                e.clone(),
                if model.typed_errors {
                    // The same trait as the handler asks for, at the same type: one error if
                    // the type lacks a derive.
                    quote_spanned!(span=> <#e as #private::TypedError>::CONVERSIONS.from_rpc)
                } else {
                    quote_spanned!(span=> #private::decode_typed_error::<#e>)
                },
            )
        }
        None => (
            quote!(::core::convert::Infallible),
            quote!(#private::decode_untyped_error),
        ),
    }
}
