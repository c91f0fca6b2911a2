//! From input tokens to output tokens: parse the item, read it into the model (`ast`), check it
//! (`valid`), then generate, one file per generated item: the `Plugin` impl with its manifest and
//! permissions (`manifest`), the method table (`dispatch`), and the typed client (`client`, shared
//! by `#[plugin]` and `#[remote]`). On any error the input is emitted anyway (`fallback`).

mod client;
mod codec;
mod dispatch;
mod manifest;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::{Ident, ImplItem, Item, LitStr, TraitItem};

use crate::ast::{self, RpcMethod};
use crate::attr::{self, Access, Errors, Form, PluginArgs};
use crate::{fallback, names, valid};

/// Everything the generators need, checked.
pub struct Model {
    /// The path of the runtime crate (`::secret_stack` unless `crate = "..."`).
    pub krate: TokenStream,
    /// The plugin's name as JS knows it.
    pub name: String,
    /// Its mount name (camelCase of the name).
    pub mount: String,
    pub version: TokenStream,
    pub needs: Vec<LitStr>,
    pub client: Ident,
    pub client_vis: TokenStream,
    pub methods: Vec<RpcMethod>,
}

impl Model {
    /// The dotted path used in messages, e.g. `test.add`.
    pub fn label(&self, method: &RpcMethod) -> String {
        format!("{}.{}", self.mount, method.dotted())
    }

    /// The absolute path of a method, as the client calls it.
    pub fn full_path(&self, method: &RpcMethod) -> Vec<String> {
        let mut path = vec![self.mount.clone()];
        path.extend(method.path.iter().cloned());
        path
    }
}

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
    if let Some((path, _)) = &imp.trait_ {
        errors.spanned(
            path,
            "`#[plugin]` goes on an inherent impl block (`impl MyPlugin { ... }`), not on a trait impl",
        );
    }
    if !imp.generics.params.is_empty() || imp.generics.where_clause.is_some() {
        errors.spanned(
            &imp.generics,
            "a plugin cannot be generic: implement it for a concrete type",
        );
    }
    let type_ident = match ast::last_segment(&imp.self_ty) {
        Some(s) => s.ident.clone(),
        None => {
            errors.spanned(
                &imp.self_ty,
                "`#[plugin]` needs a named type: `impl MyPlugin { ... }`",
            );
            Ident::new("Plugin", Span::call_site())
        }
    };
    let krate = krate(&args);
    let default_access = args.permission.clone().unwrap_or(Access::Master);
    let mut methods = Vec::new();
    for item in &imp.items {
        match item {
            ImplItem::Fn(f) => methods.extend(ast::method(
                Form::Plugin,
                &f.sig,
                &f.attrs,
                &default_access,
                &krate,
                &mut errors,
            )),
            ImplItem::Const(c) => misplaced(&c.attrs, &mut errors),
            ImplItem::Type(t) => misplaced(&t.attrs, &mut errors),
            ImplItem::Macro(m) => misplaced(&m.attrs, &mut errors),
            _ => {}
        }
    }
    valid::args(&args, Form::Plugin, Span::call_site(), &mut errors);
    valid::paths(&methods, &mut errors);
    strip_impl(&mut imp);
    let self_ty = (*imp.self_ty).clone();
    let model = model(args, krate, &type_ident, quote!(pub), methods);
    if let Err(e) = errors.into_result() {
        return fallback::plugin(&imp, &self_ty, &model, e);
    }
    let plugin_impl = dispatch::plugin_impl(&model, &self_ty);
    let client = if model_has_client(&model) {
        client::client(&model)
    } else {
        TokenStream::new()
    };
    quote! {
        #imp
        #plugin_impl
        #client
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
    if !tr.generics.params.is_empty() || tr.generics.where_clause.is_some() {
        errors.spanned(&tr.generics, "a `#[remote]` trait cannot be generic");
    }
    if !tr.supertraits.is_empty() {
        errors.spanned(
            &tr.supertraits,
            "a `#[remote]` trait cannot have supertraits",
        );
    }
    let krate = krate(&args);
    let mut methods = Vec::new();
    for item in &tr.items {
        match item {
            TraitItem::Fn(f) => methods.extend(ast::method(
                Form::Remote,
                &f.sig,
                &f.attrs,
                &Access::Master,
                &krate,
                &mut errors,
            )),
            other => errors.spanned(
                other,
                "a `#[remote]` trait lists methods only (`fn name(&self, ...) -> T;`)",
            ),
        }
    }
    valid::args(&args, Form::Remote, Span::call_site(), &mut errors);
    valid::paths(&methods, &mut errors);
    let vis = tr.vis.to_token_stream();
    let model = model(args, krate, &tr.ident, vis, methods);
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

fn model(
    args: PluginArgs,
    krate: TokenStream,
    type_ident: &Ident,
    client_vis: TokenStream,
    methods: Vec<RpcMethod>,
) -> Model {
    let name = args.name.as_ref().map(LitStr::value).unwrap_or_default();
    let version = match &args.version {
        Some(v) => v.to_token_stream(),
        None => quote!(::core::env!("CARGO_PKG_VERSION")),
    };
    let client = if args.client {
        format_ident!("{}Client", type_ident)
    } else {
        Ident::new("__NoClient", Span::call_site())
    };
    Model {
        krate,
        mount: names::mount_name(&name),
        name,
        version,
        needs: args.needs,
        client,
        client_vis,
        methods,
    }
}

fn model_has_client(model: &Model) -> bool {
    model.client != "__NoClient"
}

fn krate(args: &PluginArgs) -> TokenStream {
    match &args.krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::secret_stack),
    }
}

fn misplaced(attrs: &[syn::Attribute], errors: &mut Errors) {
    for a in attrs.iter().filter(|a| attr::is_ours(a)) {
        errors.spanned(a, "`#[rpc]` and `#[permission]` go on methods only");
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
