//! The node's configuration, in the shape JS secret-stack reads: a `global` section shared by every
//! plugin and one section per plugin, keyed by the plugin's mount name.
//!
//! A config is built from JSON (or a JSON or TOML file, or code) laid over defaults with
//! [`deep_merge`], exactly as JS does, then read into typed sections.
//! Keys of `global` this crate does not know are kept (plugins may read them) and listed by
//! [`Config::unknown_keys`] so the stack can report them instead of ignoring them silently.

use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::merge::deep_merge;
use crate::keys::PublicKey;
use crate::multiserver::{Connections, IncomingLimits};

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid JSON or TOML.
    #[error("cannot parse config file {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
    /// A section has the wrong shape.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// No app key in `global.caps.shs`, `global.appKey` or `multiserverShs.cap`.
    #[error("secret-stack/plugins/shs must have caps.shs configured")]
    MissingAppKey,
    /// A key (app key, seed, key pair) does not decode to the right number of bytes.
    #[error("invalid {what}: {message}")]
    BadKey {
        /// Which key.
        what: &'static str,
        /// Why.
        message: String,
    },
}

/// A whole configuration: `global` plus the plugins' own sections.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The section every plugin sees.
    pub global: Global,
    /// Every other top-level section, by mount name (e.g. `fooBar`), as JSON.
    pub sections: Map<String, Value>,
}

/// The `global` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Global {
    /// The app key (network key) as base64; `caps.shs` wins over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_key: Option<String>,
    /// Capabilities; `caps.shs` is the app key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Caps>,
    /// The node's key pair, as an ssb-keys object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeysConfig>,
    /// A 32-byte seed for the node's key pair (base64), used only when `keys` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// The host of the default incoming `net` listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The port of the default incoming `net` listener (absent: any free port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Transports to listen on and to dial with, in the JS shape; defaulted when absent and read
    /// by [`Config::connections`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<Value>,
    /// Timeouts in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timers: Option<Timers>,
    /// If set and non-zero, replaces the handshake timeout (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Caps on incoming connections (not a JS key: JS has none); read by
    /// [`Config::incoming_limits`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incoming_limits: Option<IncomingLimitsConfig>,
    /// Ids (`@…=.ed25519`) granted full access (`{allow: null, deny: null}`) on incoming
    /// connections, like the app's own key. One id or a list.
    ///
    /// Not a JS secret-stack 8.1.0 key: in JS, masters come from a plugin hooking `auth`
    /// (`ssb-master` reads a top-level `master`). Here the default auth answer reads this, which is
    /// what the interop peer's `--master` sets.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub master: Vec<String>,
    /// Every other key: kept for plugins, reported by [`Config::unknown_keys`].
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Reads a string or an array of strings (`null` = none).
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(id)) => vec![id],
        Some(OneOrMany::Many(ids)) => ids,
    })
}

/// `global.caps`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Caps {
    /// The secret-handshake app key, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shs: Option<String>,
    /// Other capabilities (e.g. `sign`), kept as they are.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An ssb-keys key object: `{"curve", "public", "private", "id"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeysConfig {
    /// Always `ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
    /// `<base64 public key>.ed25519` (no `@`).
    pub public: String,
    /// `<base64 64-byte secret key>.ed25519`.
    pub private: String,
    /// `@<base64>.ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `global.timers`, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Timers {
    /// Per-read handshake timeout; absent or 0: the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<u64>,
    /// Idle time after which a connection is dropped; 0 disables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactivity: Option<u64>,
}

/// `global.incomingLimits`: the caps of [`IncomingLimits`], each optional. A key that is set
/// replaces the builder's value ([`Builder::incoming_limits`](super::Builder::incoming_limits)),
/// so an operator can tune a node without rebuilding it. Unknown keys are refused (a typo would
/// otherwise leave a cap at its default unnoticed).
///
/// ```json
/// {"global": {"incomingLimits": {"maxConnections": 20000, "maxHandshakes": 256,
///                                "maxConnectionsPerIp": 64, "maxHandshakesPerIp": 16}}}
/// ```
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IncomingLimitsConfig {
    /// [`IncomingLimits::max_connections`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// [`IncomingLimits::max_handshakes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_handshakes: Option<usize>,
    /// [`IncomingLimits::max_connections_per_ip`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections_per_ip: Option<usize>,
    /// [`IncomingLimits::max_handshakes_per_ip`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_handshakes_per_ip: Option<usize>,
}

