//! Manifests: the JSON description of an API (`{"hello": "async", "blobs": {"get": "source"}}`),
//! and the five kinds of call.
//!
//! A [`Manifest`] keeps its entries in insertion order, as a JS object keeps its keys: the JSON
//! it gives is byte for byte what JS sends for the same API, so no JSON copy is kept beside it.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

/// The kind of a muxrpc call, as written in a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// One request, one reply; the callee may take its time.
    Async,
    /// One request, one reply; identical to async on the wire.
    Sync,
    /// The callee sends a stream of values.
    Source,
    /// The caller sends a stream of values.
    Sink,
    /// Both sides send a stream of values.
    Duplex,
}

impl CallKind {
    /// The manifest spelling: `async`, `sync`, `source`, `sink` or `duplex`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Async => "async",
            CallKind::Sync => "sync",
            CallKind::Source => "source",
            CallKind::Sink => "sink",
            CallKind::Duplex => "duplex",
        }
    }

    /// True for source, sink and duplex: the kinds that travel as streams.
    pub fn is_stream(self) -> bool {
        matches!(self, CallKind::Source | CallKind::Sink | CallKind::Duplex)
    }
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`CallKind`] from a string that names no kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call kind `{0}`, expected one of async, sync, source, sink, duplex")]
pub struct UnknownCallKind(pub String);

impl FromStr for CallKind {
    type Err = UnknownCallKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "async" => CallKind::Async,
            "sync" => CallKind::Sync,
            "source" => CallKind::Source,
            "sink" => CallKind::Sink,
            "duplex" => CallKind::Duplex,
            other => return Err(UnknownCallKind(other.to_owned())),
        })
    }
}

/// A manifest: a tree whose leaves are call kinds, its keys in insertion order (JS key order).
///
/// Equality ignores the order, as JSON objects compare.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    entries: Vec<(String, ManifestEntry)>,
}

impl PartialEq for Manifest {
    fn eq(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self.entries.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for Manifest {}

/// One node of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestEntry {
    /// A method of this kind.
    Method(CallKind),
    /// A nested namespace.
    Namespace(Manifest),
}

impl Manifest {
    /// An empty manifest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a method at `path` (e.g. `["blobs", "get"]`), creating namespaces on the way (each
    /// new key after the existing ones). Returns `false` (and changes nothing) if the path clashes
    /// with an existing entry.
    pub fn insert<S: AsRef<str>>(&mut self, path: &[S], kind: CallKind) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        if !self.fits(path) {
            return false;
        }
        let mut node = self;
        for p in parents {
            let at = match node.position(p.as_ref()) {
                Some(at) => at,
                None => {
                    let namespace = ManifestEntry::Namespace(Manifest::new());
                    node.entries.push((p.as_ref().to_owned(), namespace));
                    node.entries.len() - 1
                }
            };
            match &mut node.entries[at].1 {
                ManifestEntry::Namespace(m) => node = m,
                // `fits` has checked every parent.
                ManifestEntry::Method(_) => return false,
            }
        }
        node.entries
            .push((last.as_ref().to_owned(), ManifestEntry::Method(kind)));
        true
    }

    /// Every method with its path, in order.
    pub fn leaves(&self) -> Vec<(Vec<String>, CallKind)> {
        let mut out = Vec::new();
        for (key, entry) in &self.entries {
            match entry {
                ManifestEntry::Method(kind) => out.push((vec![key.clone()], *kind)),
                ManifestEntry::Namespace(inner) => {
                    for (mut path, kind) in inner.leaves() {
                        path.insert(0, key.clone());
                        out.push((path, kind));
                    }
                }
            }
        }
        out
    }

    /// True if a method can be added at `path`: no method on the way, nothing at its end.
    fn fits<S: AsRef<str>>(&self, path: &[S]) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        let mut node = self;
        for p in parents {
            match node.get(p.as_ref()) {
                None => return true,
                Some(ManifestEntry::Namespace(m)) => node = m,
                Some(ManifestEntry::Method(_)) => return false,
            }
        }
        node.get(last.as_ref()).is_none()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    /// The entry named `key`.
    pub fn get(&self, key: &str) -> Option<&ManifestEntry> {
        self.entries
            .iter()
            .find_map(|(k, v)| (k == key).then_some(v))
    }

