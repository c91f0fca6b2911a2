//! Manifests: the JSON description of an API (`{"hello": "async", "blobs": {"get": "source"}}`),
//! and the five kinds of call.

use std::collections::BTreeMap;
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

/// A manifest: a tree whose leaves are call kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: BTreeMap<String, ManifestEntry>,
}

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

    /// Adds a method at `path` (e.g. `["blobs", "get"]`), creating namespaces on the way.
    /// Returns `false` (and changes nothing) if the path clashes with an existing entry.
    pub fn insert<S: AsRef<str>>(&mut self, path: &[S], kind: CallKind) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        let mut node = self;
        for p in parents {
            let entry = node
                .entries
                .entry(p.as_ref().to_owned())
                .or_insert_with(|| ManifestEntry::Namespace(Manifest::new()));
            match entry {
                ManifestEntry::Namespace(m) => node = m,
                ManifestEntry::Method(_) => return false,
            }
        }
        if node.entries.contains_key(last.as_ref()) {
            return false;
        }
        node.entries
            .insert(last.as_ref().to_owned(), ManifestEntry::Method(kind));
        true
    }

    /// The kind of the method at `path`, if the manifest has a method there.
    pub fn kind_of<S: AsRef<str>>(&self, path: &[S]) -> Option<CallKind> {
        let (last, parents) = path.split_last()?;
        let mut node = self;
        for p in parents {
            match node.entries.get(p.as_ref())? {
                ManifestEntry::Namespace(m) => node = m,
                ManifestEntry::Method(_) => return None,
            }
        }
        match node.entries.get(last.as_ref())? {
            ManifestEntry::Method(k) => Some(*k),
            ManifestEntry::Namespace(_) => None,
        }
    }

    /// The top-level entries, by name.
    pub fn entries(&self) -> &BTreeMap<String, ManifestEntry> {
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
            out.entries.insert(k.clone(), entry);
        }
        Ok(out)
    }
}