/// The handshake timeout used when the config sets none (JS's value with `timers` present).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// The inactivity timeout used when the config sets none (JS's value with `timers` present).
pub const DEFAULT_INACTIVITY_TIMEOUT: Duration = Duration::from_secs(600);

/// Where the node's key pair comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A full key pair: the 32-byte public key and the 64-byte libsodium secret key.
    Keys {
        /// The public key.
        public: [u8; 32],
        /// The secret key (`seed ‖ public`).
        secret: [u8; 64],
    },
    /// A seed to derive the key pair from.
    Seed([u8; 32]),
    /// Nothing configured.
    None,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeySource::Keys { .. } => "KeySource::Keys { .. }",
            KeySource::Seed(_) => "KeySource::Seed(..)",
            KeySource::None => "KeySource::None",
        })
    }
}

impl Config {
    /// Reads a config from JSON laid over the defaults.
    pub fn from_json(value: Value) -> Result<Config, ConfigError> {
        Config::with_defaults(Value::Object(Map::new()), value)
    }

    /// Lays `config` over `defaults` (as `SecretStack(defaults)(config)` does) and reads the result.
    pub fn with_defaults(defaults: Value, config: Value) -> Result<Config, ConfigError> {
        if !config.is_object() && !config.is_null() {
            return Err(ConfigError::Invalid(format!(
                "a config must be a JSON object, got {config}"
            )));
        }
        let mut merged = Value::Object(Map::new());
        deep_merge(&mut merged, &defaults);
        deep_merge(&mut merged, &config);
        let Value::Object(mut map) = merged else {
            return Err(ConfigError::Invalid(
                "a config must be a JSON object".into(),
            ));
        };
        let global = match map.remove("global") {
            None | Some(Value::Null) => Global::default(),
            Some(g) => serde_json::from_value(g)
                .map_err(|e| ConfigError::Invalid(format!("global: {e}")))?,
        };
        Ok(Config {
            global,
            sections: map,
        })
    }

