//! Caps on incoming connections and handshakes in progress: the limits, the shared gate that
//! enforces them across listeners, and its counters. How they work is on [`IncomingLimits`].

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use super::per_ip::{Held, PerIpCounts, ip_of, note_refusal};

/// Default [`IncomingLimits::max_connections`]: 1024.
///
/// Each incoming connection costs this process one file descriptor, a few tasks and the RPC
/// session's buffers (tens of KiB when idle). 1024 is several times what a busy Scuttlebutt pub
/// serves, matches the common default soft limit on open files (`ulimit -n`), and keeps a full
/// node in the tens of MiB.
pub const DEFAULT_MAX_CONNECTIONS: NonZeroUsize = NonZeroUsize::MIN.saturating_add(1023);

/// Default [`IncomingLimits::max_handshakes`]: 128.
///
/// A handshake costs a task, a socket and a few hundred bytes of state, plus about a millisecond
/// of CPU; honest peers finish it in one round trip. 128 in flight is far more than an honest node
/// sees at once, and 128 stalled ones (each cut by the handshake timeout, 15 s by default) pin
/// under a MiB.
pub const DEFAULT_MAX_HANDSHAKES: NonZeroUsize = NonZeroUsize::MIN.saturating_add(127);

/// The default of both per-IP caps: none (the largest `usize`, so only the global caps apply).
pub const NO_PER_IP_CAP: NonZeroUsize = NonZeroUsize::MAX;

/// How many incoming connections a node serves at once (a Rust extension: JS secret-stack and
/// multiserver have no caps), so that a flood of sockets, or of peers stalling mid-handshake,
/// cannot grow memory and tasks without bound.
///
/// An [`IncomingGate`] is shared by every listener of a [`Server`](crate::multiserver::Server)
/// (and, in the stack, by every listener of an app). Each accepted byte stream goes through it
/// twice:
///
/// 1. **Connection cap** ([`IncomingLimits::max_connections`]): the stream takes a
///    [`ConnectionSlot`], held from accept until the connection ends (handshake, wait in the
///    accept queue, RPC session). With none free, the stream is **closed at once**: a slot only
///    frees when some session ends, which may take hours, so making the client wait would only
///    hang it; closing lets it fail fast (its handshake reads EOF) and try elsewhere or later. The
///    first refusal of a burst is logged at `warn`, the others at `debug`, and the end of the burst
///    at `info` with how many were refused.
/// 2. **Handshake cap** ([`IncomingLimits::max_handshakes`]): the transform (the `shs` secret
///    handshake) runs only while holding a handshake slot. With none free, **accepting pauses**
///    until one frees: every handshake ends within its timeout, so the wait is short, and the
///    sockets meanwhile wait in the kernel's listen backlog, which bounds them without any memory
///    of ours. An honest burst (a pub restarting and all its peers reconnecting) is then served in
///    order instead of being refused, and established sessions are not affected at all (they do
///    not go through the accept loop).
///
/// Both have a **per-IP** twin ([`IncomingLimits::max_connections_per_ip`],
/// [`IncomingLimits::max_handshakes_per_ip`]), so that one address cannot take every place: over
/// either, a new stream from that address is **closed at once** (pausing the accept loop for one
/// address would let it stall everyone else). The address is the transport's remote IP (`net`,
/// `ws`); streams of transports without one (`unix`, custom ones) are not counted per IP. A per-IP
/// cap at or above its global twin has no effect. By default there is none ([`NO_PER_IP_CAP`]):
/// JS has no such caps, and peers on one machine or behind one NAT share an address. A public
/// node should set them (`global.incomingLimits` in the config, or [`IncomingLimits`] in the
/// builder).
///
/// Outgoing connections ([`Multiserver::connect`](crate::multiserver::Multiserver::connect),
/// `App::connect`) take no slot and are not capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IncomingLimits {
    /// Incoming connections held at once, from accept to the end of the session (handshake
    /// included). Beyond it new ones are closed at once. Default [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: NonZeroUsize,
    /// Handshakes (transforms) in progress at once. At the cap, accepting pauses until one ends.
    /// Default [`DEFAULT_MAX_HANDSHAKES`].
    pub max_handshakes: NonZeroUsize,
    /// Incoming connections held at once from one IP address. Beyond it new ones from that
    /// address are closed at once. At or above `max_connections` it has no effect. Default
    /// [`NO_PER_IP_CAP`].
    pub max_connections_per_ip: NonZeroUsize,
    /// Handshakes in progress at once from one IP address. Beyond it new connections from that
    /// address are closed at once (accepting does not pause for them). At or above
    /// `max_handshakes` it has no effect. Default [`NO_PER_IP_CAP`].
    pub max_handshakes_per_ip: NonZeroUsize,
}

