//! The macro's own model of its input: the plugin (or remote API) and, per exposed method, its
//! wire path, call kind, parameters and return shape, built from syn's tree.
//!
//! Problems local to one method (receiver, generics, argument patterns, kinds) are reported here
//! as they are found, each spanned at the user's token; checks across methods are in `valid.rs`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{Attribute, FnArg, Ident, LitStr, Pat, ReceiverKind, ReturnType, Signature, Type};

use crate::attr::{Access, Errors, Form, method_attrs};
use crate::names::method_name;
pub use crate::types::last_segment;
use crate::types::{is_unit, result_parts, single_type_arg, source_parts};

/// The five kinds of call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Async,
    Sync,
    Source,
    Sink,
    Duplex,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Async => "async",
            Kind::Sync => "sync",
            Kind::Source => "source",
            Kind::Sink => "sink",
            Kind::Duplex => "duplex",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "async" => Kind::Async,
            "sync" => Kind::Sync,
            "source" => Kind::Source,
            "sink" => Kind::Sink,
            "duplex" => Kind::Duplex,
            _ => return None,
        })
    }

    pub fn variant(self) -> Ident {
        let name = match self {
            Kind::Async => "Async",
            Kind::Sync => "Sync",
            Kind::Source => "Source",
            Kind::Sink => "Sink",
            Kind::Duplex => "Duplex",
        };
        Ident::new(name, Span::call_site())
    }
}

/// How the method receives the plugin.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    /// `&self`
    Ref,
    /// `self: Arc<Self>`
    Arc,
}

/// What one parameter is.
pub enum Role {
    /// `&CallContext`: injected.
    Context,
    /// A positional JSON argument; `optional` is `T` of an `Option<T>` parameter.
    Arg { optional: Option<Box<Type>> },
    /// The caller's stream of items.
    Sink { item: TokenStream },
}

pub struct Param {
    pub ident: Ident,
    /// The name in messages (raw identifiers unrawed).
    pub name: String,
    pub ty: Type,
    pub role: Role,
}

/// What the method gives back, as its kind needs it. Types are tokens: either the user's own
/// types or projections through the runtime traits when a type alias hides them.
pub enum Shape {
    /// async and sync: a value, or a `Result` of one.
    Value {
        ok: TokenStream,
        err: Option<TokenStream>,
    },
    /// source and duplex: a `Source<T>` or a `Result` of one.
    Source {
        item: TokenStream,
        err: Option<TokenStream>,
    },
    /// sink: `()` or `Result<(), E>`.
    Done { err: Option<TokenStream> },
}

pub struct RpcMethod {
    pub ident: Ident,
    pub docs: Vec<Attribute>,
    pub path: Vec<String>,
    /// Where the wire name comes from (the `name = "..."` literal or the method name).
    pub path_span: Span,
    pub kind: Kind,
    pub asyncness: bool,
    pub receiver: Receiver,
    pub params: Vec<Param>,
    pub shape: Shape,
    pub access: Access,
}

impl RpcMethod {
    /// The path joined with dots, relative to the mount point.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// Reads one method; `None` if it is not exposed (no `self`, `#[rpc(skip)]`) or is invalid.
pub fn method(
    form: Form,
    sig: &Signature,
    attrs: &[Attribute],
    default_access: &Access,
    krate: &TokenStream,
    errors: &mut Errors,
) -> Option<RpcMethod> {
    let (rpc, permission) = method_attrs(attrs, errors);
    let Some(receiver) = sig.receiver() else {
        if form == Form::Remote {
            errors.spanned(
                &sig.ident,
                format!(
                    "`{}` has no `self`: every method of a `#[remote]` trait takes `&self`",
                    sig.ident
                ),
            );
        } else if rpc.attr.is_some() || permission.is_some() {
            errors.spanned(
                &sig.ident,
                format!(
                    "`{}` has no `self`: an RPC method takes `&self` or `self: Arc<Self>` (associated functions are never exposed)",
                    sig.ident
                ),
            );
        }
        return None;
    };
    if rpc.skip.is_some() {
        if let Some(p) = &permission {
            errors.spanned(
                &p.attr,
                "a skipped method is not exposed, so it has no permission",
            );
        }
        return None;
    }
    let mut ok = true;
    let receiver = match &receiver.kind {
        ReceiverKind::Reference(_, _, None) => Receiver::Ref,
        ReceiverKind::Reference(_, _, Some(_)) => {
            errors.spanned(
                receiver,
                "`&mut self` is not supported: calls run concurrently on a shared plugin; take `&self` and keep mutable state behind a lock",
            );
            ok = false;
            Receiver::Ref
        }
        ReceiverKind::Typed(_, ty) if last_segment(ty).is_some_and(|s| s.ident == "Arc") => {
            Receiver::Arc
        }
        ReceiverKind::Value => {
            errors.spanned(
                receiver,
                "an RPC method cannot take `self` by value: the plugin is shared by every call; take `&self` or `self: Arc<Self>`",
            );
            ok = false;
            Receiver::Ref
        }
        _ => {
            errors.spanned(
                receiver,
                "unsupported receiver: take `&self` or `self: Arc<Self>`",
            );
            ok = false;
            Receiver::Ref
        }
    };
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

    let mut params = Vec::new();
    let mut sink_seen = false;
    for input in sig.inputs.iter().skip(1) {
        let FnArg::Typed(pt) = input else { continue };
        let ident = match &*pt.pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => pi.ident.clone(),
            other => {
                errors.spanned(
                    other,
                    "use a plain name for each RPC argument (patterns are not supported): the name is used in error messages",
                );
                ok = false;
                continue;
            }
        };
        let Some(role) = param_role(&pt.ty, &mut sink_seen, errors) else {
            ok = false;
            continue;
        };
        params.push(Param {
            name: ident.unraw().to_string(),
            ident,
            ty: (*pt.ty).clone(),
            role,
        });
    }

