//! Typed hook targets: per method, a zero-sized marker implementing `HookTarget` (its path, kind,
//! argument tuple and what a hook returns, with the conversions between those and JSON), reachable
//! as an associated constant of the plugin type named after the method in upper case.
//!
//! The marker is generic over one type parameter that the constant sets to
//! `(Plugin, Args, Out)`: the impl's header then names the user's types, so a private plugin or
//! argument type keeps the impl as private as it is instead of leaking through a public one.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Type;
use syn::ext::IdentExt;

use super::Model;
use super::codec::{Op, codec};
use crate::model::{Role, RpcMethod, Shape};

/// The markers, their constants on the plugin type, and their `HookTarget` impls.
/// Only with a client: a hook's conversions need what the client needs (answers that decode,
/// errors that travel both ways).
pub fn targets(model: &Model, self_ty: &Type, type_ident: &syn::Ident) -> TokenStream {
    if model.client.is_none() {
        return TokenStream::new();
    }
    let items = model
        .methods
        .iter()
        .map(|m| target(model, m, self_ty, type_ident));
    quote!(#(#items)*)
}

/// The name of a method's marker struct, e.g. `LogCreateHistoryStreamMethod`.
pub fn marker_ident(type_ident: &syn::Ident, method: &RpcMethod) -> syn::Ident {
    let pascal: String = method
        .ident
        .unraw()
        .to_string()
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    format_ident!("{}{}Method", type_ident, pascal)
}

/// The associated constant naming a method, e.g. `CREATE_HISTORY_STREAM`.
pub fn const_ident(method: &RpcMethod) -> syn::Ident {
    let name = method.ident.unraw().to_string().to_uppercase();
    syn::Ident::new(&name, method.ident.span())
}

/// The argument tuple of a method: the types of its JSON arguments, in order.
pub fn args_type(method: &RpcMethod) -> TokenStream {
    let types = method
        .params
        .iter()
        .filter(|p| matches!(p.role, Role::Arg { .. }))
        .map(|p| &p.ty);
    quote!((#(#types,)*))
}

/// One method's marker. Over 80 lines: it is one template of the items emitted together (the
/// struct, its constant and its `HookTarget` impl), which reads best in one piece.
fn target(
    model: &Model,
    method: &RpcMethod,
    self_ty: &Type,
    type_ident: &syn::Ident,
) -> TokenStream {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let vis = &model.client_vis;
    let marker = marker_ident(type_ident, method);
    let constant = const_ident(method);
    let label = model.label(method);
    let mount = &model.mount;
    let path = &method.path;
    let kind_variant = method.kind.variant();
    let kind = quote!(#private::CallKind::#kind_variant);
    let args = args_type(method);
    let (out, into_reply, from_reply) = answer(model, method, &label);
    let (decode, encode) = arg_codecs(model, method, &label);
    let doc = format!(
        "The method `{label}` ({}) named for a typed hook: [`{type_ident}::{constant}`].",
        method.kind.as_str()
    );
    let const_doc = format!(
        "The method `{label}` ({}), to hook with `App::hook({type_ident}::{constant}, |ctx, args, next| ...)`.",
        method.kind.as_str()
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis struct #marker<S>(::core::marker::PhantomData<fn() -> S>);

        impl<S> ::core::clone::Clone for #marker<S> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<S> ::core::marker::Copy for #marker<S> {}

        impl<S> ::core::fmt::Debug for #marker<S> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(#label)
            }
        }

        #[allow(dead_code, private_interfaces)]
        impl #self_ty {
            #[doc = #const_doc]
            #vis const #constant: #marker<(#self_ty, #args, #out)> =
                #marker(::core::marker::PhantomData);
        }

        impl #private::HookTarget for #marker<(#self_ty, #args, #out)> {
            type Plugin = #self_ty;
            type Args = #args;
            type Out = #out;
            const MOUNT: &'static str = #mount;
            const PATH: &'static [&'static str] = &[#(#path),*];
            const KIND: #private::CallKind = #kind;

            fn decode_args(
                __ss_args: ::std::vec::Vec<#private::Value>,
            ) -> ::core::result::Result<Self::Args, #private::RemoteError> {
                #decode
            }

            fn encode_args(
                __ss_tuple: Self::Args,
            ) -> ::core::result::Result<::std::vec::Vec<#private::Value>, #private::RemoteError> {
                #encode
            }

            fn into_reply(__ss_out: Self::Out) -> #private::Reply {
                #into_reply
            }

            fn from_reply(__ss_reply: #private::Reply) -> Self::Out {
                #from_reply
            }
        }
    }
}

