//! Which transports listen and dial with which transform: secret-stack's `global.connections`,
//! typed, with the JS default.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::scope::Scope;

/// How one listener is set up: JS's incoming entry minus `transform`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenConfig {
    /// Scopes served. Empty means the transport's default (`device`).
    pub scopes: Vec<Scope>,
    /// Host (IP or name) to bind and print. `None`: with one scope, that scope's host (`device` →
    /// 127.0.0.1, printed `localhost`); with several, all interfaces.
    pub host: Option<String>,
    /// Port to bind. `None` lets the system choose a free one (JS picks a random port in
    /// 49152–65535 itself, which can collide).
    pub port: Option<u16>,
    /// Names printed for the public scope instead of the host.
    pub external: Vec<String>,
    /// For `unix`: the directory holding the `socket` file (JS's `path`); `None` = a new temporary
    /// directory.
    pub path: Option<PathBuf>,
    /// Any other keys of the entry, for transports added by plugins.
    pub options: Map<String, Value>,
}

impl ListenConfig {
    /// A config serving `scope` on `host` with a system-chosen port.
    pub fn new(scope: Scope, host: impl Into<String>) -> ListenConfig {
        ListenConfig {
            scopes: vec![scope],
            host: Some(host.into()),
            ..ListenConfig::default()
        }
    }

    /// The same with a fixed port.
    pub fn with_port(mut self, port: u16) -> ListenConfig {
        self.port = Some(port);
        self
    }

    /// The scopes served, defaulting to `[device]`.
    pub fn scopes_or_device(&self) -> Vec<Scope> {
        if self.scopes.is_empty() {
            vec![Scope::Device]
        } else {
            self.scopes.clone()
        }
    }
}

/// A listener to start: transport name, transform name, settings.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEntry {
    /// Transport name (`net`, `ws`, `unix`...).
    pub transport: String,
    /// Transform name (`shs`, `noauth`...).
    pub transform: String,
    /// Listener settings.
    pub config: ListenConfig,
}

/// A suite to dial with: transport name, transform name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEntry {
    /// Transport name.
    pub transport: String,
    /// Transform name.
    pub transform: String,
}

/// `global.connections`: what listens and what dials.
#[derive(Debug, Clone, PartialEq)]
pub struct Connections {
    /// Listeners, in order (the order addresses are printed in).
    pub incoming: Vec<IncomingEntry>,
    /// Dialling suites, in the order they are tried on each alternative.
    pub outgoing: Vec<OutgoingEntry>,
}

/// A malformed `connections` config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionsError {
    /// A value had the wrong JSON type.
    #[error("connections.{path}: expected {expected}")]
    Type {
        /// Where, e.g. `incoming.net[0].port`.
        path: String,
        /// What was expected.
        expected: &'static str,
    },
    /// An incoming entry without `scope`; JS fails setup the same way, with this text.
    #[error("transport:{transport} did not remember scope, expected:undefined got:device")]
    MissingScope {
        /// Transport name.
        transport: String,
    },
    /// A scope name that is not known.
    #[error("connections.{path}: {source}")]
    Scope {
        /// Where.
        path: String,
        /// The bad name.
        source: super::scope::UnknownScope,
    },
}

impl Connections {
    /// secret-stack's default: incoming `net` on all scopes with `shs` (host and port from
    /// `global.host`/`global.port` when given), outgoing `net~shs`.
    pub fn default_with(host: Option<&str>, port: Option<u16>) -> Connections {
        Connections {
            incoming: vec![IncomingEntry {
                transport: "net".into(),
                transform: "shs".into(),
                config: ListenConfig {
                    scopes: Scope::ALL.to_vec(),
                    host: host.map(str::to_owned),
                    port,
                    ..ListenConfig::default()
                },
            }],
            outgoing: vec![OutgoingEntry {
                transport: "net".into(),
                transform: "shs".into(),
            }],
        }
    }

    /// Reads the JS shape `{incoming: {net: [{scope, transform, host?, port?, external?}]},
    /// outgoing: {net: [{transform}]}}`. A missing `incoming` or `outgoing` is empty.
    ///
    /// Transports come out in the order of the JSON object's keys as `serde_json` keeps them
    /// (sorted by name unless its `preserve_order` feature is on); build [`Connections`] directly
    /// to choose the order.
    pub fn from_json(value: &Value) -> Result<Connections, ConnectionsError> {
        let object = value.as_object().ok_or_else(|| ConnectionsError::Type {
            path: String::new(),
            expected: "an object",
        })?;
        let mut incoming = Vec::new();
        for (transport, index, entry) in entries(object, "incoming")? {
            let path = format!("incoming.{transport}[{index}]");
            let transform = transform_of(entry, &path)?;
            let config = listen_config(transport, entry, &path)?;
            incoming.push(IncomingEntry {
                transport: transport.to_owned(),
                transform,
                config,
            });
        }
        let mut outgoing = Vec::new();
        for (transport, index, entry) in entries(object, "outgoing")? {
            let path = format!("outgoing.{transport}[{index}]");
            outgoing.push(OutgoingEntry {
                transport: transport.to_owned(),
                transform: transform_of(entry, &path)?,
            });
        }
        Ok(Connections { incoming, outgoing })
    }
}

