//! Which refused handshakes the `shs` server reports at INFO: a client with another app key is the
//! most common misconfiguration, so it deserves a line an operator sees, but a peer retrying every
//! second (or a scanner) must not flood the log. [`RefusalLog`] says yes once per peer host per
//! window, remembering a bounded number of hosts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::per_ip::ip_of;

/// How long a host stays quiet at INFO after its refusal was logged.
pub const REFUSAL_LOG_WINDOW: Duration = Duration::from_secs(60);

/// How many hosts the log remembers at once.
pub const REFUSAL_LOG_HOSTS: usize = 256;

/// Rate limit of refusal log lines: once per host per window, at most `capacity` hosts
/// remembered. When every remembered host is still inside its window, a new host is not logged
/// (at INFO) until one expires, so neither memory nor the log grows without bound.
#[derive(Debug)]
pub struct RefusalLog {
    window: Duration,
    capacity: usize,
    last: Mutex<HashMap<String, Instant>>,
}

impl Default for RefusalLog {
    fn default() -> Self {
        RefusalLog::new(REFUSAL_LOG_WINDOW, REFUSAL_LOG_HOSTS)
    }
}

impl RefusalLog {
    /// A log allowing one line per host per `window`, remembering at most `capacity` hosts.
    pub fn new(window: Duration, capacity: usize) -> Self {
        RefusalLog {
            window,
            capacity: capacity.max(1),
            last: Mutex::new(HashMap::new()),
        }
    }

    /// True if a refusal from `peer` (a transport address such as `net:10.0.0.7:51234`) at `now`
    /// should be logged: the first from its host in the window. The port is not part of the host,
    /// since each connection comes from a new one.
    pub fn should_log(&self, peer: &str, now: Instant) -> bool {
        // The remote IP, as the per-IP caps read it; a transport without one (`unix`) is keyed by
        // its whole address.
        let ip = ip_of(peer).map(|ip| ip.to_string());
        let host = ip.as_deref().unwrap_or(peer);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < self.window;
        if last.get(host).is_some_and(fresh) {
            return false;
        }
        if last.len() >= self.capacity && !last.contains_key(host) {
            last.retain(|_, at| fresh(at));
            if last.len() >= self.capacity {
                return false;
            }
        }
        last.insert(host.to_owned(), now);
        true
    }

    /// How many hosts are remembered.
    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_host_per_window_whatever_the_port() {
        let log = RefusalLog::new(Duration::from_secs(60), 8);
        let t0 = Instant::now();
        assert!(log.should_log("net:10.0.0.7:50001", t0));
        assert!(!log.should_log("net:10.0.0.7:50002", t0 + Duration::from_secs(1)));
        assert!(!log.should_log("net:10.0.0.7:50003", t0 + Duration::from_secs(59)));
        assert!(log.should_log("net:10.0.0.8:50001", t0 + Duration::from_secs(59)));
        assert!(log.should_log("net:10.0.0.7:50004", t0 + Duration::from_secs(60)));
        assert!(log.should_log("net:::1:50001", t0));
        assert!(!log.should_log("net:::1:50002", t0));
        assert!(log.should_log("unix:/run/app.sock", t0));
        assert!(!log.should_log("unix:/run/app.sock", t0));
    }

    #[test]
    fn memory_is_bounded_and_new_hosts_wait_for_a_slot() {
        let log = RefusalLog::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for host in 1..=3 {
            assert!(log.should_log(&format!("net:10.0.0.{host}:1"), t0));
        }
        // Full of hosts still in their window: a fourth is not logged, nor remembered.
        assert!(!log.should_log("net:10.0.0.4:1", t0 + Duration::from_secs(30)));
        assert_eq!(log.remembered(), 3);
        // Once they expire, it is.
        assert!(log.should_log("net:10.0.0.4:1", t0 + Duration::from_secs(61)));
        assert_eq!(log.remembered(), 1);
    }
}
