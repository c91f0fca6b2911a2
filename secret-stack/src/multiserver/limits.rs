//! Caps on incoming connections and handshakes in progress: the limits, the shared gate that
//! enforces them across listeners, and its counters. How they work is on [`IncomingLimits`].

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

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
}

impl Default for IncomingLimits {
    fn default() -> Self {
        IncomingLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
        }
    }
}

impl IncomingLimits {
    /// Limits with both caps given.
    pub fn new(max_connections: NonZeroUsize, max_handshakes: NonZeroUsize) -> IncomingLimits {
        IncomingLimits {
            max_connections,
            max_handshakes,
        }
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
        }
    }

    /// Takes a connection slot for the stream from `from`, or says no (and logs it) when the
    /// connection cap is reached.
    pub(crate) fn admit(&self, from: &str) -> Option<ConnectionSlot> {
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
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.shared.connections.fetch_sub(1, Ordering::AcqRel);
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
