//! Scopes: who a listener is reachable by (this device, the local network, the internet), and the
//! host name a listener prints for each.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;

/// Who can reach an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Only this machine (loopback, unix sockets). The default scope.
    Device,
    /// The local network (private addresses). JS spells it `local` or `private`; both parse to this.
    Local,
    /// The internet (non-private addresses, or configured `external` names).
    Public,
}

impl Scope {
    /// Every scope, in a fixed order.
    pub const ALL: [Scope; 3] = [Scope::Device, Scope::Local, Scope::Public];

    /// The name JS uses (`device`, `local`, `public`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Device => "device",
            Scope::Local => "local",
            Scope::Public => "public",
        }
    }

    /// The host a listener without a configured host prints for this scope: `localhost` for
    /// [`Scope::Device`]; for the others, this machine's outward-facing IP if it is private
    /// ([`Scope::Local`]) or public ([`Scope::Public`]), found by asking the kernel which source
    /// address it would route an outgoing UDP datagram from (nothing is sent). `None` when the
    /// machine has no address in that scope.
    pub fn host(self) -> Option<String> {
        match self {
            Scope::Device => Some("localhost".to_owned()),
            Scope::Local => outward_ip()
                .filter(|ip| is_private(*ip))
                .map(|ip| ip.to_string()),
            Scope::Public => outward_ip()
                .filter(|ip| !is_private(*ip) && !ip.is_loopback() && !ip.is_unspecified())
                .map(|ip| ip.to_string()),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is none of `device`, `local`, `private`, `public`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (expected device, local, private or public)")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "device" => Ok(Scope::Device),
            "local" | "private" => Ok(Scope::Local),
            "public" => Ok(Scope::Public),
            other => Err(UnknownScope(other.to_owned())),
        }
    }
}

/// True for addresses only reachable on a local network: RFC 1918, link-local, unique-local IPv6.
pub(crate) fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The source address the kernel would use for traffic leaving this machine, if it has a route.
fn outward_ip() -> Option<IpAddr> {
    // 192.0.2.1 is TEST-NET-1 (documentation only): connecting a UDP socket only selects a route.
    let probe = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 9));
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect(probe).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!("private".parse::<Scope>(), Ok(Scope::Local));
        assert_eq!("device".parse::<Scope>(), Ok(Scope::Device));
        assert!("lan".parse::<Scope>().is_err());
        assert_eq!(Scope::Device.host().as_deref(), Some("localhost"));
    }

    #[test]
    fn private_ranges() {
        assert!(is_private("192.168.1.2".parse().unwrap()));
        assert!(is_private("fe80::1".parse().unwrap()));
        assert!(is_private("fd00::1".parse().unwrap()));
        assert!(!is_private("8.8.4.4".parse().unwrap()));
        assert!(!is_private("2001:db8::1".parse().unwrap()));
    }
}
