//! The macro's view of its input as written, built from syn's tree only: the macro's arguments
//! and, per method of the block, its attributes, how it takes `self`, its parameters and return
//! type, each classified by shape.
//!
//! Nothing is judged here, except the syntax of this crate's own attributes (`attr.rs`):
//! `valid.rs` checks the input and reports every problem at the user's token, and `model.rs`
//! turns a checked input into what the generators emit.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::{Attribute, FnArg, Ident, ImplItem, LitStr, Pat, ReceiverKind, ReturnType, Signature};
use syn::{TraitItem, Type};

use crate::attr::{Errors, Form, PermissionAttr, PluginArgs, RpcAttr, method_attrs};
use crate::names::method_name;
use crate::types::{last_segment, single_type_arg, source_parts};

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

    pub fn parse(s: &str) -> Option<Kind> {
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

/// How a method takes `self`, as written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SelfArg {
    /// No `self`: an associated function.
    Missing,
    /// `&self`
    Ref,
    /// `&mut self`
    MutRef,
    /// `self: Arc<Self>` (any `Arc`-named type)
    Arc,
    /// `self`
    Value,
    /// `self: Box<Self>` and the like.
    Other,
}

/// What a parameter's type is, by its shape.
pub enum ParamType {
    /// `&CallContext`
    Context,
    /// `&mut CallContext`
    MutContext,
    /// `CallContext`, by value.
    ContextByValue,
    /// Any other reference.
    Borrowed,
    /// `impl Trait`
    ImplTrait,
    /// `Sink<T>`, with `T`.
    Sink(Type),
    /// `Option<T>`, with `T`.
    Option(Type),
    /// Anything else: an argument decoded as it is.
    Plain,
}

pub struct Param {
    /// The parameter's name, or `None` if it is a pattern.
    pub ident: Option<Ident>,
    pub pat: Pat,
    pub ty: Type,
    pub class: ParamType,
}

/// One method (or trait method) of the input.
pub struct Method {
    pub sig: Signature,
    pub docs: Vec<Attribute>,
    pub rpc: RpcAttr,
    pub permission: Option<PermissionAttr>,
    pub self_arg: SelfArg,
    pub params: Vec<Param>,
    pub ret: Option<Type>,
}

/// What an item of the block that is not a method carries: attributes of this crate are
/// misplaced there (in an impl block), or the item is not allowed at all (in a remote trait).
pub struct OtherItem {
    pub attrs: Vec<Attribute>,
    pub tokens: TokenStream,
}

/// The whole input of `#[plugin]` or `#[remote]`.
pub struct Input {
    pub form: Form,
    pub args: PluginArgs,
    pub methods: Vec<Method>,
    pub others: Vec<OtherItem>,
}

impl Input {
    /// Reads an impl block's methods.
    pub fn from_impl(args: PluginArgs, imp: &syn::ItemImpl, errors: &mut Errors) -> Input {
        let mut methods = Vec::new();
        let mut others = Vec::new();
        for item in &imp.items {
            let attrs = match item {
                ImplItem::Fn(f) => {
                    methods.push(Method::from_syn(&f.sig, &f.attrs, errors));
                    continue;
                }
                ImplItem::Const(c) => &c.attrs,
                ImplItem::Type(t) => &t.attrs,
                ImplItem::Macro(m) => &m.attrs,
                _ => continue,
            };
            others.push(OtherItem {
                attrs: attrs.clone(),
                tokens: TokenStream::new(),
            });
        }
        Input {
            form: Form::Plugin,
            args,
            methods,
            others,
        }
    }

    /// Reads a trait's methods.
    pub fn from_trait(args: PluginArgs, tr: &syn::ItemTrait, errors: &mut Errors) -> Input {
        let mut methods = Vec::new();
        let mut others = Vec::new();
        for item in &tr.items {
            match item {
                TraitItem::Fn(f) => methods.push(Method::from_syn(&f.sig, &f.attrs, errors)),
                other => others.push(OtherItem {
                    attrs: Vec::new(),
                    tokens: quote::ToTokens::to_token_stream(other),
                }),
            }
        }
        Input {
            form: Form::Remote,
            args,
            methods,
            others,
        }
    }
}

