//! What the generators emit from: the plugin with its mount name, and per RPC method its wire
//! path, call kind, parameters and return shape. Built from an input `valid.rs` has checked, so
//! building cannot fail; a method that could not be built is simply left out.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::ext::IdentExt;
use syn::{Attribute, Ident, LitStr, Type};

use crate::ast::{Input, Kind, KindPlan, Method, ParamType, SelfArg};
use crate::attr::{Access, Form, Need, PluginArgs};
use crate::names;
use crate::types::{is_unit, result_parts, source_parts};

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
    pub kind: Kind,
    pub asyncness: bool,
    pub receiver: Receiver,
    pub params: Vec<Param>,
    pub shape: Shape,
    pub access: Access,
    /// The declared return type (`()` when there is none).
    pub ret: TokenStream,
}

impl RpcMethod {
    /// The permission groups that may call the method (none: master only).
    pub fn groups(&self) -> &[String] {
        match &self.access {
            Access::Master => &[],
            Access::Groups(groups) => groups,
        }
    }

    /// The path joined with dots, relative to the mount point.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }

    /// The model of a checked method; `None` if it is not exposed (or, checks having failed,
    /// cannot be built).
    pub fn from_ast(m: &Method, default: &Access, krate: &TokenStream) -> Option<RpcMethod> {
        if !m.exposed() {
            return None;
        }
        let plan = m.kind_plan().ok()?;
        let (path, _) = m.wire_path();
        Some(RpcMethod {
            ident: m.sig.ident.clone(),
            docs: m.docs.clone(),
            path,
            kind: plan.kind,
            asyncness: m.sig.asyncness.is_some(),
            receiver: match m.self_arg {
                SelfArg::Arc => Receiver::Arc,
                _ => Receiver::Ref,
            },
            ret: m
                .ret
                .as_ref()
                .map_or_else(|| quote!(()), ToTokens::to_token_stream),
            params: params(m, plan, krate)?,
            shape: shape(m, plan, krate)?,
            access: m
                .permission
                .as_ref()
                .map_or_else(|| default.clone(), |p| p.access.clone()),
        })
    }
}

fn params(m: &Method, plan: KindPlan, krate: &TokenStream) -> Option<Vec<Param>> {
    let mut params = Vec::new();
    for p in &m.params {
        let ident = p.ident.clone()?;
        let role = match &p.class {
            ParamType::Context => Role::Context,
            ParamType::Sink(item) => Role::Sink {
                item: item.to_token_stream(),
            },
            ParamType::Option(inner) => Role::Arg {
                optional: Some(Box::new(inner.clone())),
            },
            ParamType::Plain => Role::Arg { optional: None },
            _ => return None,
        };
        params.push(Param {
            name: ident.unraw().to_string(),
            ident,
            ty: p.ty.clone(),
            role,
        });
    }
    if plan.sink_alias {
        // The sink hides behind a type alias: the last argument is it.
        let last = params
            .iter_mut()
            .rev()
            .find(|p| matches!(p.role, Role::Arg { .. }))?;
        let ty = &last.ty;
        last.role = Role::Sink {
            item: quote!(<#ty as #krate::__private::SinkItem>::Item),
        };
    }
    Some(params)
}

fn shape(m: &Method, plan: KindPlan, krate: &TokenStream) -> Option<Shape> {
    let ret = m.ret.as_ref();
    Some(match plan.kind {
        Kind::Source | Kind::Duplex if plan.source_alias => {
            let ret = ret.map_or_else(|| quote!(()), ToTokens::to_token_stream);
            Shape::Source {
                item: quote!(<#ret as #krate::__private::IntoSource>::Item),
                err: None,
            }
        }
        Kind::Source | Kind::Duplex => {
            let (item, err) = source_parts(ret?)?;
            Shape::Source {
                item: item.to_token_stream(),
                err,
            }
        }
        Kind::Sink => match ret {
            None => Shape::Done { err: None },
            Some(ty) if is_unit(ty) => Shape::Done { err: None },
            Some(ty) => match result_parts(ty, krate)? {
                (ok, _, err) if ok.as_ref().is_none_or(is_unit) => Shape::Done { err: Some(err) },
                _ => return None,
            },
        },
        Kind::Async | Kind::Sync => match ret {
            None => Shape::Value {
                ok: quote!(()),
                err: None,
            },
            Some(ty) => match result_parts(ty, krate) {
                Some((_, ok, err)) => Shape::Value { ok, err: Some(err) },
                None => Shape::Value {
                    ok: ty.to_token_stream(),
                    err: None,
                },
            },
        },
    })
}

/// Everything the generators need about the plugin (or remote API), checked.
pub struct Model {
    /// The path of the runtime crate (`::secret_stack` unless `crate = "..."`).
    pub krate: TokenStream,
    /// The plugin's name as JS knows it.
    pub name: String,
    /// Its mount name (camelCase of the name).
    pub mount: String,
    pub version: TokenStream,
    /// The needed plugins' names, as expressions (a literal, or `<Type as PluginType>::NAME`).
    pub needs: Vec<TokenStream>,
    /// The client's name, or `None` with `client = false`.
    pub client: Option<Ident>,
    /// Method errors must travel both ways (`TypedError`): a `#[plugin]` with its client.
    pub typed_errors: bool,
    pub client_vis: TokenStream,
    pub methods: Vec<RpcMethod>,
}

impl Model {
    /// The model of an input, for a type named `type_ident`: its exposed methods that passed
    /// the checks (`passed`, one flag per method of the input).
    pub fn new(
        input: &Input,
        passed: &[bool],
        type_ident: &Ident,
        client_vis: TokenStream,
    ) -> Model {
        let args = &input.args;
        let krate = krate(args);
        let default = args.permission.clone().unwrap_or(Access::Master);
        let methods = input
            .methods
            .iter()
            .zip(passed)
            .filter(|(_, passed)| **passed)
            .filter_map(|(m, _)| RpcMethod::from_ast(m, &default, &krate))
            .collect();
        let name = args.name.as_ref().map(LitStr::value).unwrap_or_default();
        Model {
            mount: names::mount_name(&name),
            name,
            version: match &args.version {
                Some(v) => v.to_token_stream(),
                None => quote!(::core::env!("CARGO_PKG_VERSION")),
            },
            needs: args.needs.iter().map(|n| need(n, &krate)).collect(),
            client: args.client.then(|| format_ident!("{}Client", type_ident)),
            typed_errors: args.client && input.form == Form::Plugin,
            client_vis,
            methods,
            krate,
        }
    }

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

/// A needed plugin's name as a constant expression, spanned at the user's type so that a type
/// that is not a plugin is reported there.
fn need(need: &Need, krate: &TokenStream) -> TokenStream {
    match need {
        Need::Name(lit) => lit.to_token_stream(),
        Need::Type(path) => {
            let span = syn::spanned::Spanned::span(path);
            quote::quote_spanned!(span=> <#path as #krate::__private::PluginType>::NAME)
        }
    }
}

fn krate(args: &PluginArgs) -> TokenStream {
    match &args.krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::secret_stack),
    }
}
