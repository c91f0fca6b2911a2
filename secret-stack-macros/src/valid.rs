//! Checks across the whole input, after each method was read: the plugin's own arguments, and
//! wire paths that collide (the same name twice, or a method where another uses a namespace).

use crate::ast::RpcMethod;
use crate::attr::{Errors, Form, PluginArgs};

/// Checks the macro's arguments.
pub fn args(args: &PluginArgs, form: Form, name_span: proc_macro2::Span, errors: &mut Errors) {
    match &args.name {
        None if args.name_given => {}
        None => errors.at(
            name_span,
            match form {
                Form::Plugin => "missing plugin name: write `#[plugin(name = \"...\")]`",
                Form::Remote => "missing plugin name: write `#[remote(name = \"...\")]`",
            },
        ),
        Some(lit) if lit.value().is_empty() => {
            errors.spanned(lit, "the plugin name cannot be empty")
        }
        Some(lit) if lit.value() == "global" => errors.spanned(
            lit,
            "plugin named \"global\" is reserved (it is the shared config section)",
        ),
        Some(_) => {}
    }
    for need in &args.needs {
        if need.value().is_empty() {
            errors.spanned(need, "a needed plugin name cannot be empty");
        }
    }
}

/// Reports every method whose path equals, or nests under, an earlier method's path.
pub fn paths(methods: &[RpcMethod], errors: &mut Errors) {
    for (i, later) in methods.iter().enumerate() {
        for earlier in &methods[..i] {
            let shorter = later.path.len().min(earlier.path.len());
            if later.path[..shorter] != earlier.path[..shorter] {
                continue;
            }
            let message = if later.path.len() == earlier.path.len() {
                format!(
                    "duplicate wire name `{}`: method `{}` already uses it (rename one with `#[rpc(name = \"...\")]`)",
                    later.dotted(),
                    earlier.ident
                )
            } else {
                format!(
                    "wire name `{}` clashes with `{}` of method `{}`: a name cannot be both a method and a namespace",
                    later.dotted(),
                    earlier.dotted(),
                    earlier.ident
                )
            };
            errors.at(later.path_span, message);
            break;
        }
    }
}
