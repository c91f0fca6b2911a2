//! Typed needs: `impl PluginType for T` and `THandle`, the in-process handle a plugin that needs
//! `T` gets from its init. A handle's method checks the method's hooks (one atomic load): with
//! none it calls the plugin's method directly as Rust; with some it calls through the generated
//! client over the app's local dispatch, hence through the hooks. Sinks and duplexes always take
//! the client's way.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Type;

use super::Model;
use super::client::{call, error_of, params};
use super::dispatch::async_helper_ident;
use crate::model::{Receiver, Role, RpcMethod, Shape};

/// The `PluginType` impl and the handle (nothing without a client).
pub fn handle(model: &Model, self_ty: &Type, type_ident: &syn::Ident) -> TokenStream {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let Some(client) = &model.client else {
        return TokenStream::new();
    };
    let vis = &model.client_vis;
    let handle = format_ident!("{}Handle", type_ident);
    let name = &model.name;
    let needs = &model.needs;
    let paths = model.methods.iter().map(|m| {
        let path = &m.path;
        quote!(__ss_link.hooks(&[#(#path),*]))
    });
    let methods = model
        .methods
        .iter()
        .enumerate()
        .map(|(i, m)| method(model, m, i, self_ty));
    let doc = format!(
        "A typed in-process handle on the `{name}` plugin, for the plugins that need it (from \
         `PluginInit::need`): calls are direct Rust calls while the method has no hook, and go \
         through the app's dispatch (and the method's hooks) while it has."
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #[derive(::core::clone::Clone)]
        #vis struct #handle {
            plugin: ::std::sync::Arc<#self_ty>,
            client: #client<#private::LocalCaller>,
            context: #private::CallContext,
            hooks: ::std::sync::Arc<[#private::MethodHooks]>,
        }

        impl ::core::fmt::Debug for #handle {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#handle)).finish_non_exhaustive()
            }
        }

        impl #private::PluginType for #self_ty {
            const NAME: &'static str = #name;
            const NEEDS: &'static [&'static str] = &[#(#needs),*];
            type Handle = #handle;

            fn handle(
                plugin: ::std::sync::Arc<Self>,
                __ss_link: &#private::NeedLink,
            ) -> #handle {
                #handle {
                    plugin,
                    client: #client::new(__ss_link.caller()),
                    context: __ss_link.context(),
                    hooks: <::std::sync::Arc<[#private::MethodHooks]> as ::core::convert::From<
                        ::std::vec::Vec<#private::MethodHooks>,
                    >>::from(::std::vec![#(#paths),*]),
                }
            }
        }

        #[allow(dead_code)]
        impl #handle {
            /// The plugin itself (calling it directly skips its hooks).
            #vis fn plugin(&self) -> &::std::sync::Arc<#self_ty> {
                &self.plugin
            }

            #(#methods)*
        }
    }
}

fn method(model: &Model, method: &RpcMethod, index: usize, self_ty: &Type) -> TokenStream {
    let vis = &model.client_vis;
    let ident = &method.ident;
    let docs = &method.docs;
    let p = params(model, method);
    let Some((ret, _)) = call(model, method, p.items.as_ref()) else {
        return TokenStream::new();
    };
    let param_list = &p.params;
    let forwarded: Vec<TokenStream> = method
        .params
        .iter()
        .filter(|p| !matches!(p.role, Role::Context))
        .map(|p| {
            let var = &p.ident;
            quote!(#var)
        })
        .collect();
    let (generics, bounds) = match &p.items {
        Some((_, item)) => {
            let krate = &model.krate;
            (
                quote!(<__SsItems>),
                quote!(where __SsItems: #krate::__private::Stream<Item = #item> + ::core::marker::Send + 'static),
            )
        }
        None => (TokenStream::new(), TokenStream::new()),
    };
    let through_client = quote!(self.client.#ident(#(#forwarded),*));
    let body = match (&p.items, direct(model, method, self_ty)) {
        (None, Some(direct)) => quote! {
            if !self.hooks[#index].is_empty() {
                return #through_client;
            }
            #direct
        },
        _ => through_client,
    };
    quote! {
        #(#docs)*
        #[allow(clippy::too_many_arguments)]
        #vis fn #ident #generics(&self, #(#param_list),*) -> #ret #bounds {
            #body
        }
    }
}

/// The direct call of a method without a sink, answered as the client would answer it (`None`
/// for a sink).
fn direct(model: &Model, method: &RpcMethod, self_ty: &Type) -> Option<TokenStream> {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let ident = &method.ident;
    let span = ident.span();
    let args: Vec<TokenStream> = method
        .params
        .iter()
        .map(|p| match p.role {
            Role::Context => quote!(&__ss_context),
            _ => {
                let var = &p.ident;
                quote!(#var)
            }
        })
        .collect();
    let receiver = match method.receiver {
        Receiver::Ref => quote!(&*__ss_plugin),
        Receiver::Arc => quote!(__ss_plugin),
    };
    let call = if method.asyncness {
        let helper = async_helper_ident(method);
        let args = method
            .params
            .iter()
            .filter(|p| !matches!(p.role, Role::Context))
            .map(|p| &p.ident);
        quote_spanned!(span=> <#self_ty>::#helper(__ss_plugin, __ss_context, #(#args),*))
    } else {
        quote_spanned!(span=> <#self_ty>::#ident(#receiver, #(#args),*))
    };
    let setup = quote! {
        let __ss_plugin = <::std::sync::Arc<#self_ty> as ::core::clone::Clone>::clone(&self.plugin);
        #[allow(unused_variables)]
        let __ss_context = ::core::clone::Clone::clone(&self.context);
    };
    let answer = |value: TokenStream| -> TokenStream {
        match &method.shape {
            Shape::Value { err: Some(_), .. } => quote!(#private::direct_value(#value)),
            Shape::Value { err: None, .. } => quote!(::core::result::Result::Ok(#value)),
            Shape::Source { err, .. } => {
                let (_, error) = error_of(model, err);
                match err {
                    Some(_) => quote!(#private::direct_result_source(#value, #error)),
                    None => quote!(#private::direct_source(#value, #error)),
                }
            }
            Shape::Done { .. } => TokenStream::new(),
        }
    };
    let awaited = quote!(#call.await);
    Some(match (&method.shape, method.asyncness) {
        (Shape::Value { .. }, false) => {
            let value = answer(call);
            quote! { #setup ::std::boxed::Box::pin(::core::future::ready(#value)) }
        }
        (Shape::Value { .. }, true) => {
            let value = answer(awaited);
            quote! { #setup ::std::boxed::Box::pin(async move { #value }) }
        }
        (Shape::Source { .. }, false) => {
            let value = answer(call);
            quote! { #setup #value }
        }
        (Shape::Source { .. }, true) => {
            let value = answer(awaited);
            quote! { #setup #private::direct_async_source(async move { #value }) }
        }
        (Shape::Done { .. }, _) => return None,
    })
}
