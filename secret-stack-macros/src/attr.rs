//! The attributes the macros read: the arguments of `#[plugin(...)]` / `#[remote(...)]`, and the
//! per-method `#[rpc(...)]` and `#[permission(...)]`.
//!
//! Every problem becomes a `syn::Error` spanned at the offending token; parsing goes on after an
//! error so that the user sees all of them at once.

use proc_macro2::{Span, TokenStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta, Token};

/// Collects errors and combines them into one.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(e) => e.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn spanned<T: quote::ToTokens>(&mut self, tokens: T, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub fn into_result(self) -> Result<(), syn::Error> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Which macro is reading its arguments.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `#[plugin]` on an impl block.
    Plugin,
    /// `#[remote]` on a trait.
    Remote,
}

/// Who may call a method, as written by the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// In no permission group: only connections with full access (from `auth`).
    Master,
    /// In these groups (`"anonymous"` is the group JS gives unauthenticated peers).
    Groups(Vec<String>),
}

/// The arguments of `#[plugin(...)]` or `#[remote(...)]`.
pub struct PluginArgs {
    /// True if `name` was written, even if not as a string.
    pub name_given: bool,
    pub name: Option<LitStr>,
    pub version: Option<LitStr>,
    pub permission: Option<Access>,
    /// The string of `permission = "..."`, for checks (not set by the list form).
    pub permission_lit: Option<LitStr>,
    pub needs: Vec<Need>,
    pub krate: Option<syn::Path>,
    pub client: bool,
}

const PLUGIN_KEYS: &str = "`name`, `version`, `permission`, `needs`, `crate`, `client`";
const REMOTE_KEYS: &str = "`name`, `crate`";

impl PluginArgs {
    pub fn parse(tokens: TokenStream, form: Form, errors: &mut Errors) -> PluginArgs {
        let mut args = PluginArgs {
            name_given: false,
            name: None,
            version: None,
            permission: None,
            permission_lit: None,
            needs: Vec::new(),
            krate: None,
            client: true,
        };
        let metas = match syn::parse::Parser::parse2(
            Punctuated::<Meta, Token![,]>::parse_terminated,
            tokens,
        ) {
            Ok(m) => m,
            Err(e) => {
                errors.push(e);
                return args;
            }
        };
        let expected = match form {
            Form::Plugin => PLUGIN_KEYS,
            Form::Remote => REMOTE_KEYS,
        };
        let mut seen: Vec<String> = Vec::new();
        for meta in metas {
            let key = path_name(meta.path());
            let allowed = match form {
                Form::Plugin => PLUGIN_KEYS.contains(&format!("`{key}`")),
                Form::Remote => REMOTE_KEYS.contains(&format!("`{key}`")),
            };
            if !allowed {
                errors.spanned(
                    meta.path(),
                    format!("unknown argument `{key}`, expected one of {expected}"),
                );
                continue;
            }
            if seen.contains(&key) {
                errors.spanned(meta.path(), format!("`{key}` is given twice"));
                continue;
            }
            seen.push(key.clone());
            args.set(&key, &meta, errors);
        }
        args
    }

    /// Reads the value of one argument.
    fn set(&mut self, key: &str, meta: &Meta, errors: &mut Errors) {
        let args = self;
        match key {
            "name" => {
                args.name_given = true;
                args.name = string_value(meta, errors);
            }
            "version" => args.version = string_value(meta, errors),
            "permission" => match meta {
                Meta::List(list) => {
                    let metas =
                        list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated);
                    match metas {
                        Ok(metas) => args.permission = permission_list(list, &metas, errors),
                        Err(e) => errors.push(e),
                    }
                }
                _ => {
                    if let Some(s) = string_value(meta, errors) {
                        args.permission = Some(match s.value().as_str() {
                            "master" => Access::Master,
                            "" => {
                                errors.spanned(&s, "a permission group name cannot be empty");
                                return;
                            }
                            group => Access::Groups(vec![group.to_owned()]),
                        });
                        args.permission_lit = Some(s);
                    }
                }
            },
            "needs" => args.needs = needs(meta, errors),
            "crate" => {
                if let Some(s) = string_value(meta, errors) {
                    match s.parse::<syn::Path>() {
                        Ok(p) => args.krate = Some(p),
                        Err(_) => errors.spanned(
                            &s,
                            "expected a path to the secret_stack crate, e.g. `crate = \"::my_app::secret_stack\"`",
                        ),
                    }
                }
            }
            "client" => match meta {
                Meta::NameValue(nv) => match &nv.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Bool(b), ..
                    }) => args.client = b.value,
                    other => errors.spanned(other, "expected `client = true` or `client = false`"),
                },
                other => errors.spanned(other, "expected `client = true` or `client = false`"),
            },
            _ => {}
        }
    }
}