impl Default for IncomingLimits {
    fn default() -> Self {
        IncomingLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            max_connections_per_ip: NO_PER_IP_CAP,
            max_handshakes_per_ip: NO_PER_IP_CAP,
        }
    }
}

impl IncomingLimits {
    /// Limits with both global caps given and no per-IP caps.
    pub fn new(max_connections: NonZeroUsize, max_handshakes: NonZeroUsize) -> IncomingLimits {
        IncomingLimits {
            max_connections,
            max_handshakes,
            max_connections_per_ip: NO_PER_IP_CAP,
            max_handshakes_per_ip: NO_PER_IP_CAP,
        }
    }

    /// The same with per-IP caps.
    pub fn per_ip(mut self, connections: NonZeroUsize, handshakes: NonZeroUsize) -> IncomingLimits {
        self.max_connections_per_ip = connections;
        self.max_handshakes_per_ip = handshakes;
        self
    }

    /// True when the per-IP connection cap can be reached before the global one.
    fn counts_connections_per_ip(&self) -> bool {
        self.max_connections_per_ip < self.max_connections
    }

    /// True when the per-IP handshake cap can be reached before the global one.
    fn counts_handshakes_per_ip(&self) -> bool {
        self.max_handshakes_per_ip < self.max_handshakes
    }
}

/// A snapshot of an [`IncomingGate`]: what is held now, the highest it went, what was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingStats {
    /// The caps in force.
    pub limits: IncomingLimits,
    /// Incoming connections holding a slot now (in handshake, waiting to be taken, or in session).
    pub connections: usize,
    /// Handshakes in progress now.
    pub handshakes: usize,
    /// The most connections held at once so far.
    pub peak_connections: usize,
    /// The most handshakes in progress at once so far.
    pub peak_handshakes: usize,
    /// Connections closed at once because the connection cap was reached.
    pub refused: u64,
    /// Accepted connections whose handshake had to wait for a free slot (accepting paused).
    pub deferred: u64,
    /// Connections closed at once because their IP address was at its connection cap.
    pub refused_per_ip: u64,
    /// Connections closed at once because their IP address was at its handshake cap.
    pub refused_handshakes_per_ip: u64,
}

/// The counters of one gate.
#[derive(Debug)]
struct Shared {
    limits: IncomingLimits,
    handshake_permits: Arc<Semaphore>,
    connections: AtomicUsize,
    handshakes: AtomicUsize,
    peak_connections: AtomicUsize,
    peak_handshakes: AtomicUsize,
    refused: AtomicU64,
    deferred: AtomicU64,
    /// True from the first refusal of a burst until a connection is admitted again.
    refusing: AtomicBool,
    /// Refusals in the current burst.
    burst: AtomicU64,
    /// Per IP address, what it holds; empty unless a per-IP cap is in force.
    per_ip: PerIpCounts,
    refused_per_ip: AtomicU64,
    refused_handshakes_per_ip: AtomicU64,
}

/// The shared state that enforces [`IncomingLimits`] across listeners. Cheap to clone (clones
/// share the counters); how the caps work is on [`IncomingLimits`].
#[derive(Debug, Clone)]
pub struct IncomingGate {
    shared: Arc<Shared>,
}

impl Default for IncomingGate {
    fn default() -> Self {
        IncomingGate::new(IncomingLimits::default())
    }
}

