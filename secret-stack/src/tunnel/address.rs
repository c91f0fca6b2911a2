//! Tunnel addresses: `tunnel:<portal id>:<target id>:<instance>`, the transport section of an
//! address that reaches a peer *through* a portal, followed by the target's `shs` section:
//!
//! ```text
//! tunnel:@<portal key>.ed25519:@<target key>.ed25519:0~shs:<target key>
//! ```
//!
//! This is the form ssb-tunnel 2.0.0 reads and prints. Its reader splits the section on `:` and
//! takes the instance as `+field || 0`; its writer always prints the instance. Reading here is
//! stricter than JS in a few ways that no JS node produces, each refused with a reason instead
//! of being guessed at:
//!
//! - the ids must be ed25519 feed ids (JS also takes `.sha256` ones, which no handshake can use);
//! - the instance, when present and not empty, must be decimal digits within `u32` (JS reads
//!   `abc` as 0, `0x1f` as 31, `1e3` as 1000 and also takes negative numbers);
//! - nothing may follow the instance (JS ignores any further `:` fields).

use std::fmt;
use std::str::FromStr;

use crate::keys::PublicKey;
use crate::multiserver::{AddressError, Protocol, ShsAddress};

/// The protocol name of a tunnel section.
pub const TUNNEL: &str = "tunnel";

/// A `tunnel:<portal>:<target>[:<instance>]` section: reach `target` through the peer `portal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelAddress {
    /// The peer that forwards the connection (the portal, or "room").
    pub portal: PublicKey,
    /// The peer to reach; it announced itself to the portal.
    pub target: PublicKey,
    /// Which of the target's tunnel servers to reach; 0 unless it runs several.
    pub instance: u32,
}

impl TunnelAddress {
    /// An address of `target` through `portal`, instance 0.
    pub fn new(portal: PublicKey, target: PublicKey) -> TunnelAddress {
        TunnelAddress {
            portal,
            target,
            instance: 0,
        }
    }

    /// Reads a `tunnel` section: `tunnel:@P.ed25519:@T.ed25519`, optionally followed by
    /// `:<instance>` (an empty instance reads as 0, as in JS).
    pub fn from_protocol(section: &Protocol) -> Result<TunnelAddress, AddressError> {
        if section.name() != TUNNEL {
            return Err(AddressError::WrongProtocol {
                expected: TUNNEL,
                got: section.name().to_owned(),
            });
        }
        let invalid = |reason: String| AddressError::invalid(TUNNEL, section, reason);
        let (portal, target, instance) = match section.data() {
            [portal, target] => (portal, target, None),
            [portal, target, instance] => (portal, target, Some(instance)),
            fields => {
                return Err(invalid(format!(
                    "expected tunnel:<portal id>:<target id> or tunnel:<portal id>:<target id>:<instance>, \
                     got {} fields",
                    fields.len()
                )));
            }
        };
        let id = |role: &str, text: &str| {
            text.parse::<PublicKey>().map_err(|e| {
                invalid(format!(
                    "the {role} must be a feed id @<base64 key>.ed25519, got {text:?} ({e})"
                ))
            })
        };
        Ok(TunnelAddress {
            portal: id("portal", portal)?,
            target: id("target", target)?,
            instance: match instance.map(String::as_str) {
                None | Some("") => 0,
                Some(text) => parse_instance(text).ok_or_else(|| {
                    invalid(format!(
                        "the instance must be a whole number from 0 to {}, got {text:?}",
                        u32::MAX
                    ))
                })?,
            },
        })
    }

    /// The section as ssb-tunnel prints it: always with the instance, `tunnel:@P:@T:0`.
    pub fn to_protocol(&self) -> Protocol {
        // Feed ids use standard base64, '@' and '.': characters the grammar allows in data.
        Protocol::trusted(
            TUNNEL,
            vec![
                self.portal.id(),
                self.target.id(),
                self.instance.to_string(),
            ],
        )
    }

