//! Per-connection permissions: muxrpc's `{allow, deny}` lists, matched by path prefix.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::RemoteError;

/// What a peer may call: `allow` (absent = everything) minus `deny` (absent = nothing).
///
/// Entries are dotted paths; an entry covers the node it names and everything below it
/// (`"blobs"` covers `blobs.get`, but `"blobs.get"` does not cover `blobs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// The allow-list; `None` allows everything not denied.
    pub allow: Option<Vec<String>>,
    /// The deny-list; `None` denies nothing.
    pub deny: Option<Vec<String>>,
}

impl Permissions {
    /// Full access (`{allow: null, deny: null}`), what a master gets.
    pub fn full() -> Self {
        Permissions {
            allow: None,
            deny: None,
        }
    }

    /// Only the listed paths.
    pub fn allow<I: IntoIterator<Item = S>, S: Into<String>>(paths: I) -> Self {
        Permissions {
            allow: Some(paths.into_iter().map(Into::into).collect()),
            deny: None,
        }
    }

    /// Checks a call to `path`, answering with the exact JS error message on refusal (which
    /// [`PermissionRefusal::from_message`] reads back).
    pub fn check<S: AsRef<str>>(&self, path: &[S]) -> Result<(), RemoteError> {
        let covered = |list: &Vec<String>| list.iter().any(|entry| covers(entry, path));
        let rule = if self.allow.as_ref().is_some_and(|allow| !covered(allow)) {
            RefusalRule::NotAllowed
        } else if self.deny.as_ref().is_some_and(covered) {
            RefusalRule::Disallowed
        } else {
            return Ok(());
        };
        let method = path.iter().map(|p| p.as_ref().to_owned()).collect();
        Err(RemoteError::new(
            PermissionRefusal { method, rule }.js_message(),
        ))
    }
}

/// Permission groups (`"anonymous"`, or any group an `auth` hook hands out) and the methods each
/// may call, in the order the groups were first named (JS key order): what an app merges from
/// its core and its plugins' methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionTable {
    groups: Vec<(String, Permissions)>,
}

impl PermissionTable {
    /// No groups.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `group` call the method (or namespace) at the dotted `path`; the group is created
    /// after the existing ones if new, and a path already allowed is not repeated.
    pub fn allow(&mut self, group: &str, path: String) {
        let at = match self.groups.iter().position(|(g, _)| g == group) {
            Some(at) => at,
            None => {
                let empty = Permissions::allow(Vec::<String>::new());
                self.groups.push((group.to_owned(), empty));
                self.groups.len() - 1
            }
        };
        let list = self.groups[at].1.allow.get_or_insert_with(Vec::new);
        if !list.contains(&path) {
            list.push(path);
        }
    }

    /// What `group` may call, if it is in the table.
    pub fn get(&self, group: &str) -> Option<&Permissions> {
        self.groups
            .iter()
            .find_map(|(g, p)| (g == group).then_some(p))
    }

    /// The groups, in order.
    pub fn groups(&self) -> &[(String, Permissions)] {
        &self.groups
    }

    /// The table as JS's `permissions` object (`{"anonymous": {"allow": [...]}}`), leaving out
    /// absent lists.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (group, perms) in &self.groups {
            let mut entry = serde_json::Map::new();
            if let Some(allow) = &perms.allow {
                entry.insert("allow".into(), allow.clone().into());
            }
            if let Some(deny) = &perms.deny {
                entry.insert("deny".into(), deny.clone().into());
            }
            out.insert(group.clone(), serde_json::Value::Object(entry));
        }
        serde_json::Value::Object(out)
    }
}

/// A call refused for the caller's permissions, read from the error a peer answered with.
///
/// On the wire it is a plain JS error whose message is `method:board,post is not in list of
/// allowed methods` (or `... is on list of disallowed methods`), exactly as JS muxrpc sends it;
/// [`RpcError::permission_refusal`](super::RpcError::permission_refusal) finds it in any error,
/// from a JS peer or ours. Its `Display` names the method with dots and says what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRefusal {
    /// The method's path, e.g. `["board", "post"]`.
    pub method: Vec<String>,
    /// Which list refused it.
    pub rule: RefusalRule,
}

/// Which of a connection's permission lists refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalRule {
    /// The connection has an allow-list and the method is not on it (what anonymous peers meet).
    NotAllowed,
    /// The method is on the connection's deny-list.
    Disallowed,
}

impl RefusalRule {
    /// The end of JS's message for this rule.
    fn js_tail(self) -> &'static str {
        match self {
            RefusalRule::NotAllowed => " is not in list of allowed methods",
            RefusalRule::Disallowed => " is on list of disallowed methods",
        }
    }
}