impl IncomingGate {
    /// A gate with nothing held. A cap above [`Semaphore::MAX_PERMITS`] handshakes (about 2^61) is
    /// taken as that.
    pub fn new(limits: IncomingLimits) -> IncomingGate {
        let permits = limits.max_handshakes.get().min(Semaphore::MAX_PERMITS);
        IncomingGate {
            shared: Arc::new(Shared {
                limits,
                handshake_permits: Arc::new(Semaphore::new(permits)),
                connections: AtomicUsize::new(0),
                handshakes: AtomicUsize::new(0),
                peak_connections: AtomicUsize::new(0),
                peak_handshakes: AtomicUsize::new(0),
                refused: AtomicU64::new(0),
                deferred: AtomicU64::new(0),
                refusing: AtomicBool::new(false),
                burst: AtomicU64::new(0),
                per_ip: PerIpCounts::default(),
                refused_per_ip: AtomicU64::new(0),
                refused_handshakes_per_ip: AtomicU64::new(0),
            }),
        }
    }

    /// The caps in force.
    pub fn limits(&self) -> IncomingLimits {
        self.shared.limits
    }

    /// What is held now and what was turned away so far.
    pub fn stats(&self) -> IncomingStats {
        let s = &self.shared;
        IncomingStats {
            limits: s.limits,
            connections: s.connections.load(Ordering::Acquire),
            handshakes: s.handshakes.load(Ordering::Acquire),
            peak_connections: s.peak_connections.load(Ordering::Acquire),
            peak_handshakes: s.peak_handshakes.load(Ordering::Acquire),
            refused: s.refused.load(Ordering::Acquire),
            deferred: s.deferred.load(Ordering::Acquire),
            refused_per_ip: s.refused_per_ip.load(Ordering::Acquire),
            refused_handshakes_per_ip: s.refused_handshakes_per_ip.load(Ordering::Acquire),
        }
    }

    /// Takes a connection slot for the stream from `from` (a transport address), or says no (and
    /// logs it) when the connection cap, or that of `from`'s IP address, is reached.
    pub(crate) fn admit(&self, from: &str) -> Option<ConnectionSlot> {
        let s = &self.shared;
        let per_ip = s.limits.counts_connections_per_ip();
        let ip = if per_ip || s.limits.counts_handshakes_per_ip() {
            ip_of(from)
        } else {
            None
        };
        let counted = match ip {
            Some(ip) if per_ip => {
                let max = s.limits.max_connections_per_ip.get();
                if !s.per_ip.take(ip, max, Held::Connections) {
                    let what = "at the per-IP incoming connection cap";
                    note_refusal(&s.refused_per_ip, ip, max, what);
                    return None;
                }
                Some(ip)
            }
            _ => None,
        };
        let slot = self.admit_global(from, ip, counted);
        if slot.is_none()
            && let Some(ip) = counted
        {
            s.per_ip.release(ip, Held::Connections);
        }
        slot
    }

    /// The global half of [`IncomingGate::admit`]; the slot gives back `counted`'s place too.
    fn admit_global(
        &self,
        from: &str,
        ip: Option<IpAddr>,
        counted: Option<IpAddr>,
    ) -> Option<ConnectionSlot> {
        let s = &self.shared;
        let max = s.limits.max_connections.get();
        let taken = s
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        match taken {
            Ok(before) => {
                s.peak_connections.fetch_max(before + 1, Ordering::AcqRel);
                if s.refusing.swap(false, Ordering::AcqRel) {
                    let refused = s.burst.swap(0, Ordering::AcqRel);
                    info!(
                        refused,
                        max_connections = max,
                        "incoming connections accepted again after refusing {refused} at the cap"
                    );
                }
                Some(ConnectionSlot {
                    shared: Arc::clone(s),
                    ip,
                    counted,
                })
            }
            Err(_) => {
                s.refused.fetch_add(1, Ordering::AcqRel);
                s.burst.fetch_add(1, Ordering::AcqRel);
                if s.refusing.swap(true, Ordering::AcqRel) {
                    debug!(%from, max_connections = max, "at the connection cap: closed");
                } else {
                    warn!(
                        %from,
                        max_connections = max,
                        "at the incoming connection cap: closing new connections until one ends"
                    );
                }
                None
            }
        }
    }

