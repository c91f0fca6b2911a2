//! Per-connection permissions: muxrpc's `{allow, deny}` lists, matched by path prefix (PROTOCOL.md §6.1).

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

    /// Checks a call to `path`, answering with the exact JS error message on refusal.
    pub fn check<S: AsRef<str>>(&self, path: &[S]) -> Result<(), RemoteError> {
        let covered = |list: &Vec<String>| list.iter().any(|entry| covers(entry, path));
        if let Some(allow) = &self.allow
            && !covered(allow)
        {
            return Err(RemoteError::new(format!(
                "method:{} is not in list of allowed methods",
                join(path)
            )));
        }
        if let Some(deny) = &self.deny
            && covered(deny)
        {
            return Err(RemoteError::new(format!(
                "method:{} is on list of disallowed methods",
                join(path)
            )));
        }
        Ok(())
    }
}

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
pub fn join<S: AsRef<str>>(path: &[S]) -> String {
    path.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rule() {
        assert!(covers("blobs", &["blobs", "get"]));
        assert!(covers("blobs.get", &["blobs", "get"]));
        assert!(!covers("blobs.get", &["blobs"]));
        assert!(!covers("blob", &["blobs"]));
        assert!(!covers("blobs.get", &["blobs", "has"]));
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
