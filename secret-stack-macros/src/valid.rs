//! Checks of the input, all of them, before anything is generated: the macro's arguments, the
//! item it is on, each method (receiver, signature, parameters, kind, return type, wire name),
//! and across methods, wire paths that collide. Every problem is reported at the user's token
//! and the checks go on, so that the user sees every mistake at once.

use proc_macro2::Span;
use quote::ToTokens;

use crate::ast::{Input, Kind, KindProblem, Method, ParamType, SelfArg};
use crate::attr::{self, Errors, Form, PluginArgs};
use crate::types::{is_unit, result_ok, source_parts};

/// Checks the whole input; returns, per method, whether it passed.
pub fn input(input: &Input, errors: &mut Errors) -> Vec<bool> {
    let ok: Vec<bool> = input
        .methods
        .iter()
        .map(|m| method(m, input.form, errors))
        .collect();
    for other in &input.others {
        match input.form {
            Form::Plugin => misplaced(&other.attrs, errors),
            Form::Remote => errors.spanned(
                &other.tokens,
                "a `#[remote]` trait lists methods only (`fn name(&self, ...) -> T;`)",
            ),
        }
    }
    args(&input.args, input.form, Span::call_site(), errors);
    let exposed = input
        .methods
        .iter()
        .zip(&ok)
        .filter(|(m, ok)| **ok && m.exposed())
        .map(|(m, _)| m);
    paths(exposed, errors);
    ok
}

/// Checks an impl block `#[plugin]` is on.
pub fn plugin_impl(imp: &syn::ItemImpl, errors: &mut Errors) {
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
}

/// Checks a trait `#[remote]` is on.
pub fn remote_trait(tr: &syn::ItemTrait, errors: &mut Errors) {
    if !tr.generics.params.is_empty() || tr.generics.where_clause.is_some() {
        errors.spanned(&tr.generics, "a `#[remote]` trait cannot be generic");
    }
    if !tr.supertraits.is_empty() {
        errors.spanned(
            &tr.supertraits,
            "a `#[remote]` trait cannot have supertraits",
        );
    }
}

/// Checks the macro's arguments.
fn args(args: &PluginArgs, form: Form, name_span: Span, errors: &mut Errors) {
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
    if let Some(lit) = &args.permission_lit
        && let Some(keyword) = attr::near_keyword(&lit.value())
    {
        let value = lit.value();
        let as_written = match keyword {
            "anonymous" => "a group no peer is in, locking anonymous peers out",
            _ => "a group, not master-only access",
        };
        errors.spanned(
            lit,
            format!(
                "`{value}` is one edit away from `{keyword}`: write `permission = \"{keyword}\"` (as written, it names {as_written}); for a group really named `{value}`, write `permission(group = \"{value}\")`"
            ),
        );
    }
    for need in &args.needs {
        if let attr::Need::Name(need) = need
            && need.value().is_empty()
        {
            errors.spanned(need, "a needed plugin name cannot be empty");
        }
    }
}

fn misplaced(attrs: &[syn::Attribute], errors: &mut Errors) {
    for a in attrs.iter().filter(|a| attr::is_ours(a)) {
        errors.spanned(a, "`#[rpc]` and `#[permission]` go on methods only");
    }
}

/// Checks one method; `false` if it cannot be exposed as written. A method that is not exposed
/// (no `self`, `#[rpc(skip)]`) passes unless this crate's attributes say it should be.
fn method(m: &Method, form: Form, errors: &mut Errors) -> bool {
    if !exposure(m, form, errors) {
        return true;
    }
    let mut ok = receiver(m, errors);
    ok &= signature(m, errors);
    ok &= params(m, errors);
    if let Some(syn::Type::ImplTrait(t)) = &m.ret {
        errors.spanned(
            t,
            "`impl Trait` cannot be returned by an RPC method: return a concrete type (`Source<T>` for a stream)",
        );
        return false;
    }
    ok &= kind(m, errors);
    if !returns(m, errors) {
        return false;
    }
    wire_path(m, errors) && ok
}