    /// A place among the handshakes of the connection's IP address, or `None` when that address
    /// is at its handshake cap (the connection is then to be closed). Connections without an IP
    /// address, or with the per-IP handshake cap not in force, always get one.
    pub(crate) fn admit_handshake(&self, connection: &ConnectionSlot) -> Option<IpHandshakeSlot> {
        let s = &self.shared;
        let ip = if s.limits.counts_handshakes_per_ip() {
            connection.ip
        } else {
            None
        };
        let Some(ip) = ip else {
            return Some(IpHandshakeSlot { held: None });
        };
        let max = s.limits.max_handshakes_per_ip.get();
        if !s.per_ip.take(ip, max, Held::Handshakes) {
            let what = "at the per-IP handshake cap";
            note_refusal(&s.refused_handshakes_per_ip, ip, max, what);
            return None;
        }
        Some(IpHandshakeSlot {
            held: Some((Arc::clone(s), ip)),
        })
    }

    /// A handshake slot if one is free now.
    pub(crate) fn try_handshake(&self) -> Option<HandshakeSlot> {
        let permit = Arc::clone(&self.shared.handshake_permits)
            .try_acquire_owned()
            .ok()?;
        Some(self.started(permit))
    }

    /// Waits for a handshake slot (counted as deferred). `None` only if the semaphore was closed,
    /// which this type never does.
    pub(crate) async fn wait_handshake(&self) -> Option<HandshakeSlot> {
        let permit = Arc::clone(&self.shared.handshake_permits)
            .acquire_owned()
            .await
            .ok()?;
        Some(self.started(permit))
    }

    /// Counts a connection whose handshake has to wait.
    pub(crate) fn note_deferred(&self) {
        self.shared.deferred.fetch_add(1, Ordering::AcqRel);
    }

    fn started(&self, permit: OwnedSemaphorePermit) -> HandshakeSlot {
        let s = &self.shared;
        let now = s.handshakes.fetch_add(1, Ordering::AcqRel) + 1;
        s.peak_handshakes.fetch_max(now, Ordering::AcqRel);
        HandshakeSlot {
            _permit: permit,
            shared: Arc::clone(s),
        }
    }
}

/// An incoming connection's place under [`IncomingLimits::max_connections`]; the place frees when
/// this is dropped. Keep it as long as the connection lives (the stack holds it until the session
/// ends).
#[derive(Debug)]
pub struct ConnectionSlot {
    shared: Arc<Shared>,
    /// The remote IP address, when a per-IP cap is in force and the transport has one.
    ip: Option<IpAddr>,
    /// The address counted under the per-IP connection cap, if that cap is in force.
    counted: Option<IpAddr>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.shared.connections.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.counted {
            self.shared.per_ip.release(ip, Held::Connections);
        }
    }
}

/// A handshake's place under [`IncomingLimits::max_handshakes_per_ip`]; frees when dropped.
#[derive(Debug)]
pub(crate) struct IpHandshakeSlot {
    held: Option<(Arc<Shared>, IpAddr)>,
}

impl Drop for IpHandshakeSlot {
    fn drop(&mut self) {
        if let Some((shared, ip)) = self.held.take() {
            shared.per_ip.release(ip, Held::Handshakes);
        }
    }
}