/// What a hook returns, and the conversions between it and a reply.
fn answer(
    model: &Model,
    method: &RpcMethod,
    label: &str,
) -> (TokenStream, TokenStream, TokenStream) {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    match &method.shape {
        Shape::Value { ok, .. } => {
            let encode = codec(krate, ok, Op::EncodeBody);
            let decode = codec(krate, ok, Op::DecodeBody);
            (
                quote!(#private::HookFuture<#ok>),
                quote!(#private::hook_value_reply(#label, __ss_out, #encode)),
                quote!(#private::hook_value_out(#label, __ss_reply, #decode)),
            )
        }
        Shape::Source { item, .. } => {
            let encode = codec(krate, item, Op::EncodeBody);
            let decode = codec(krate, item, Op::DecodeBody);
            (
                quote!(#private::HookStream<#item>),
                quote!(#private::hook_stream_reply(#label, __ss_out, #encode)),
                quote!(#private::hook_stream_out(#label, __ss_reply, #decode)),
            )
        }
        Shape::Done { .. } => (
            quote!(#private::HookFuture<()>),
            quote!(#private::hook_done_reply(__ss_out)),
            quote!(#private::hook_done_out(#label, __ss_reply)),
        ),
    }
}

/// The bodies of `decode_args` and `encode_args`: the same readers and builders as the handler
/// and the client use.
fn arg_codecs(model: &Model, method: &RpcMethod, label: &str) -> (TokenStream, TokenStream) {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let mut reads = Vec::new();
    let mut pushes = Vec::new();
    let mut vars = Vec::new();
    for (i, param) in method.params.iter().enumerate() {
        let Role::Arg { optional } = &param.role else {
            continue;
        };
        let var = format_ident!("__ss_a{}", i);
        let name = &param.name;
        let ty = &param.ty;
        match optional {
            Some(inner) => {
                let dec = codec(krate, &quote!(#inner), Op::DecodeArg);
                let enc = codec(krate, &quote!(#inner), Op::EncodeArg);
                reads.push(quote!(let #var = __ss_reader.optional(#name, #dec)?;));
                pushes.push(quote!(__ss_builder.push_optional(#name, #var, #enc);));
            }
            None => {
                let dec = codec(krate, &quote!(#ty), Op::DecodeArg);
                let enc = codec(krate, &quote!(#ty), Op::EncodeArg);
                reads.push(quote!(let #var = __ss_reader.required(#name, #dec)?;));
                pushes.push(quote!(__ss_builder.push(#name, #var, #enc);));
            }
        }
        vars.push(var);
    }
    let reader_mut = if vars.is_empty() {
        quote!()
    } else {
        quote!(mut)
    };
    let decode = quote! {
        let #reader_mut __ss_reader = #private::ArgsReader::new(#label, __ss_args);
        #(#reads)*
        __ss_reader.finish()?;
        ::core::result::Result::Ok((#(#vars,)*))
    };
    let encode = quote! {
        let (#(#vars,)*) = __ss_tuple;
        let #reader_mut __ss_builder = #private::ArgsBuilder::new(#label);
        #(#pushes)*
        __ss_builder.finish().map_err(#private::args_error)
    };
    (decode, encode)
}