    let ret: Option<&Type> = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(ty),
    };
    if let Some(Type::ImplTrait(t)) = ret {
        errors.spanned(
            t,
            "`impl Trait` cannot be returned by an RPC method: return a concrete type (`Source<T>` for a stream)",
        );
        return None;
    }
    let asyncness = sig.asyncness.is_some();
    let syntactic_source = ret.and_then(source_parts);
    let has_sink = params.iter().any(|p| matches!(p.role, Role::Sink { .. }));
    let inferred = match (has_sink, syntactic_source.is_some()) {
        (true, true) => Kind::Duplex,
        (true, false) => Kind::Sink,
        (false, true) => Kind::Source,
        (false, false) if asyncness => Kind::Async,
        (false, false) => Kind::Sync,
    };
    let ret_tokens = match ret {
        Some(t) => t.to_token_stream(),
        None => quote!(()),
    };
    let mut kind = inferred;
    let mut source_alias = false;
    if let Some(lit) = &rpc.kind {
        match Kind::parse(&lit.value()) {
            None => {
                errors.spanned(
                    lit,
                    format!(
                        "unknown kind `{}`, expected one of `async`, `sync`, `source`, `sink`, `duplex`",
                        lit.value()
                    ),
                );
                ok = false;
            }
            Some(wanted) => match reconcile(wanted, inferred) {
                Some((alias_source, alias_sink)) => {
                    kind = wanted;
                    source_alias = alias_source;
                    if alias_sink && !make_sink_alias(&mut params, krate, lit, errors) {
                        ok = false;
                    }
                }
                None => {
                    errors.spanned(
                        lit,
                        format!(
                            "`kind = \"{}\"` conflicts with the signature, which makes this a `{}` method{}",
                            wanted.as_str(),
                            inferred.as_str(),
                            explain(inferred)
                        ),
                    );
                    ok = false;
                }
            },
        }
    }

    let shape = match kind {
        Kind::Source | Kind::Duplex => {
            if source_alias {
                Shape::Source {
                    item: quote!(<#ret_tokens as #krate::__private::IntoSource>::Item),
                    err: None,
                }
            } else {
                let (item, err) = syntactic_source?;
                Shape::Source {
                    item: item.to_token_stream(),
                    err,
                }
            }
        }
        Kind::Sink => match ret {
            None => Shape::Done { err: None },
            Some(Type::Tuple(t)) if t.elems.is_empty() => Shape::Done { err: None },
            Some(ty) => match result_parts(ty, krate) {
                Some((ok_ty, _, err)) if ok_ty.as_ref().is_none_or(is_unit) => {
                    Shape::Done { err: Some(err) }
                }
                _ => {
                    errors.spanned(
                        ty,
                        "a sink method returns `()` or `Result<(), E>`: the caller receives only the end of the stream",
                    );
                    return None;
                }
            },
        },
        Kind::Async | Kind::Sync => match ret {
            None => Shape::Value {
                ok: quote!(()),
                err: None,
            },
            Some(ty) => match result_parts(ty, krate) {
                Some((_, ok_tokens, err)) => Shape::Value {
                    ok: ok_tokens,
                    err: Some(err),
                },
                None => Shape::Value {
                    ok: ty.to_token_stream(),
                    err: None,
                },
            },
        },
    };

    let (path, path_span) = wire_path(sig, &rpc.name, &rpc.namespace, errors)?;
    if !ok {
        return None;
    }
    let access = permission.map_or_else(|| default_access.clone(), |p| p.access);
    Some(RpcMethod {
        ident: sig.ident.clone(),
        docs: attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect(),
        path,
        path_span,
        kind,
        asyncness,
        receiver,
        params,
        shape,
        access,
    })
}