/// A handshake's place under [`IncomingLimits::max_handshakes`]; frees when dropped.
#[derive(Debug)]
pub(crate) struct HandshakeSlot {
    _permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.shared.handshakes.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
    }

    #[test]
    fn defaults() {
        let l = IncomingLimits::default();
        assert_eq!(l.max_connections.get(), 1024);
        assert_eq!(l.max_handshakes.get(), 128);
        assert!(!l.counts_connections_per_ip() && !l.counts_handshakes_per_ip());
    }

    #[test]
    fn connection_cap_refuses_then_admits_after_a_slot_frees() {
        let gate = IncomingGate::new(IncomingLimits::new(nz(2), nz(1)));
        let a = gate.admit("a");
        let b = gate.admit("b");
        assert!(a.is_some() && b.is_some());
        assert!(gate.admit("c").is_none());
        assert!(gate.admit("d").is_none());
        let s = gate.stats();
        assert_eq!((s.connections, s.peak_connections, s.refused), (2, 2, 2));
        assert!(gate.shared.refusing.load(Ordering::Acquire));
        assert_eq!(gate.shared.burst.load(Ordering::Acquire), 2);
        drop(a);
        assert_eq!(gate.stats().connections, 1);
        let e = gate.admit("e");
        assert!(e.is_some());
        // The burst is over and its count reset.
        assert!(!gate.shared.refusing.load(Ordering::Acquire));
        assert_eq!(gate.shared.burst.load(Ordering::Acquire), 0);
        drop((b, e));
        let s = gate.stats();
        assert_eq!((s.connections, s.peak_connections, s.refused), (0, 2, 2));
    }

    #[test]
    fn per_ip_connection_cap_refuses_that_address_only() {
        let limits = IncomingLimits::new(nz(10), nz(10)).per_ip(nz(2), nz(10));
        let gate = IncomingGate::new(limits);
        let a1 = gate.admit("net:10.0.0.1:1");
        let a2 = gate.admit("net:10.0.0.1:2");
        assert!(a1.is_some() && a2.is_some());
        assert!(gate.admit("net:10.0.0.1:3").is_none());
        // Another address, and a transport without one, are not held back.
        let b = gate.admit("net:10.0.0.2:1");
        let u = gate.admit("unix:/tmp/socket");
        assert!(b.is_some() && u.is_some());
        let s = gate.stats();
        assert_eq!((s.connections, s.refused, s.refused_per_ip), (4, 0, 1));
        drop(a1);
        let a3 = gate.admit("net:10.0.0.1:4");
        assert!(a3.is_some());
        drop((a2, a3, b, u));
        assert_eq!(gate.stats().connections, 0);
        assert!(
            gate.shared.per_ip.is_empty(),
            "addresses holding nothing are forgotten"
        );
    }

    #[test]
    fn a_global_refusal_gives_back_the_per_ip_place() {
        let limits = IncomingLimits::new(nz(1), nz(10)).per_ip(nz(1), nz(10));
        let gate = IncomingGate::new(limits);
        let a = gate.admit("net:10.0.0.1:1");
        assert!(a.is_some());
        assert!(gate.admit("net:10.0.0.2:1").is_none());
        drop(a);
        assert!(gate.shared.per_ip.is_empty());
        assert!(gate.admit("net:10.0.0.2:2").is_some());
    }

    #[test]
    fn per_ip_handshake_cap_refuses_that_address_only() {
        let limits = IncomingLimits::new(nz(10), nz(10)).per_ip(nz(10), nz(1));
        let gate = IncomingGate::new(limits);
        let slots: Vec<_> = ["net:10.0.0.1:1", "net:10.0.0.1:2", "net:10.0.0.2:1"]
            .iter()
            .filter_map(|a| gate.admit(a))
            .collect();
        assert_eq!(slots.len(), 3, "the per-IP connection cap is not in force");
        let first = gate.admit_handshake(&slots[0]);
        assert!(first.is_some());
        assert!(gate.admit_handshake(&slots[1]).is_none());
        assert!(gate.admit_handshake(&slots[2]).is_some());
        assert_eq!(gate.stats().refused_handshakes_per_ip, 1);
        drop(first);
        assert!(gate.admit_handshake(&slots[1]).is_some());
    }

    #[test]
    fn per_ip_caps_at_or_above_the_global_ones_count_nothing() {
        // Raising a global cap above what was the default leaves the per-IP caps off.
        let raised = IncomingLimits {
            max_handshakes: nz(512),
            max_connections: nz(20_000),
            ..IncomingLimits::default()
        };
        assert!(!raised.counts_connections_per_ip() && !raised.counts_handshakes_per_ip());
        let gate = IncomingGate::new(IncomingLimits::default().per_ip(nz(1024), nz(128)));
        let slot = gate.admit("net:10.0.0.1:1");
        let handshake = slot.as_ref().and_then(|s| gate.admit_handshake(s));
        assert!(handshake.is_some());
        assert!(gate.shared.per_ip.is_empty());
    }

    #[tokio::test]
    async fn handshake_cap_makes_the_next_one_wait() {
        let gate = IncomingGate::new(IncomingLimits::new(nz(10), nz(2)));
        let a = gate.try_handshake();
        let b = gate.try_handshake();
        assert!(a.is_some() && b.is_some());
        assert!(gate.try_handshake().is_none());
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.wait_handshake().await.is_some() })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(gate.stats().handshakes, 2);
        drop(a);
        assert!(matches!(waiter.await, Ok(true)));
        let s = gate.stats();
        assert_eq!((s.handshakes, s.peak_handshakes), (1, 2));
    }
}