impl Default for Connections {
    fn default() -> Self {
        Connections::default_with(None, None)
    }
}

type Entry<'a> = (&'a str, usize, &'a Map<String, Value>);

fn entries<'a>(
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<Vec<Entry<'a>>, ConnectionsError> {
    let Some(section) = object.get(key) else {
        return Ok(Vec::new());
    };
    let section = section.as_object().ok_or_else(|| ConnectionsError::Type {
        path: key.to_owned(),
        expected: "an object of transport name to entries",
    })?;
    let mut out = Vec::new();
    for (transport, list) in section {
        let list = list.as_array().ok_or_else(|| ConnectionsError::Type {
            path: format!("{key}.{transport}"),
            expected: "an array of entries",
        })?;
        for (index, entry) in list.iter().enumerate() {
            let entry = entry.as_object().ok_or_else(|| ConnectionsError::Type {
                path: format!("{key}.{transport}[{index}]"),
                expected: "an object",
            })?;
            out.push((transport.as_str(), index, entry));
        }
    }
    Ok(out)
}

fn transform_of(entry: &Map<String, Value>, path: &str) -> Result<String, ConnectionsError> {
    entry
        .get("transform")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ConnectionsError::Type {
            path: format!("{path}.transform"),
            expected: "a transform name",
        })
}

fn listen_config(
    transport: &str,
    entry: &Map<String, Value>,
    path: &str,
) -> Result<ListenConfig, ConnectionsError> {
    let mut config = ListenConfig::default();
    let scope_names = strings(entry.get("scope"), &format!("{path}.scope"))?;
    if scope_names.is_empty() {
        return Err(ConnectionsError::MissingScope {
            transport: transport.to_owned(),
        });
    }
    for name in scope_names {
        let scope = name.parse().map_err(|source| ConnectionsError::Scope {
            path: format!("{path}.scope"),
            source,
        })?;
        if !config.scopes.contains(&scope) {
            config.scopes.push(scope);
        }
    }
    config.external = strings(entry.get("external"), &format!("{path}.external"))?;
    for (key, value) in entry {
        match key.as_str() {
            "scope" | "transform" | "external" => {}
            "host" => match value {
                Value::Null => {}
                Value::String(host) => config.host = Some(host.clone()),
                _ => return Err(type_error(path, "host", "a host name")),
            },
            "port" => match value {
                Value::Null => {}
                _ => {
                    let port = value
                        .as_u64()
                        .and_then(|p| u16::try_from(p).ok())
                        .ok_or_else(|| type_error(path, "port", "a port number 0-65535"))?;
                    config.port = (port != 0).then_some(port);
                }
            },
            "path" => match value {
                Value::Null => {}
                Value::String(p) => config.path = Some(PathBuf::from(p)),
                _ => return Err(type_error(path, "path", "a directory path")),
            },
            _ => {
                config.options.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(config)
}

fn type_error(path: &str, key: &str, expected: &'static str) -> ConnectionsError {
    ConnectionsError::Type {
        path: format!("{path}.{key}"),
        expected,
    }
}

/// A string or an array of strings; absent or null → empty.
fn strings(value: Option<&Value>, path: &str) -> Result<Vec<String>, ConnectionsError> {
    let bad = || ConnectionsError::Type {
        path: path.to_owned(),
        expected: "a string or an array of strings",
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_js_shape() {
        let c = Connections::from_json(&json!({
            "incoming": {
                "net": [{"scope": ["device", "public"], "transform": "shs", "port": 8008, "external": "a.example"}],
                "unix": [{"scope": "device", "transform": "noauth", "mode": 1}]
            },
            "outgoing": {"net": [{"transform": "shs"}]}
        }))
        .unwrap();
        assert_eq!(c.incoming.len(), 2);
        let net = &c.incoming[0];
        assert_eq!(net.config.scopes, [Scope::Device, Scope::Public]);
        assert_eq!(net.config.port, Some(8008));
        assert_eq!(net.config.external, ["a.example"]);
        assert_eq!(c.incoming[1].config.options.get("mode"), Some(&json!(1)));
        assert_eq!(c.outgoing[0].transform, "shs");
    }

    #[test]
    fn incoming_needs_a_scope() {
        let err = Connections::from_json(&json!({"incoming": {"net": [{"transform": "shs"}]}}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "transport:net did not remember scope, expected:undefined got:device"
        );
        let err = Connections::from_json(
            &json!({"incoming": {"net": [{"transform": "shs", "scope": "device", "port": "x"}]}}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "connections.incoming.net[0].port: expected a port number 0-65535"
        );
    }
}