/// Whether the method is exposed; reports attributes on one that cannot be.
fn exposure(m: &Method, form: Form, errors: &mut Errors) -> bool {
    let ident = &m.sig.ident;
    if m.self_arg == SelfArg::Missing {
        if form == Form::Remote {
            errors.spanned(
                ident,
                format!(
                    "`{ident}` has no `self`: every method of a `#[remote]` trait takes `&self`"
                ),
            );
        } else if m.rpc.attr.is_some() || m.permission.is_some() {
            errors.spanned(
                ident,
                format!(
                    "`{ident}` has no `self`: an RPC method takes `&self` or `self: Arc<Self>` (associated functions are never exposed)"
                ),
            );
        }
        return false;
    }
    if m.rpc.skip.is_some() {
        if let Some(p) = &m.permission {
            errors.spanned(
                &p.attr,
                "a skipped method is not exposed, so it has no permission",
            );
        }
        return false;
    }
    true
}

fn receiver(m: &Method, errors: &mut Errors) -> bool {
    let message = match m.self_arg {
        SelfArg::Missing | SelfArg::Ref | SelfArg::Arc => return true,
        SelfArg::MutRef => {
            "`&mut self` is not supported: calls run concurrently on a shared plugin; take `&self` and keep mutable state behind a lock"
        }
        SelfArg::Value => {
            "an RPC method cannot take `self` by value: the plugin is shared by every call; take `&self` or `self: Arc<Self>`"
        }
        SelfArg::Other => "unsupported receiver: take `&self` or `self: Arc<Self>`",
    };
    errors.spanned(m.sig.receiver(), message);
    false
}

/// Generics, `unsafe`, `extern` and variadics.
fn signature(m: &Method, errors: &mut Errors) -> bool {
    let sig = &m.sig;
    let mut ok = true;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let tokens = if sig.generics.params.is_empty() {
            sig.generics.where_clause.to_token_stream()
        } else {
            sig.generics.to_token_stream()
        };
        errors.spanned(
            tokens,
            "RPC methods cannot be generic: the types of arguments and results must be known to decode them",
        );
        ok = false;
    }
    if let syn::Safety::Unsafe(token) = &sig.safety {
        errors.spanned(token, "an `unsafe fn` cannot be exposed as an RPC method");
        ok = false;
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, "an `extern` fn cannot be exposed as an RPC method");
        ok = false;
    }
    if let Some(v) = &sig.variadic {
        errors.spanned(v, "variadic functions cannot be exposed as RPC methods");
        ok = false;
    }
    ok
}

fn params(m: &Method, errors: &mut Errors) -> bool {
    let mut ok = true;
    let mut sink_seen = false;
    for p in &m.params {
        if p.ident.is_none() {
            errors.spanned(
                &p.pat,
                "use a plain name for each RPC argument (patterns are not supported): the name is used in error messages",
            );
            ok = false;
            continue;
        }
        let message = match &p.class {
            ParamType::Context | ParamType::Option(_) | ParamType::Plain => continue,
            ParamType::Sink(_) if !sink_seen => {
                sink_seen = true;
                continue;
            }
            ParamType::Sink(_) => {
                "only one `Sink<…>` parameter per method: a sink receives one stream (a duplex takes one `Sink` and returns a `Source`)"
            }
            ParamType::MutContext => "take the call context as `&CallContext` (not `&mut`)",
            ParamType::ContextByValue => "take the call context by reference: `&CallContext`",
            ParamType::Borrowed => {
                "borrowed arguments are not supported: arguments are decoded into owned values (take `String` instead of `&str`, `Vec<T>` instead of `&[T]`)"
            }
            ParamType::ImplTrait => {
                "`impl Trait` arguments cannot be decoded: name a concrete type"
            }
        };
        errors.spanned(&p.ty, message);
        ok = false;
    }
    ok
}

