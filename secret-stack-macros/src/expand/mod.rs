//! From input tokens to output tokens, in the thiserror shape: parse the item and read it into
//! the input model (`ast`), check it (`valid`), build what is emitted (`model`), then emit, one
//! file per generated item: the `Plugin` impl whose methods carry their kind and permission groups
//! (`dispatch`), the client's manifest (`manifest`), and the typed client (`client`, shared by
//! `#[plugin]` and `#[remote]`). On any error the input is emitted anyway (`fallback`). Nothing here judges the
//! input: emission starts from a checked model only.

mod client;
mod codec;
mod dispatch;
mod handle;
mod hooks;
mod manifest;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{Ident, ImplItem, Item, TraitItem};

use crate::ast::Input;
use crate::attr::{self, Errors, Form, PluginArgs};
pub use crate::model::Model;
use crate::types::last_segment;
use crate::{fallback, valid};

/// `#[plugin(...)]` on an impl block.
pub fn plugin(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => {
            let e = e.to_compile_error();
            return quote!(#input #e);
        }
    };
    let mut errors = Errors::default();
    let Item::Impl(mut imp) = item else {
        let e = syn::Error::new_spanned(
            &item,
            "`#[plugin]` goes on an inherent impl block: `#[plugin(name = \"...\")] impl MyPlugin { ... }`",
        )
        .to_compile_error();
        return quote!(#item #e);
    };
    let args = PluginArgs::parse(args, Form::Plugin, &mut errors);
    valid::plugin_impl(&imp, &mut errors);
    let type_ident = match last_segment(&imp.self_ty) {
        Some(s) => s.ident.clone(),
        None => {
            errors.spanned(
                &imp.self_ty,
                "`#[plugin]` needs a named type: `impl MyPlugin { ... }`",
            );
            Ident::new("Plugin", Span::call_site())
        }
    };
    let input = Input::from_impl(args, &imp, &mut errors);
    let passed = valid::input(&input, &mut errors);
    strip_impl(&mut imp);
    let self_ty = (*imp.self_ty).clone();
    let model = Model::new(&input, &passed, &type_ident, quote!(pub));
    if let Err(e) = errors.into_result() {
        return fallback::plugin(&imp, &self_ty, &model, e);
    }
    let plugin_impl = dispatch::plugin_impl(&model, &self_ty);
    let client = client::client(&model);
    let helpers = dispatch::async_helpers(&model, &self_ty);
    let targets = hooks::targets(&model, &self_ty, &type_ident);
    let handle = handle::handle(&model, &self_ty, &type_ident);
    quote! {
        #imp
        #plugin_impl
        #helpers
        #client
        #targets
        #handle
    }
}

/// `#[remote(...)]` on a trait: a typed client only.
pub fn remote(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let Item::Trait(tr) = item else {
        return syn::Error::new_spanned(
            &item,
            "`#[remote]` goes on a trait listing the remote methods: `#[remote(name = \"...\")] trait Api { ... }`",
        )
        .to_compile_error();
    };
    let args = PluginArgs::parse(args, Form::Remote, &mut errors);
    valid::remote_trait(&tr, &mut errors);
    let input = Input::from_trait(args, &tr, &mut errors);
    let passed = valid::input(&input, &mut errors);
    let vis = tr.vis.to_token_stream();
    let model = Model::new(&input, &passed, &tr.ident, vis);
    if let Err(e) = errors.into_result() {
        return fallback::remote(&model, e);
    }
    let docs = tr.attrs.iter().filter(|a| a.path().is_ident("doc"));
    let client = client::client(&model);
    let types = remote_types(&tr);
    quote! {
        #(#docs)*
        #client
        #types
    }
}

/// Names every type the trait's signatures mention (as `fn` pointer types, in a function that
/// is never called), since the trait itself is not emitted: the types are still resolved and
/// checked, and the imports they need (`Source`, `Sink`…) do not come out unused.
fn remote_types(tr: &syn::ItemTrait) -> TokenStream {
    let sigs = tr.items.iter().filter_map(|item| match item {
        TraitItem::Fn(f) => Some(&f.sig),
        _ => None,
    });
    let uses = sigs.map(|sig| {
        let inputs = sig.inputs.iter().filter_map(|arg| match arg {
            syn::FnArg::Typed(p) => Some(&p.ty),
            syn::FnArg::Receiver(_) => None,
        });
        let output = match &sig.output {
            syn::ReturnType::Default => quote!(()),
            syn::ReturnType::Type(_, ty) => ty.to_token_stream(),
        };
        quote!(let _: ::core::option::Option<fn(#(#inputs),*) -> #output> = ::core::option::Option::None;)
    });
    quote! {
        const _: () = {
            #[allow(dead_code)]
            fn __ss_remote_types() {
                #(#uses)*
            }
        };
    }
}

/// Removes the attributes this macro reads, which are not real attributes.
fn strip_impl(imp: &mut syn::ItemImpl) {
    for item in &mut imp.items {
        let attrs = match item {
            ImplItem::Fn(f) => &mut f.attrs,
            ImplItem::Const(c) => &mut c.attrs,
            ImplItem::Type(t) => &mut t.attrs,
            ImplItem::Macro(m) => &mut m.attrs,
            _ => continue,
        };
        attrs.retain(|a| !attr::is_ours(a));
    }
}