impl Method {
    /// Reads one method's signature and attributes.
    pub fn from_syn(sig: &Signature, attrs: &[Attribute], errors: &mut Errors) -> Method {
        let (rpc, permission) = method_attrs(attrs, errors);
        let params = sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(pt) => Some(Param {
                    ident: match &*pt.pat {
                        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                            Some(pi.ident.clone())
                        }
                        _ => None,
                    },
                    pat: (*pt.pat).clone(),
                    ty: (*pt.ty).clone(),
                    class: ParamType::of(&pt.ty),
                }),
                FnArg::Receiver(_) => None,
            })
            .collect();
        Method {
            sig: sig.clone(),
            docs: attrs
                .iter()
                .filter(|a| a.path().is_ident("doc"))
                .cloned()
                .collect(),
            rpc,
            permission,
            self_arg: SelfArg::of(sig),
            params,
            ret: match &sig.output {
                ReturnType::Default => None,
                ReturnType::Type(_, ty) => Some((**ty).clone()),
            },
        }
    }

    /// Whether the method is an RPC method: it takes `self` and is not skipped.
    pub fn exposed(&self) -> bool {
        self.self_arg != SelfArg::Missing && self.rpc.skip.is_none()
    }

    pub fn has_sink(&self) -> bool {
        self.params
            .iter()
            .any(|p| matches!(p.class, ParamType::Sink(_)))
    }

    /// The kind the signature makes: a `Sink` parameter and/or a `Source` return, else by
    /// `async`.
    pub fn inferred_kind(&self) -> Kind {
        let source = self.ret.as_ref().and_then(source_parts).is_some();
        match (self.has_sink(), source) {
            (true, true) => Kind::Duplex,
            (true, false) => Kind::Sink,
            (false, true) => Kind::Source,
            (false, false) if self.sig.asyncness.is_some() => Kind::Async,
            (false, false) => Kind::Sync,
        }
    }

    /// The wire path as written (`namespace`, then `name` split at dots, or the camelCase of the
    /// method name), and where it was written.
    pub fn wire_path(&self) -> (Vec<String>, Span) {
        let mut path = Vec::new();
        for lit in self.rpc.namespace.iter().chain(self.rpc.name.iter()) {
            path.extend(lit.value().split('.').map(str::to_owned));
        }
        if self.rpc.name.is_none() {
            path.push(method_name(&self.sig.ident.unraw().to_string()));
        }
        let span = self
            .rpc
            .name
            .as_ref()
            .map_or_else(|| self.sig.ident.span(), LitStr::span);
        (path, span)
    }
}

impl SelfArg {
    fn of(sig: &Signature) -> SelfArg {
        let Some(receiver) = sig.receiver() else {
            return SelfArg::Missing;
        };
        match &receiver.kind {
            ReceiverKind::Reference(_, _, None) => SelfArg::Ref,
            ReceiverKind::Reference(_, _, Some(_)) => SelfArg::MutRef,
            ReceiverKind::Typed(_, ty) if last_segment(ty).is_some_and(|s| s.ident == "Arc") => {
                SelfArg::Arc
            }
            ReceiverKind::Value => SelfArg::Value,
            _ => SelfArg::Other,
        }
    }
}

impl ParamType {
    fn of(ty: &Type) -> ParamType {
        match ty {
            Type::Reference(r) if is_context(&r.elem) => match r.mutability {
                Some(_) => ParamType::MutContext,
                None => ParamType::Context,
            },
            Type::Reference(_) => ParamType::Borrowed,
            Type::ImplTrait(_) => ParamType::ImplTrait,
            _ if is_context(ty) => ParamType::ContextByValue,
            _ => {
                let last = last_segment(ty);
                match (last, last.and_then(single_type_arg)) {
                    (Some(s), Some(item)) if s.ident == "Sink" => ParamType::Sink(item.clone()),
                    (Some(s), Some(inner)) if s.ident == "Option" => {
                        ParamType::Option(inner.clone())
                    }
                    _ => ParamType::Plain,
                }
            }
        }
    }
}

fn is_context(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "CallContext")
}

/// The kind a method is called with, and which of its stream types hide behind aliases.
#[derive(Clone, Copy)]
pub struct KindPlan {
    pub kind: Kind,
    /// The return type is the source (`kind = "source"` or `"duplex"` on an alias).
    pub source_alias: bool,
    /// The last argument is the sink (`kind = "sink"` or `"duplex"` on an alias).
    pub sink_alias: bool,
}

/// Why `#[rpc(kind = "...")]` cannot be followed.
pub enum KindProblem {
    /// Not one of the five kinds.
    Unknown(LitStr),
    /// A kind the signature contradicts.
    Conflict {
        lit: LitStr,
        wanted: Kind,
        inferred: Kind,
    },
}

impl Method {
    /// The kind: inferred from the signature, or as `#[rpc(kind = "...")]` overrides it.
    pub fn kind_plan(&self) -> Result<KindPlan, KindProblem> {
        let inferred = self.inferred_kind();
        let plain = KindPlan {
            kind: inferred,
            source_alias: false,
            sink_alias: false,
        };
        let Some(lit) = &self.rpc.kind else {
            return Ok(plain);
        };
        let Some(wanted) = Kind::parse(&lit.value()) else {
            return Err(KindProblem::Unknown(lit.clone()));
        };
        match reconcile(wanted, inferred) {
            Some((source_alias, sink_alias)) => Ok(KindPlan {
                kind: wanted,
                source_alias,
                sink_alias,
            }),
            None => Err(KindProblem::Conflict {
                lit: lit.clone(),
                wanted,
                inferred,
            }),
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