    /// The kind of the method at `path`, if the manifest has a method there.
    pub fn kind_of<S: AsRef<str>>(&self, path: &[S]) -> Option<CallKind> {
        let (last, parents) = path.split_last()?;
        let mut node = self;
        for p in parents {
            match node.get(p.as_ref())? {
                ManifestEntry::Namespace(m) => node = m,
                ManifestEntry::Method(_) => return None,
            }
        }
        match node.get(last.as_ref())? {
            ManifestEntry::Method(k) => Some(*k),
            ManifestEntry::Namespace(_) => None,
        }
    }

    /// The top-level entries, in order.
    pub fn entries(&self) -> &[(String, ManifestEntry)] {
        &self.entries
    }

    /// The manifest as JSON, in the shape JS sends.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (k, v) in &self.entries {
            let v = match v {
                ManifestEntry::Method(kind) => Value::String(kind.as_str().to_owned()),
                ManifestEntry::Namespace(m) => m.to_json(),
            };
            map.insert(k.clone(), v);
        }
        Value::Object(map)
    }

    /// Reads a manifest from JSON. Leaves that are not a known kind are reported as errors.
    pub fn from_json(value: &Value) -> Result<Manifest, String> {
        let Value::Object(map) = value else {
            return Err(format!("a manifest must be a JSON object, got {value}"));
        };
        let mut out = Manifest::new();
        for (k, v) in map {
            let entry = match v {
                Value::String(s) => ManifestEntry::Method(
                    s.parse()
                        .map_err(|e: UnknownCallKind| format!("{k}: {e}"))?,
                ),
                Value::Object(_) => ManifestEntry::Namespace(
                    Manifest::from_json(v).map_err(|e| format!("{k}.{e}"))?,
                ),
                other => {
                    return Err(format!(
                        "{k}: expected a call kind or an object, got {other}"
                    ));
                }
            };
            out.entries.push((k.clone(), entry));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_insertion_order() {
        let mut m = Manifest::new();
        assert!(m.insert(&["zeta"], CallKind::Async));
        assert!(m.insert(&["alpha", "b"], CallKind::Source));
        assert!(m.insert(&["mid"], CallKind::Sync));
        assert!(m.insert(&["alpha", "a"], CallKind::Sink));
        assert_eq!(
            serde_json::to_string(&m.to_json()).unwrap(),
            r#"{"zeta":"async","alpha":{"b":"source","a":"sink"},"mid":"sync"}"#
        );
        let back = Manifest::from_json(&m.to_json()).unwrap();
        assert_eq!(back.to_json().to_string(), m.to_json().to_string());
    }

    #[test]
    fn clashes_are_refused_and_change_nothing() {
        let mut m = Manifest::new();
        assert!(m.insert(&["a", "b"], CallKind::Async));
        assert!(!m.insert(&["a"], CallKind::Async));
        assert!(!m.insert(&["a", "b", "c"], CallKind::Async));
        assert!(!m.insert(&["a", "b"], CallKind::Sync));
        assert_eq!(m.kind_of(&["a", "b"]), Some(CallKind::Async));
        assert_eq!(
            m.leaves(),
            vec![(vec!["a".to_owned(), "b".to_owned()], CallKind::Async)]
        );
    }

    #[test]
    fn equality_ignores_order() {
        let mut a = Manifest::new();
        a.insert(&["x"], CallKind::Sync);
        a.insert(&["y"], CallKind::Async);
        let mut b = Manifest::new();
        b.insert(&["y"], CallKind::Async);
        b.insert(&["x"], CallKind::Sync);
        assert_eq!(a, b);
        b.insert(&["z"], CallKind::Async);
        assert_ne!(a, b);
    }
}