/// What `#[rpc(...)]` says about one method.
#[derive(Default)]
pub struct RpcAttr {
    /// The `#[rpc]` attribute itself, for spans.
    pub attr: Option<Attribute>,
    pub name: Option<LitStr>,
    pub namespace: Option<LitStr>,
    pub kind: Option<LitStr>,
    pub skip: Option<Span>,
}

/// What `#[permission(...)]` says about one method.
pub struct PermissionAttr {
    pub attr: Attribute,
    pub access: Access,
}

const RPC_KEYS: &str = "`name`, `namespace`, `kind`, `skip`";
const PERMISSION_KEYS: &str = "`anonymous`, `master`, `group = \"...\"`";

/// True for the attributes this crate reads (and removes from the emitted code).
pub fn is_ours(attr: &Attribute) -> bool {
    attr.path().is_ident("rpc") || attr.path().is_ident("permission")
}

/// Reads the `#[rpc]` and `#[permission]` attributes of one method.
pub fn method_attrs(attrs: &[Attribute], errors: &mut Errors) -> (RpcAttr, Option<PermissionAttr>) {
    let mut rpc = RpcAttr::default();
    let mut permission: Option<PermissionAttr> = None;
    for attr in attrs {
        if attr.path().is_ident("rpc") {
            if rpc.attr.is_some() {
                errors.spanned(attr, "only one `#[rpc(...)]` per method");
                continue;
            }
            rpc.attr = Some(attr.clone());
            parse_rpc(attr, &mut rpc, errors);
        } else if attr.path().is_ident("permission") {
            if permission.is_some() {
                errors.spanned(
                    attr,
                    "only one `#[permission(...)]` per method; list several groups in it",
                );
                continue;
            }
            if let Some(access) = parse_permission(attr, errors) {
                permission = Some(PermissionAttr {
                    attr: attr.clone(),
                    access,
                });
            }
        }
    }
    (rpc, permission)
}

fn parse_rpc(attr: &Attribute, rpc: &mut RpcAttr, errors: &mut Errors) {
    let metas = match attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
        Ok(m) => m,
        Err(e) => return errors.push(e),
    };
    for meta in metas {
        let key = path_name(meta.path());
        let slot = match key.as_str() {
            "name" => &mut rpc.name,
            "namespace" => &mut rpc.namespace,
            "kind" => &mut rpc.kind,
            "skip" => {
                if let Meta::Path(p) = &meta {
                    rpc.skip = Some(p.span());
                } else {
                    errors.spanned(&meta, "`skip` takes no value: write `#[rpc(skip)]`");
                }
                continue;
            }
            _ => {
                errors.spanned(
                    meta.path(),
                    format!("unknown argument `{key}`, expected one of {RPC_KEYS}"),
                );
                continue;
            }
        };
        if slot.is_some() {
            errors.spanned(meta.path(), format!("`{key}` is given twice"));
            continue;
        }
        *slot = string_value(&meta, errors);
    }
    if let Some(skip) = rpc.skip
        && (rpc.name.is_some() || rpc.namespace.is_some() || rpc.kind.is_some())
    {
        errors.at(
            skip,
            "`skip` cannot be combined with other arguments: a skipped method is not exposed",
        );
    }
}

fn parse_permission(attr: &Attribute, errors: &mut Errors) -> Option<Access> {
    let metas = match attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
        Ok(m) => m,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    permission_list(attr, &metas, errors)
}

/// The access a permission list (`anonymous`, `master`, `group = "..."`) gives; `whole` is the
/// list as written, for spans.
fn permission_list<T: quote::ToTokens>(
    whole: &T,
    metas: &Punctuated<Meta, Token![,]>,
    errors: &mut Errors,
) -> Option<Access> {
    let mut master: Option<Span> = None;
    let mut groups: Vec<(String, Span)> = Vec::new();
    for meta in metas {
        let key = path_name(meta.path());
        match (key.as_str(), meta) {
            ("master", Meta::Path(p)) => master = Some(p.span()),
            ("anonymous", Meta::Path(p)) => groups.push(("anonymous".to_owned(), p.span())),
            ("group", Meta::NameValue(_)) => {
                if let Some(s) = string_value(meta, errors) {
                    match s.value().as_str() {
                        "" => errors.spanned(&s, "a permission group name cannot be empty"),
                        "master" => errors.spanned(
                            &s,
                            "`master` is not a group (full access comes from `auth`): write `#[permission(master)]`",
                        ),
                        g => groups.push((g.to_owned(), s.span())),
                    }
                }
            }
            ("master" | "anonymous", other) => errors.spanned(
                other,
                format!("`{key}` takes no value: write `#[permission({key})]`"),
            ),
            ("group", other) => errors.spanned(other, "expected `group = \"name\"`"),
            _ => errors.spanned(
                meta.path(),
                format!(
                    "unknown permission `{key}`, expected one of {PERMISSION_KEYS}{}",
                    did_you_mean(&key)
                ),
            ),
        }
    }
    if metas.is_empty() {
        errors.spanned(
            whole,
            format!("`#[permission]` needs one of {PERMISSION_KEYS}"),
        );
        return None;
    }
    if master.is_some()
        && let Some((_, other)) = groups.first()
    {
        errors.at(
            *other,
            "`master` means \"in no group\" and cannot be combined with groups",
        );
        return None;
    }
    if master.is_some() {
        return Some(Access::Master);
    }
    let mut names: Vec<String> = Vec::new();
    for (g, span) in groups {
        if names.contains(&g) {
            errors.at(span, format!("group `{g}` is listed twice"));
        } else {
            names.push(g);
        }
    }
    Some(Access::Groups(names))
}

