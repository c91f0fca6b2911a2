//! Per-IP counting for the incoming caps of [`super::limits`]: what each remote address holds
//! (connections, handshakes in progress), and the address of an incoming stream read from its
//! transport address (also how the handshake's refusal log tells hosts apart).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tracing::{debug, warn};

/// What is counted per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// Incoming connections, from accept to the end of the session.
    Connections,
    /// Handshakes in progress.
    Handshakes,
}

/// What one address holds now.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    connections: usize,
    handshakes: usize,
}

impl Counts {
    fn of(&mut self, held: Held) -> &mut usize {
        match held {
            Held::Connections => &mut self.connections,
            Held::Handshakes => &mut self.handshakes,
        }
    }
}

/// Per address, what it holds; only addresses holding something are kept, so the map is bounded
/// by the connections held.
#[derive(Debug, Default)]
pub(crate) struct PerIpCounts {
    map: Mutex<HashMap<IpAddr, Counts>>,
}

impl PerIpCounts {
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Counts>> {
        // Every change is a counter update: a panic elsewhere leaves nothing half-done.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one of `ip`'s places of kind `held` if it holds fewer than `max`.
    pub(crate) fn take(&self, ip: IpAddr, max: usize, held: Held) -> bool {
        let mut map = self.lock();
        let count = map.entry(ip).or_default().of(held);
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    /// Gives back one of `ip`'s places of kind `held`; forgets the address once it holds nothing.
    pub(crate) fn release(&self, ip: IpAddr, held: Held) {
        let mut map = self.lock();
        if let Some(counts) = map.get_mut(&ip) {
            let count = counts.of(held);
            *count = count.saturating_sub(1);
            if counts.connections == 0 && counts.handshakes == 0 {
                map.remove(&ip);
            }
        }
    }

    /// True when no address holds anything.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// Counts a per-IP refusal in `counter`; logs the first and then every power of two, so a flood
/// cannot flood the log.
pub(crate) fn note_refusal(counter: &AtomicU64, ip: IpAddr, max: usize, what: &str) {
    let n = counter.fetch_add(1, Ordering::AcqRel) + 1;
    if n.is_power_of_two() {
        warn!(%ip, max, refused = n, "{what}: closed ({n} refused so far)");
    } else {
        debug!(%ip, max, "{what}: closed");
    }
}

/// The remote IP address of a transport address (`net:10.0.0.2:5000`, `net:fe80::1:5000`,
/// `ws://10.0.0.2:5000/`, `ws://[::1]:5000`, with or without `~transform` sections after it);
/// `None` for transports without one (`unix:…`) or anything unparsable.
pub(crate) fn ip_of(address: &str) -> Option<IpAddr> {
    let section = address.split('~').next()?;
    let (_, rest) = section.split_once(':')?;
    let rest = rest.trim_start_matches('/');
    let authority = rest.split('/').next()?;
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split(']').next()?.parse().ok();
    }
    // The last `:` part is the port (`net` always has one, and an IPv6 host of `net` is not
    // bracketed); an address without a port is the host alone.
    match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host.parse().ok(),
        _ => authority.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_of_reads_the_transport_address() {
        let v4: IpAddr = "10.0.0.2".parse().unwrap();
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(ip_of("net:10.0.0.2:5000"), Some(v4));
        assert_eq!(ip_of("net:10.0.0.2:5000~shs:abc"), Some(v4));
        assert_eq!(ip_of("net:fe80::1:5000"), Some(v6));
        assert_eq!(ip_of("ws://10.0.0.2:5000/"), Some(v4));
        assert_eq!(ip_of("ws://[fe80::1]:5000"), Some(v6));
        assert_eq!(ip_of("ws://10.0.0.2"), Some(v4));
        assert_eq!(ip_of("unix:/tmp/x/socket"), None);
        assert_eq!(ip_of("net:example.org:5000"), None);
        assert_eq!(ip_of("garbage"), None);
    }

    #[test]
    fn counts_are_per_address_and_kind_and_forgotten_at_zero() {
        let counts = PerIpCounts::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(counts.take(a, 1, Held::Connections));
        assert!(!counts.take(a, 1, Held::Connections));
        assert!(counts.take(a, 1, Held::Handshakes));
        assert!(counts.take(b, 1, Held::Connections));
        counts.release(a, Held::Connections);
        counts.release(a, Held::Handshakes);
        counts.release(b, Held::Connections);
        assert!(counts.is_empty());
    }
}
