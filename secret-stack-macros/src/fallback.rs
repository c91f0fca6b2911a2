//! What is emitted when the input has errors: the user's own code (minus this macro's inert
//! attributes) and placeholders for the generated items, next to the errors. The user then sees
//! the real mistakes only, not a cascade of "cannot find `FooClient`" or "`Foo` does not
//! implement `Plugin`" errors from code that uses the plugin.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemImpl, Type};

use crate::model::Model;

/// The impl block as written, a `Plugin` impl with no methods, a client with no methods, and the
/// errors.
pub fn plugin(imp: &ItemImpl, self_ty: &Type, model: &Model, error: syn::Error) -> TokenStream {
    let krate = &model.krate;
    let name = &model.name;
    let error = error.to_compile_error();
    let client = client(model);
    // A generic or trait impl cannot take a placeholder impl safely: emit the errors only.
    let placeholder = if imp.trait_.is_none() && imp.generics.params.is_empty() {
        quote! {
            impl #krate::__private::Plugin for #self_ty {
                fn name(&self) -> &str {
                    #name
                }
                fn version(&self) -> &str {
                    ""
                }
                fn methods(self: ::std::sync::Arc<Self>) -> ::std::vec::Vec<#krate::__private::Method> {
                    ::std::vec::Vec::new()
                }
            }
        }
    } else {
        TokenStream::new()
    };
    quote! {
        #error
        #imp
        #placeholder
        #client
    }
}

/// A client with no methods, and the errors.
pub fn remote(model: &Model, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    let client = client(model);
    quote! {
        #error
        #client
    }
}

fn client(model: &Model) -> TokenStream {
    let Some(client) = &model.client else {
        return TokenStream::new();
    };
    let vis = &model.client_vis;
    quote! {
        /// Placeholder: the plugin definition has errors.
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client<C> {
            caller: C,
        }

        impl<C> #client<C> {
            /// Placeholder: the plugin definition has errors.
            #vis fn new(caller: C) -> Self {
                #client { caller }
            }
        }
    }
}
