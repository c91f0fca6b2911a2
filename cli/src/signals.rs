//! Ctrl-C (SIGINT) and SIGTERM: caught by `serve` to close gracefully, and by `call` and
//! `manifest` to stop at once with the conventional exit code (130 or 143).

use std::fmt;

use crate::failure::Failure;

/// A signal that stops a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C.
    Interrupt,
    /// `kill` (SIGTERM).
    Terminate,
}

impl Signal {
    /// The conventional exit code of a command stopped by this signal: 128 + its number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Ctrl-C, and SIGTERM on Unix; on Unix both are caught from [`Signals::new`] on (the default
/// action, ending the process, no longer applies).
pub struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts catching the signals. Needs a Tokio runtime.
    pub fn new() -> Result<Signals, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let catch = |kind: SignalKind, name: &str| {
                signal(kind).map_err(|e| Failure::usage(format!("cannot catch {name}: {e}")))
            };
            Ok(Signals {
                int: catch(SignalKind::interrupt(), "SIGINT")?,
                term: catch(SignalKind::terminate(), "SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal received.
    pub async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => Signal::Interrupt,
                _ = self.term.recv() => Signal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}

/// Runs `command` until it finishes or a signal arrives; a signal drops it (closing its
/// connection at once) and is [`Failure::Interrupted`].
pub async fn interruptible(
    command: impl Future<Output = Result<(), Failure>>,
) -> Result<(), Failure> {
    let mut signals = Signals::new()?;
    tokio::select! {
        result = command => result,
        signal = signals.next() => Err(Failure::Interrupted(signal)),
    }
}