/// The string literal of `key = "value"`.
fn string_value(meta: &Meta, errors: &mut Errors) -> Option<LitStr> {
    let key = path_name(meta.path());
    match meta {
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Some(s.clone()),
            other => {
                errors.spanned(other, format!("expected a string: `{key} = \"...\"`"));
                None
            }
        },
        other => {
            errors.spanned(other, format!("expected a string: `{key} = \"...\"`"));
            None
        }
    }
}

/// The string literals of `key = ["a", "b"]`.
/// A plugin named in `needs`: by its name, or by its `#[plugin]` type.
pub enum Need {
    /// `"name"`
    Name(LitStr),
    /// `Type` (a path)
    Type(syn::Path),
}

/// `needs = ["a", "b"]` or `needs(TypeA, "b")`.
fn needs(meta: &Meta, errors: &mut Errors) -> Vec<Need> {
    let Meta::List(list) = meta else {
        return string_list(meta, errors)
            .into_iter()
            .map(Need::Name)
            .collect();
    };
    let parsed = list.parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated);
    let items = match parsed {
        Ok(items) => items,
        Err(e) => {
            errors.push(e);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => out.push(Need::Name(s)),
            Expr::Path(p) if p.qself.is_none() => out.push(Need::Type(p.path)),
            other => errors.spanned(
                other,
                "expected a `#[plugin]` type or a plugin name: `needs(Log, \"blobs\")`",
            ),
        }
    }
    out
}

fn string_list(meta: &Meta, errors: &mut Errors) -> Vec<LitStr> {
    let key = path_name(meta.path());
    let hint = format!("expected a list of strings: `{key} = [\"...\"]`");
    let Meta::NameValue(nv) = meta else {
        errors.spanned(meta, hint);
        return Vec::new();
    };
    let Expr::Array(array) = &nv.value else {
        errors.spanned(&nv.value, hint);
        return Vec::new();
    };
    let mut out = Vec::new();
    for elem in &array.elems {
        match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => out.push(s.clone()),
            other => errors.spanned(other, &hint),
        }
    }
    out
}

fn path_name(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// `" (did you mean `anonymous`?)"` when `word` is one edit away from a permission keyword.
pub fn did_you_mean(word: &str) -> String {
    near_keyword(word).map_or_else(String::new, |k| format!(" (did you mean `{k}`?)"))
}

/// The keyword (`anonymous` or `master`) `word` is one edit away from, if it is not one of them.
pub fn near_keyword(word: &str) -> Option<&'static str> {
    ["anonymous", "master"]
        .into_iter()
        .find(|k| *k != word && (one_edit(word, k) || word.eq_ignore_ascii_case(k)))
}

/// True if one insertion, deletion, substitution or swap of neighbours turns `a` into `b`.
fn one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    match (a.len(), b.len()) {
        (x, y) if x == y => {
            a.len() <= 1 && b.len() <= 1
                || a[1..] == b[1..]
                || (a.len() >= 2 && a[0] == b[1] && a[1] == b[0] && a[2..] == b[2..])
        }
        (x, y) if x + 1 == y => a == &b[1..],
        (x, y) if y + 1 == x => &a[1..] == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_of_the_keywords() {
        for typo in [
            "anonymus",
            "anonymouss",
            "anonymou",
            "anonymuos",
            "Anonymous",
            "mastr",
            "maser",
            "mater",
            "nmaster",
        ] {
            assert!(near_keyword(typo).is_some(), "{typo}");
        }
        for name in [
            "anonymous",
            "master",
            "friends",
            "anon",
            "admin",
            "masters-of-puppets",
        ] {
            assert_eq!(near_keyword(name), None, "{name}");
        }
        assert_eq!(near_keyword("anonymos"), Some("anonymous"));
        assert_eq!(near_keyword("mastre"), Some("master"));
    }
}
