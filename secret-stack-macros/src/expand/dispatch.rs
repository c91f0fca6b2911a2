//! The callee side: `impl Plugin for T`, whose `methods()` builds one handler per RPC method.
//!
//! A handler reads the JSON arguments in order (answering a clear error on a missing or
//! mistyped one), wraps the caller's stream in a `Sink<T>` if the method takes one, calls the
//! method, and turns what it returns into a `Reply`. Everything is done through
//! `::secret_stack::__private` items and absolute paths, so the expansion does not depend on
//! the user's imports or prelude.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Type;

use super::Model;
use super::codec::{Op, codec};
use crate::model::{Receiver, Role, RpcMethod, Shape};

/// `impl ::secret_stack::plugin::Plugin for #self_ty { ... }`.
pub fn plugin_impl(model: &Model, self_ty: &Type) -> TokenStream {
    let krate = &model.krate;
    let name = &model.name;
    let version = &model.version;
    let needs = &model.needs;
    let methods = model.methods.iter().map(|m| handler(model, m));
    quote! {
        impl #krate::__private::Plugin for #self_ty {
            fn name(&self) -> &str {
                #name
            }

            fn version(&self) -> &str {
                #version
            }

            fn needs(&self) -> &[&str] {
                const NEEDS: &[&str] = &[#(#needs),*];
                NEEDS
            }

            fn methods(
                self: ::std::sync::Arc<Self>,
            ) -> ::std::vec::Vec<#krate::__private::Method> {
                <[#krate::__private::Method]>::into_vec(::std::boxed::Box::new([#(#methods),*]))
            }
        }
    }
}