    /// Loads a JSON (`.json`) or TOML (`.toml`) file; other extensions are tried as JSON.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: shown.clone(),
            source,
        })?;
        let value: Value = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text).map_err(|e| ConfigError::Syntax {
                path: shown,
                message: e.to_string(),
            })?
        } else {
            serde_json::from_str(&text).map_err(|e| ConfigError::Syntax {
                path: shown,
                message: e.to_string(),
            })?
        };
        Config::from_json(value)
    }

    /// The whole config as JSON (what a plugin's `global` section looks like).
    pub fn to_json(&self) -> Value {
        let mut map = self.sections.clone();
        map.insert(
            "global".into(),
            serde_json::to_value(&self.global).unwrap_or(Value::Null),
        );
        Value::Object(map)
    }

    /// The section of the plugin mounted at `mount`, if the config has one.
    pub fn section(&self, mount: &str) -> Option<&Value> {
        self.sections.get(mount)
    }

    /// The app key: `multiserverShs.cap` > `global.caps.shs` > `global.appKey`, as in JS.
    pub fn app_key(&self) -> Result<[u8; 32], ConfigError> {
        let from_section = self
            .sections
            .get("multiserverShs")
            .and_then(|s| s.get("cap"))
            .and_then(Value::as_str);
        let text = from_section
            .or_else(|| self.global.caps.as_ref().and_then(|c| c.shs.as_deref()))
            .or(self.global.app_key.as_deref())
            .ok_or(ConfigError::MissingAppKey)?;
        decode_fixed("app key", text)
    }

    /// Where the key pair comes from: `global.keys`, else a seed (`multiserverShs.seed` > `global.seed`).
    pub fn key_source(&self) -> Result<KeySource, ConfigError> {
        if let Some(keys) = &self.global.keys {
            let public = decode_fixed("keys.public", &keys.public)?;
            let secret = decode_fixed("keys.private", &keys.private)?;
            return Ok(KeySource::Keys { public, secret });
        }
        let seed = self
            .sections
            .get("multiserverShs")
            .and_then(|s| s.get("seed"))
            .and_then(Value::as_str);
        match seed.or(self.global.seed.as_deref()) {
            Some(s) => Ok(KeySource::Seed(decode_fixed("seed", s)?)),
            None => Ok(KeySource::None),
        }
    }

    /// The configured transports, or JS's defaults: incoming `net` on scopes device, local and public
    /// with `shs` (with `global.host`/`global.port`), outgoing `net` with `shs`.
    pub fn connections(&self) -> Result<Connections, ConfigError> {
        match &self.global.connections {
            Some(value) => {
                Connections::from_json(value).map_err(|e| ConfigError::Invalid(e.to_string()))
            }
            None => Ok(Connections::default_with(
                self.global.host.as_deref(),
                self.global.port,
            )),
        }
    }

    /// The per-read handshake timeout: `timers.handshake` if non-zero, else 15 s; a non-zero
    /// `global.timeout` replaces it (as in JS).
    pub fn handshake_timeout(&self) -> Duration {
        let mut ms = match self.global.timers.and_then(|t| t.handshake) {
            Some(ms) if ms > 0 => Duration::from_millis(ms),
            _ => DEFAULT_HANDSHAKE_TIMEOUT,
        };
        if let Some(t) = self.global.timeout.filter(|&t| t > 0) {
            ms = Duration::from_millis(t);
        }
        ms
    }

    /// The inactivity timeout: `timers.inactivity` (0 disables: `None`), else 10 minutes.
    pub fn inactivity_timeout(&self) -> Option<Duration> {
        match self.global.timers.and_then(|t| t.inactivity) {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => Some(DEFAULT_INACTIVITY_TIMEOUT),
        }
    }

    /// `base` (the builder's caps) with every key of `global.incomingLimits` laid over it; a cap
    /// of 0 is refused.
    pub fn incoming_limits(&self, base: IncomingLimits) -> Result<IncomingLimits, ConfigError> {
        let Some(set) = self.global.incoming_limits else {
            return Ok(base);
        };
        let cap = |key: &str, value: Option<usize>, default: NonZeroUsize| match value {
            None => Ok(default),
            Some(n) => NonZeroUsize::new(n).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "global.incomingLimits.{key} is 0: a cap must be at least 1 (leave the key \
                     out for the default)"
                ))
            }),
        };
        Ok(IncomingLimits {
            max_connections: cap("maxConnections", set.max_connections, base.max_connections)?,
            max_handshakes: cap("maxHandshakes", set.max_handshakes, base.max_handshakes)?,
            max_connections_per_ip: cap(
                "maxConnectionsPerIp",
                set.max_connections_per_ip,
                base.max_connections_per_ip,
            )?,
            max_handshakes_per_ip: cap(
                "maxHandshakesPerIp",
                set.max_handshakes_per_ip,
                base.max_handshakes_per_ip,
            )?,
        })
    }

    /// The ids of `global.master`, parsed.
    pub fn masters(&self) -> Result<Vec<PublicKey>, ConfigError> {
        self.global
            .master
            .iter()
            .map(|id| {
                id.parse().map_err(|e| ConfigError::BadKey {
                    what: "global.master id",
                    message: format!("{id:?}: {e}"),
                })
            })
            .collect()
    }

    /// Writes JS's default `global.connections` into the config when it has none, as the JS core
    /// plugin does before other plugins see `global`: incoming `net` on scopes device, local and
    /// public with `shs` (plus `global.host`/`global.port` when set), outgoing `net` with `shs`.
    pub fn fill_default_connections(&mut self) {
        if self.global.connections.is_some() {
            return;
        }
        let mut incoming = Map::new();
        incoming.insert(
            "scope".into(),
            serde_json::json!(["device", "local", "public"]),
        );
        incoming.insert("transform".into(), "shs".into());
        if let Some(host) = &self.global.host {
            incoming.insert("host".into(), host.clone().into());
        }
        if let Some(port) = self.global.port {
            incoming.insert("port".into(), port.into());
        }
        self.global.connections = Some(serde_json::json!({
            "incoming": {"net": [Value::Object(incoming)]},
            "outgoing": {"net": [{"transform": "shs"}]},
        }));
    }

    /// Keys of `global` this crate does not read (`global.<key>`), to be reported: they may be
    /// typos, or settings meant for plugins.
    pub fn unknown_keys(&self) -> Vec<String> {
        self.global
            .other
            .keys()
            .map(|k| format!("global.{k}"))
            .collect()
    }
}

