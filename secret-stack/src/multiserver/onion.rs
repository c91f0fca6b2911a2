//! The `onion:<host>:<port>` address form (Tor hidden services). Parsed only: this crate has no Tor
//! transport, so a suite can never dial it and such alternatives are skipped.

use std::fmt;
use std::str::FromStr;

use super::address::{AddressError, Protocol};
use super::net::host_and_port;

/// An `onion:<host>:<port>` section.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OnionAddress {
    /// The `.onion` host.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl OnionAddress {
    /// Reads an `onion` section (same host/port rules as `net`).
    pub fn from_protocol(section: &Protocol) -> Result<OnionAddress, AddressError> {
        if section.name() != "onion" {
            return Err(AddressError::WrongProtocol {
                expected: "onion",
                got: section.name().to_owned(),
            });
        }
        let (host, port) = host_and_port("onion", section)?;
        Ok(OnionAddress { host, port })
    }
}

impl fmt::Display for OnionAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "onion:{}:{}", self.host, self.port)
    }
}

impl FromStr for OnionAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OnionAddress::from_protocol(&s.parse()?)
    }
}