/// `impl T { fn __ss_async_<method>(...) -> impl Future + Send }` for every `async fn` method: its
/// call as a future declared `Send`, which the handler and the typed handle both await. The one
/// declaration is where a future that is not `Send` is reported (once, at the method).
pub fn async_helpers(model: &Model, self_ty: &Type) -> TokenStream {
    let krate = &model.krate;
    let helpers = model.methods.iter().filter(|m| m.asyncness).map(|m| {
        let span = m.ident.span();
        let helper = async_helper_ident(m);
        let ident = &m.ident;
        let ret = &m.ret;
        let params = m.params.iter().filter(|p| !matches!(p.role, Role::Context)).map(|p| {
            let var = &p.ident;
            let ty = &p.ty;
            quote!(#var: #ty)
        });
        let args = m.params.iter().map(|p| match p.role {
            Role::Context => quote!(&__ss_ctx),
            _ => {
                let var = &p.ident;
                quote!(#var)
            }
        });
        let receiver = match m.receiver {
            Receiver::Ref => quote!(&*__ss_plugin),
            Receiver::Arc => quote!(__ss_plugin),
        };
        let output = quote_spanned!(span=> impl ::core::future::Future<Output = #ret> + ::core::marker::Send + 'static);
        let call = quote_spanned!(span=> Self::#ident(#receiver, #(#args),*).await);
        let body = quote_spanned!(span=> async move { #call });
        quote! {
            #[doc(hidden)]
            #[allow(unused_variables, clippy::too_many_arguments)]
            fn #helper(
                __ss_plugin: ::std::sync::Arc<Self>,
                __ss_ctx: #krate::__private::CallContext,
                #(#params),*
            ) -> #output {
                #body
            }
        }
    });
    quote! {
        impl #self_ty {
            #(#helpers)*
        }
    }
}

/// The name of an `async fn` method's helper.
pub fn async_helper_ident(method: &RpcMethod) -> syn::Ident {
    format_ident!("__ss_async_{}", syn::ext::IdentExt::unraw(&method.ident))
}

/// One `Method`, as an expression inside `methods()`.
fn handler(model: &Model, method: &RpcMethod) -> TokenStream {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let label = model.label(method);
    let path = &method.path;
    let kind = method.kind.variant();
    let kind = quote!(#krate::__private::CallKind::#kind);
    let span = method.ident.span();
    let (bindings, call_args) = bindings(model, method, &kind);
    let groups = method.groups();

    // The plugin handle each call needs: a fresh `Arc` when the call outlives the handler (async)
    // or takes it by value (`self: Arc<Self>`), a borrow otherwise.
    let owned = method.asyncness || method.receiver == Receiver::Arc;
    let fresh = if owned {
        quote!(let __ss_plugin = <::std::sync::Arc<Self> as ::core::clone::Clone>::clone(&__ss_plugin);)
    } else {
        TokenStream::new()
    };
    let receiver = match method.receiver {
        Receiver::Ref => quote!(&*__ss_plugin),
        Receiver::Arc => quote!(__ss_plugin),
    };
    let ident = &method.ident;
    let call = if method.asyncness {
        let helper = async_helper_ident(method);
        let args = method
            .params
            .iter()
            .zip(&call_args)
            .filter(|(p, _)| !matches!(p.role, Role::Context))
            .map(|(_, a)| a);
        quote_spanned!(span=> Self::#helper(__ss_plugin, __ss_ctx, #(#args),*))
    } else {
        quote_spanned!(span=> Self::#ident(#receiver, #(#call_args),*))
    };
    let reply = reply(model, method, &call);

    let reads = method
        .params
        .iter()
        .any(|p| matches!(p.role, Role::Arg { .. }));
    let mutability = if reads {
        quote!(mut)
    } else {
        TokenStream::new()
    };
    quote! {{
        let __ss_plugin = <::std::sync::Arc<Self> as ::core::clone::Clone>::clone(&self);
        #private::method(
            &[#(#path),*],
            #kind,
            &[#(#groups),*],
            move |__ss_ctx: #krate::__private::CallContext,
                  __ss_args: ::std::vec::Vec<#private::Value>,
                  __ss_input: ::core::option::Option<#krate::__private::MethodInput>| {
                #fresh
                let #mutability __ss_reader = #private::ArgsReader::new(#label, __ss_args);
                #(#bindings)*
                if let ::core::result::Result::Err(e) = __ss_reader.finish() {
                    return #private::reject(#kind, e);
                }
                #reply
            },
        )
    }}
}

/// The statements that read each argument (or wrap the caller's stream), and the expressions
/// passed to the method in its parameters' order.
fn bindings(
    model: &Model,
    method: &RpcMethod,
    kind: &TokenStream,
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let label = model.label(method);
    let mut bindings = Vec::new();
    let mut call_args = Vec::new();
    for (i, param) in method.params.iter().enumerate() {
        let var = format_ident!("__ss_p{}", i);
        let name = &param.name;
        match &param.role {
            Role::Context => call_args.push(quote!(&__ss_ctx)),
            Role::Arg { optional } => {
                let (read, decoder) = match optional {
                    Some(inner) => (
                        quote!(optional),
                        codec(krate, &quote!(#inner), Op::DecodeArg),
                    ),
                    None => {
                        let ty = &param.ty;
                        (quote!(required), codec(krate, &quote!(#ty), Op::DecodeArg))
                    }
                };
                bindings.push(quote! {
                    let #var = match __ss_reader.#read(#name, #decoder) {
                        ::core::result::Result::Ok(v) => v,
                        ::core::result::Result::Err(e) => return #private::reject(#kind, e),
                    };
                });
                call_args.push(quote!(#var));
            }
            Role::Sink { item } => {
                let decoder = codec(krate, item, Op::DecodeBody);
                bindings.push(quote! {
                    let #var = #private::sink_input(__ss_input, #label, #decoder);
                });
                call_args.push(quote!(#var));
            }
        }
    }

    (bindings, call_args)
}

/// What the handler returns: the method's answer turned into a `Reply` of its kind.
fn reply(model: &Model, method: &RpcMethod, call: &TokenStream) -> TokenStream {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let label = model.label(method);
    let span = method.ident.span();
    let awaited = quote_spanned!(span=> #call.await);
    match (&method.shape, method.asyncness) {
        (Shape::Value { ok, err, .. }, asyncness) => {
            let encoder = codec(krate, ok, Op::EncodeBody);
            let convert = |value: &TokenStream| match err {
                Some(err) => {
                    let error_span = tokens_span(err);
                    let error = if model.typed_errors {
                        quote_spanned!(error_span=> <#err as #private::TypedError>::CONVERSIONS.into_remote)
                    } else {
                        quote_spanned!(error_span=> #private::method_error::<#err>)
                    };
                    quote!(#private::result_value(#label, #value, #encoder, #error))
                }
                None => quote!(#private::value(#label, #value, #encoder)),
            };
            if asyncness {
                let answer = convert(&awaited);
                // Spanned at the method: a future that is not `Send` is reported there.
                let private = respan(&private, span);
                quote_spanned!(span=> #private::reply_async(async move { #answer }))
            } else {
                let answer = convert(call);
                quote!(#private::reply_value(#answer))
            }
        }
        (Shape::Source { item, .. }, asyncness) => {
            let encoder = codec(krate, item, Op::EncodeBody);
            if asyncness {
                let private = respan(&private, span);
                quote_spanned!(span=> #private::reply_async_source(#label, async move { #awaited }, #encoder))
            } else {
                quote!(#private::reply_source(#label, #call, #encoder))
            }
        }
        (Shape::Done { .. }, true) => {
            let private = respan(&private, span);
            quote_spanned!(span=> #private::reply_async_done(async move { #awaited }))
        }
        (Shape::Done { .. }, false) => quote!(#private::reply_done(#call)),
    }
}

/// The same tokens, all spanned at `span` (interpolated tokens keep their own spans otherwise).
pub fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// The span of the first token (enough to point at a type in errors).
pub fn tokens_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}