/// Decodes a base64 key (text after the first `.` ignored, as JS does) into exactly `N` bytes.
fn decode_fixed<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], ConfigError> {
    let b64 = text.split('.').next().unwrap_or_default();
    let bytes = STANDARD.decode(b64).map_err(|e| ConfigError::BadKey {
        what,
        message: format!("not base64: {e}"),
    })?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| ConfigError::BadKey {
            what,
            message: format!("expected {N} bytes, got {}", bytes.len()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";

    #[test]
    fn app_key_precedence() {
        let c = Config::from_json(json!({"global": {"appKey": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "caps": {"shs": KEY}}}))
            .unwrap();
        assert_eq!(c.app_key().unwrap()[0], 0x4a);
        let c = Config::from_json(json!({"global": {}})).unwrap();
        assert!(matches!(c.app_key(), Err(ConfigError::MissingAppKey)));
        let c = Config::from_json(json!({"global": {"appKey": "AAAA"}})).unwrap();
        assert!(matches!(c.app_key(), Err(ConfigError::BadKey { .. })));
    }

    #[test]
    fn timers_follow_js_rules() {
        let c = Config::from_json(json!({})).unwrap();
        assert_eq!(c.handshake_timeout(), Duration::from_secs(15));
        assert_eq!(c.inactivity_timeout(), Some(Duration::from_secs(600)));
        let c = Config::from_json(
            json!({"global": {"timers": {"handshake": 0, "inactivity": 0}, "timeout": 700}}),
        )
        .unwrap();
        assert_eq!(c.handshake_timeout(), Duration::from_millis(700));
        assert_eq!(c.inactivity_timeout(), None);
    }

    #[test]
    fn unknown_keys_are_listed() {
        let c = Config::from_json(json!({"global": {"prot": 8008, "connections": {
            "incoming": {"net": [{"scope": "device", "transform": "shs"}]}}}}))
        .unwrap();
        assert_eq!(c.unknown_keys(), vec!["global.prot"]);
        assert_eq!(c.connections().unwrap().incoming.len(), 1);
    }

    #[test]
    fn masters_and_default_connections() {
        let id = "@DoP0kVOhWsnLdJf38bldLDfFXW5fKLRsM04QLfEjJPQ=.ed25519";
        let mut c = Config::from_json(json!({"global": {"master": id, "port": 9999}})).unwrap();
        assert_eq!(c.masters().unwrap()[0].id(), id);
        assert!(c.unknown_keys().is_empty());
        c.fill_default_connections();
        assert_eq!(
            c.global.connections,
            Some(
                json!({"incoming": {"net": [{"scope": ["device", "local", "public"],
                "transform": "shs", "port": 9999}]}, "outgoing": {"net": [{"transform": "shs"}]}})
            )
        );
        assert_eq!(
            c.connections().unwrap(),
            Connections::default_with(None, Some(9999))
        );
        let c = Config::from_json(json!({"global": {"master": ["nope"]}})).unwrap();
        assert!(matches!(c.masters(), Err(ConfigError::BadKey { .. })));
    }

    #[test]
    fn incoming_limits_keys_override_the_builder() {
        let base = IncomingLimits::default();
        let c = Config::from_json(json!({})).unwrap();
        assert_eq!(c.incoming_limits(base).unwrap(), base);
        let c = Config::from_json(json!({"global": {"incomingLimits": {
            "maxConnections": 20000, "maxHandshakesPerIp": 16}}}))
        .unwrap();
        let l = c.incoming_limits(base).unwrap();
        assert_eq!(l.max_connections.get(), 20000);
        assert_eq!(l.max_handshakes, base.max_handshakes);
        assert_eq!(l.max_connections_per_ip, base.max_connections_per_ip);
        assert_eq!(l.max_handshakes_per_ip.get(), 16);
        assert!(c.unknown_keys().is_empty());

        let c =
            Config::from_json(json!({"global": {"incomingLimits": {"maxConnectionsPerIp": 0}}}))
                .unwrap();
        let e = c.incoming_limits(base).unwrap_err().to_string();
        assert!(e.contains("maxConnectionsPerIp is 0"), "{e}");
        let e = Config::from_json(json!({"global": {"incomingLimits": {"maxConection": 5}}}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("maxConection"), "{e}");
    }

    #[test]
    fn toml_file_loads() {
        let dir = std::env::temp_dir().join(format!("ss-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            format!("[global]\nappKey = \"{KEY}\"\nport = 8008\n[fooBar]\nx = 1\n"),
        )
        .unwrap();
        let c = Config::from_file(&path).unwrap();
        assert_eq!(c.global.port, Some(8008));
        assert_eq!(c.section("fooBar"), Some(&json!({"x": 1})));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