/// The role of a parameter, or `None` after reporting why it cannot be one.
fn param_role(ty: &Type, sink_seen: &mut bool, errors: &mut Errors) -> Option<Role> {
    match ty {
        Type::Reference(r) if last_segment(&r.elem).is_some_and(|s| s.ident == "CallContext") => {
            if r.mutability.is_some() {
                errors.spanned(ty, "take the call context as `&CallContext` (not `&mut`)");
                return None;
            }
            Some(Role::Context)
        }
        Type::Reference(_) => {
            errors.spanned(
                ty,
                "borrowed arguments are not supported: arguments are decoded into owned values (take `String` instead of `&str`, `Vec<T>` instead of `&[T]`)",
            );
            None
        }
        Type::ImplTrait(_) => {
            errors.spanned(
                ty,
                "`impl Trait` arguments cannot be decoded: name a concrete type",
            );
            None
        }
        _ => {
            let last = last_segment(ty);
            let name = last.map(|s| s.ident.to_string()).unwrap_or_default();
            match (name.as_str(), last.and_then(single_type_arg)) {
                ("CallContext", _) => {
                    errors.spanned(ty, "take the call context by reference: `&CallContext`");
                    None
                }
                ("Sink", Some(item)) => {
                    if *sink_seen {
                        errors.spanned(
                            ty,
                            "only one `Sink<…>` parameter per method: a sink receives one stream (a duplex takes one `Sink` and returns a `Source`)",
                        );
                        return None;
                    }
                    *sink_seen = true;
                    Some(Role::Sink {
                        item: item.to_token_stream(),
                    })
                }
                ("Option", Some(inner)) => Some(Role::Arg {
                    optional: Some(Box::new(inner.clone())),
                }),
                _ => Some(Role::Arg { optional: None }),
            }
        }
    }
}

/// Which aliases an override needs (`(source from the return type, sink from the last
/// argument)`), or `None` if it contradicts the signature.
fn reconcile(wanted: Kind, inferred: Kind) -> Option<(bool, bool)> {
    use Kind::*;
    match (wanted, inferred) {
        (w, i) if w == i => Some((false, false)),
        (Async | Sync, Async | Sync) => Some((false, false)),
        (Source, Async | Sync) => Some((true, false)),
        (Sink, Async | Sync) => Some((false, true)),
        (Duplex, Async | Sync) => Some((true, true)),
        (Duplex, Source) => Some((false, true)),
        (Duplex, Sink) => Some((true, false)),
        _ => None,
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

/// With `kind = "sink"` or `"duplex"` on a method whose sink is hidden by a type alias, the last
/// argument is the sink.
fn make_sink_alias(
    params: &mut [Param],
    krate: &TokenStream,
    lit: &LitStr,
    errors: &mut Errors,
) -> bool {
    let Some(last) = params
        .iter_mut()
        .rev()
        .find(|p| matches!(p.role, Role::Arg { .. }))
    else {
        errors.spanned(
            lit,
            "this kind receives a stream, but the method has no parameter for it (take a `Sink<T>`)",
        );
        return false;
    };
    let ty = &last.ty;
    last.role = Role::Sink {
        item: quote!(<#ty as #krate::__private::SinkItem>::Item),
    };
    true
}

/// The wire path and where it was written.
fn wire_path(
    sig: &Signature,
    name: &Option<LitStr>,
    namespace: &Option<LitStr>,
    errors: &mut Errors,
) -> Option<(Vec<String>, Span)> {
    let mut path = Vec::new();
    let mut valid = true;
    for lit in namespace.iter().chain(name.iter()) {
        let value = lit.value();
        if value.split('.').any(str::is_empty) {
            errors.spanned(
                lit,
                format!("`{value}` is not a valid method path: use names separated by single dots"),
            );
            valid = false;
        }
        path.extend(value.split('.').map(str::to_owned));
    }
    if name.is_none() {
        let wire = method_name(&sig.ident.unraw().to_string());
        if wire.is_empty() {
            errors.spanned(&sig.ident, "this method name has no letters to put on the wire: give one with `#[rpc(name = \"...\")]`");
            valid = false;
        }
        path.push(wire);
    }
    let span = name.as_ref().map_or_else(|| sig.ident.span(), LitStr::span);
    valid.then_some((path, span))
}