impl PermissionRefusal {
    /// Reads JS's refusal text (`method:<path joined with commas><rule>`), or `None` for any other
    /// message.
    pub fn from_message(message: &str) -> Option<Self> {
        let rest = message.strip_prefix("method:")?;
        [RefusalRule::NotAllowed, RefusalRule::Disallowed]
            .into_iter()
            .find_map(|rule| {
                let path = rest.strip_suffix(rule.js_tail())?;
                let method: Vec<String> = path.split(',').map(str::to_owned).collect();
                let named = method.iter().all(|name| !name.is_empty());
                named.then_some(PermissionRefusal { method, rule })
            })
    }

    /// The method as a dotted path, e.g. `board.post`.
    pub fn dotted(&self) -> String {
        self.method.join(".")
    }

    /// The message JS muxrpc sends for this refusal, byte for byte.
    pub fn js_message(&self) -> String {
        format!("method:{}{}", join(&self.method), self.rule.js_tail())
    }
}

impl fmt::Display for PermissionRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let which = match self.rule {
            RefusalRule::NotAllowed => "is not among the methods this connection may call",
            RefusalRule::Disallowed => "is among the methods this connection may not call",
        };
        write!(
            f,
            "permission denied: `{}` {which}; it needs more than the peer's `anonymous` rights: our \
             key as one of its `master` keys, or a group that allows it, granted by its auth hook",
            self.dotted()
        )
    }
}

impl std::error::Error for PermissionRefusal {}

/// True if the dotted `entry` names `path` or one of its ancestors.
fn covers<S: AsRef<str>>(entry: &str, path: &[S]) -> bool {
    let mut parts = entry.split('.');
    let mut matched = 0;
    for p in path {
        match parts.next() {
            None => return matched > 0,
            Some(e) if e == p.as_ref() => matched += 1,
            Some(_) => return false,
        }
    }
    parts.next().is_none() && matched > 0
}

/// A method path as JS prints it in error messages: the names joined with commas.
pub(crate) fn join<S: AsRef<str>>(path: &[S]) -> String {
    path.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_keep_group_order_and_union_paths() {
        let mut t = PermissionTable::new();
        t.allow("zeta", "a".into());
        t.allow("anonymous", "manifest".into());
        t.allow("zeta", "b".into());
        t.allow("zeta", "a".into());
        assert_eq!(
            serde_json::to_string(&t.to_json()).unwrap(),
            r#"{"zeta":{"allow":["a","b"]},"anonymous":{"allow":["manifest"]}}"#
        );
        assert_eq!(t.get("zeta"), Some(&Permissions::allow(["a", "b"])));
        assert_eq!(t.get("friends"), None);
    }

    #[test]
    fn prefix_rule() {
        assert!(covers("blobs", &["blobs", "get"]));
        assert!(covers("blobs.get", &["blobs", "get"]));
        assert!(!covers("blobs.get", &["blobs"]));
        assert!(!covers("blob", &["blobs"]));
        assert!(!covers("blobs.get", &["blobs", "has"]));
    }

    #[test]
    fn refusals_read_back_from_the_js_text_and_nothing_else() {
        let p = Permissions::allow(["board.read"]);
        let wire = p.check(&["board", "post"]).unwrap_err();
        assert_eq!(
            wire.message,
            "method:board,post is not in list of allowed methods"
        );
        let refusal = PermissionRefusal::from_message(&wire.message);
        assert_eq!(
            refusal,
            Some(PermissionRefusal {
                method: vec!["board".into(), "post".into()],
                rule: RefusalRule::NotAllowed,
            })
        );
        let refusal = refusal.unwrap_or_else(|| unreachable!());
        assert_eq!(refusal.js_message(), wire.message);
        assert_eq!(
            refusal.to_string(),
            "permission denied: `board.post` is not among the methods this connection may call; \
             it needs more than the peer's `anonymous` rights: our key as one of its `master` keys, \
             or a group that allows it, granted by its auth hook"
        );
        let denied =
            PermissionRefusal::from_message("method:secret is on list of disallowed methods");
        assert_eq!(
            denied.map(|r| (r.dotted(), r.rule)),
            Some(("secret".into(), RefusalRule::Disallowed))
        );
        for other in [
            "no async:board.post",
            "method: is not in list of allowed methods",
            "method:a,,b is not in list of allowed methods",
            "method:board,post is not in list of allowed methods!",
            "board.post: method:x is not in list of allowed methods",
        ] {
            assert_eq!(PermissionRefusal::from_message(other), None, "{other}");
        }
    }

    #[test]
    fn allow_checked_before_deny() {
        let p = Permissions {
            allow: Some(vec!["a".into()]),
            deny: Some(vec!["b".into()]),
        };
        assert!(p.check(&["a", "x"]).is_ok());
        let e = p.check(&["b"]).unwrap_err();
        assert_eq!(e.message, "method:b is not in list of allowed methods");
        let p = Permissions {
            allow: None,
            deny: Some(vec!["secret".into()]),
        };
        assert_eq!(
            p.check(&["secret"]).unwrap_err().message,
            "method:secret is on list of disallowed methods"
        );
    }
}
