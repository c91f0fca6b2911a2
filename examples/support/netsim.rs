//! What the network simulator's programs share (`netsim_peer`, `netsim_crowd`, driven by
//! `netsim/run.sh`): wall-clock timestamps comparable across processes, the peers' identities
//! derived from their numbers, and the append-only event file each process writes for the
//! harness to analyse.
//!
//! Every process of a run is on one machine, so `CLOCK_REALTIME` is one clock for all of them:
//! an append logged by one peer and its arrival logged by another can be subtracted.
//! Their logs go to stderr (the harness keeps one file per process), at `warn` unless `RUST_LOG`
//! says otherwise.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use secret_stack::keys::Keypair;

/// Microseconds since the Unix epoch (`CLOCK_REALTIME`), 0 if the clock is before 1970.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The key pair of peer number `index`: derived from the number, so every peer knows every
/// other's id without exchanging keys, and a restarted peer is the same author.
pub fn keypair_of(index: u32) -> Keypair {
    let mut seed = [0x4e; 32];
    seed[..4].copy_from_slice(&index.to_le_bytes());
    Keypair::from_seed(&seed)
}

/// An append-only file of event lines, `<kind> <time µs> <fields…>`. Each line is written with
/// one `write` call on a file opened for appending, so lines of a process killed at any moment
/// are whole or absent, and lines of one process are in the order they happened.
#[derive(Debug)]
pub struct EventLog {
    file: Mutex<File>,
}

impl EventLog {
    /// Opens (creating it if needed) the file at `path` for appending.
    pub fn open(path: &Path) -> io::Result<EventLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(EventLog {
            file: Mutex::new(file),
        })
    }

    /// Writes `<kind> <now µs> <fields>`.
    pub fn write(&self, kind: &str, fields: std::fmt::Arguments<'_>) {
        let line = format!("{kind} {} {fields}\n", now_us());
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::error!("netsim: cannot write the event log: {e}");
        }
    }
}

/// Logs to stderr at `warn`, or as `RUST_LOG` says (call once, first thing in `main`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}
