//! Scuttlebutt's own files, so that `call` and `manifest` work where Scuttlebutt users are: the
//! directory `~/.ssb` (`~/.$ssb_appname` when that variable is set, as `ssb-config` does) with the
//! key file `secret` and the JSON file `config`.
//!
//! From `config` the CLI reads `caps.shs` (the network's app key; the Scuttlebutt main network's
//! when it is not set), and where the local server listens: `connections.incoming.net[0]`'s
//! `host` and `port`, else the top-level `host` and `port`, else `127.0.0.1:8008`. The local
//! server's identity is `secret`'s key pair, so a call without ADDRESS dials
//! `net:HOST:PORT~shs:<that key>` with that same key pair, which the server treats as its master.

use std::path::{Path, PathBuf};

use secret_stack::keys::{AppKey, PublicKey};
use serde_json::Value;

use crate::failure::Failure;
use crate::keys;

/// The Scuttlebutt main network's app key (`caps.shs`), what `ssb-config` uses when the config
/// sets none.
pub const MAIN_NETWORK: &str = "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=";

/// The port `ssb-config` listens on by default.
const DEFAULT_PORT: u16 = 8008;

/// `~/.ssb` (or `~/.$ssb_appname`); `None` without `HOME`.
pub fn dir() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let name = std::env::var("ssb_appname").unwrap_or_else(|_| "ssb".to_owned());
    Some(PathBuf::from(home).join(format!(".{name}")))
}

/// What the CLI takes from `~/.ssb/config`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SsbConfig {
    /// `caps.shs`.
    pub caps_shs: Option<String>,
    /// The host the local server listens on.
    pub host: Option<String>,
    /// Its port.
    pub port: Option<u16>,
}

impl SsbConfig {
    /// Reads `dir/config`; a missing file is the defaults, a file that is not JSON an error.
    pub fn load(dir: &Path) -> Result<SsbConfig, Failure> {
        let path = dir.join("config");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SsbConfig::default());
            }
            Err(e) => {
                return Err(Failure::usage(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            Failure::usage(format!(
                "{} is not JSON ({e}); fix it, or give --app-key and an ADDRESS",
                path.display()
            ))
        })?;
        SsbConfig::from_json(&value).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
    }

    /// Picks the fields out of a parsed config.
    pub fn from_json(config: &Value) -> Result<SsbConfig, String> {
        let caps_shs = match config.pointer("/caps/shs") {
            None | Some(Value::Null) => None,
            Some(Value::String(key)) => Some(key.clone()),
            Some(other) => return Err(format!("caps.shs must be a base64 string, got {other}")),
        };
        let net = config.pointer("/connections/incoming/net/0");
        let host = net
            .and_then(|entry| entry.get("host"))
            .or_else(|| config.get("host"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let port = match net
            .and_then(|e| e.get("port"))
            .or_else(|| config.get("port"))
        {
            None | Some(Value::Null) => None,
            Some(port) => Some(
                port.as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| format!("port must be a number in 0..=65535, got {port}"))?,
            ),
        };
        Ok(SsbConfig {
            caps_shs,
            host,
            port,
        })
    }

    /// The app key: `caps.shs`, else the main network's.
    pub fn app_key(&self) -> Result<AppKey, Failure> {
        keys::parse_app_key(self.caps_shs.as_deref().unwrap_or(MAIN_NETWORK))
    }

    /// The local server's address, given its key. A host meaning "every interface" (none,
    /// `0.0.0.0`, `::`) is dialled on 127.0.0.1.
    pub fn local_address(&self, server: &PublicKey) -> String {
        let host = match self.host.as_deref() {
            None | Some("" | "0.0.0.0" | "::") => "127.0.0.1",
            Some(host) => host,
        };
        let port = self.port.unwrap_or(DEFAULT_PORT);
        format!("net:{host}:{port}~shs:{}", server.to_base64())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_incoming_net_entry_wins_over_the_top_level_host_and_port() {
        let config = SsbConfig::from_json(&json!({
            "host": "10.0.0.1", "port": 1,
            "connections": {"incoming": {"net": [{"host": "::", "port": 9000}]}}
        }))
        .expect("config");
        assert_eq!(
            (config.host.as_deref(), config.port),
            (Some("::"), Some(9000))
        );
        let key = PublicKey([0; 32]);
        assert_eq!(
            config.local_address(&key),
            format!("net:127.0.0.1:9000~shs:{}", key.to_base64())
        );
        let plain = SsbConfig::from_json(&json!({"host": "h", "port": 7})).expect("config");
        assert_eq!(
            plain.local_address(&key),
            format!("net:h:7~shs:{}", key.to_base64())
        );
    }

    #[test]
    fn defaults_are_the_main_network_on_port_8008() {
        let config = SsbConfig::from_json(&json!({})).expect("config");
        assert_eq!(
            config.app_key().expect("key"),
            MAIN_NETWORK.parse().expect("main network key")
        );
        assert!(
            config
                .local_address(&PublicKey([1; 32]))
                .starts_with("net:127.0.0.1:8008~")
        );
    }

    #[test]
    fn wrong_types_are_errors_naming_the_field() {
        let e = SsbConfig::from_json(&json!({"caps": {"shs": 5}})).expect_err("caps");
        assert!(e.contains("caps.shs"), "{e}");
        let e = SsbConfig::from_json(&json!({"port": 70000})).expect_err("port");
        assert!(e.contains("port"), "{e}");
    }
}