/// `#[rpc(kind = "...")]`: a known kind the signature allows, with a stream parameter if it
/// needs one.
fn kind(m: &Method, errors: &mut Errors) -> bool {
    match m.kind_plan() {
        Ok(plan) => {
            let needs_param = plan.sink_alias
                && !m.params.iter().any(|p| {
                    p.ident.is_some() && matches!(p.class, ParamType::Option(_) | ParamType::Plain)
                });
            if let (true, Some(lit)) = (needs_param, &m.rpc.kind) {
                errors.spanned(
                    lit,
                    "this kind receives a stream, but the method has no parameter for it (take a `Sink<T>`)",
                );
                return false;
            }
            true
        }
        Err(KindProblem::Unknown(lit)) => {
            errors.spanned(
                &lit,
                format!(
                    "unknown kind `{}`, expected one of `async`, `sync`, `source`, `sink`, `duplex`",
                    lit.value()
                ),
            );
            false
        }
        Err(KindProblem::Conflict {
            lit,
            wanted,
            inferred,
        }) => {
            errors.spanned(
                &lit,
                format!(
                    "`kind = \"{}\"` conflicts with the signature, which makes this a `{}` method{}",
                    wanted.as_str(),
                    inferred.as_str(),
                    explain(inferred)
                ),
            );
            false
        }
    }
}

fn explain(kind: Kind) -> &'static str {
    match kind {
        Kind::Source => " (it returns a `Source<…>`)",
        Kind::Sink => " (it takes a `Sink<…>`)",
        Kind::Duplex => " (it takes a `Sink<…>` and returns a `Source<…>`)",
        Kind::Async | Kind::Sync => "",
    }
}

/// A sink returns `()` or `Result<(), E>`; a source's `Source` is where its kind says.
fn returns(m: &Method, errors: &mut Errors) -> bool {
    let Ok(plan) = m.kind_plan() else {
        return true;
    };
    match (plan.kind, &m.ret) {
        (Kind::Source | Kind::Duplex, ret) => {
            plan.source_alias || ret.as_ref().and_then(source_parts).is_some()
        }
        (Kind::Sink, None) => true,
        (Kind::Sink, Some(ty)) if is_unit(ty) => true,
        (Kind::Sink, Some(ty)) => {
            let done = result_ok(ty).is_some_and(|ok| ok.is_none_or(is_unit));
            if !done {
                errors.spanned(
                    ty,
                    "a sink method returns `()` or `Result<(), E>`: the caller receives only the end of the stream",
                );
            }
            done
        }
        (Kind::Async | Kind::Sync, _) => true,
    }
}

/// Names separated by single dots, and a method name with letters.
fn wire_path(m: &Method, errors: &mut Errors) -> bool {
    let mut valid = true;
    for lit in m.rpc.namespace.iter().chain(m.rpc.name.iter()) {
        let value = lit.value();
        if value.split('.').any(str::is_empty) {
            errors.spanned(
                lit,
                format!("`{value}` is not a valid method path: use names separated by single dots"),
            );
            valid = false;
        }
    }
    if m.rpc.name.is_none() && m.wire_path().0.last().is_none_or(String::is_empty) {
        errors.spanned(
            &m.sig.ident,
            "this method name has no letters to put on the wire: give one with `#[rpc(name = \"...\")]`",
        );
        valid = false;
    }
    valid
}

/// Reports every method whose path equals, or nests under, an earlier method's path.
fn paths<'a>(methods: impl Iterator<Item = &'a Method>, errors: &mut Errors) {
    let paths: Vec<_> = methods
        .map(|m| {
            let (path, span) = m.wire_path();
            (path, span, &m.sig.ident)
        })
        .collect();
    for (i, (later, span, _)) in paths.iter().enumerate() {
        for (earlier, _, ident) in &paths[..i] {
            let shorter = later.len().min(earlier.len());
            if later[..shorter] != earlier[..shorter] {
                continue;
            }
            let message = if later.len() == earlier.len() {
                format!(
                    "duplicate wire name `{}`: method `{ident}` already uses it (rename one with `#[rpc(name = \"...\")]`)",
                    later.join("."),
                )
            } else {
                format!(
                    "wire name `{}` clashes with `{}` of method `{ident}`: a name cannot be both a method and a namespace",
                    later.join("."),
                    earlier.join("."),
                )
            };
            errors.at(*span, message);
            break;
        }
    }
}