    /// The whole address a client dials: this section, then the target's `shs` section
    /// (`tunnel:@P:@T:0~shs:<target key>`). The key after `shs:` is the target's, whose
    /// handshake runs end to end through the portal.
    pub fn to_address(&self) -> String {
        format!("{self}~{}", ShsAddress::new(self.target))
    }
}

/// Decimal digits (a leading `+` as JS's `+text` allows) that fit in `u32`.
fn parse_instance(text: &str) -> Option<u32> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl fmt::Display for TunnelAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_protocol().fmt(f)
    }
}

impl FromStr for TunnelAddress {
    type Err = AddressError;

    /// Parses a lone `tunnel` section (no `~shs:` part; see [`TunnelAddress::from_protocol`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TunnelAddress::from_protocol(&s.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multiserver::Address;

    /// The ids of ssb-tunnel's README example: a portal and a target.
    const PORTAL: &str = "@7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWw=.ed25519";
    const TARGET: &str = "@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519";

    fn key(id: &str) -> PublicKey {
        id.parse().unwrap()
    }

    fn tunnel_section(address: &str) -> Result<TunnelAddress, AddressError> {
        let address: Address = address.parse()?;
        TunnelAddress::from_protocol(address.transport())
    }

    #[test]
    fn reads_the_forms_js_prints_and_documents() {
        // What a JS endpoint's getAddress('public') adds: always with the instance.
        let printed = format!("tunnel:{PORTAL}:{TARGET}:0~shs:{}", &TARGET[1..45]);
        let parsed = tunnel_section(&printed).unwrap();
        assert_eq!(parsed, TunnelAddress::new(key(PORTAL), key(TARGET)));
        assert_eq!(parsed.to_address(), printed);
        // The README's form, without the instance.
        let readme = format!("tunnel:{PORTAL}:{TARGET}~shs:{}", &PORTAL[1..45]);
        assert_eq!(tunnel_section(&readme).unwrap().instance, 0);
        // What an endpoint records as the address of an incoming tunnel (portal id twice).
        let incoming = tunnel_section(&format!("tunnel:{PORTAL}:{PORTAL}")).unwrap();
        assert_eq!(incoming.target, key(PORTAL));
    }

    #[test]
    fn instance_forms() {
        let with = |instance: &str| format!("tunnel:{PORTAL}:{TARGET}:{instance}");
        for (text, want) in [
            ("7", 7),
            ("", 0),
            ("+5", 5),
            ("007", 7),
            ("4294967295", u32::MAX),
        ] {
            let parsed: TunnelAddress = with(text).parse().unwrap();
            assert_eq!(parsed.instance, want, "instance {text:?}");
        }
        let seven: TunnelAddress = with("7").parse().unwrap();
        assert_eq!(seven.to_string(), with("7"));
        assert_eq!(
            seven.to_address(),
            format!("{}~shs:{}", with("7"), &TARGET[1..45])
        );
        // Forms JS reads by number coercion, refused here with a reason.
        for text in ["abc", "-1", "0x1f", "1e3", "1.5", "4294967296", "+"] {
            let err = with(text).parse::<TunnelAddress>().unwrap_err();
            assert!(
                err.to_string()
                    .contains("the instance must be a whole number"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn malformed_sections_say_what_is_wrong() {
        let err = |text: &str| text.parse::<TunnelAddress>().unwrap_err().to_string();
        assert_eq!(
            err(&format!("net:{PORTAL}:{TARGET}")),
            "expected a tunnel section, got \"net\""
        );
        assert!(err(&format!("tunnel:{PORTAL}")).contains("got 1 fields"));
        assert!(err(&format!("tunnel:{PORTAL}:{TARGET}:0:extra")).contains("got 4 fields"));
        let bare = err(&format!("tunnel:{}:{TARGET}", &PORTAL[1..]));
        assert!(bare.contains("the portal must be a feed id"), "{bare}");
        let sha = err(&format!("tunnel:{PORTAL}:{}.sha256", &TARGET[..45]));
        assert!(sha.contains("the target must be a feed id"), "{sha}");
        let short = err(&format!("tunnel:{PORTAL}:@AAAA.ed25519"));
        assert!(short.contains("the target must be a feed id"), "{short}");
    }
}
