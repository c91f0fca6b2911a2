//! Why [`Multiserver::connect`](super::Multiserver::connect) failed: [`DialError`], and the
//! reasons an address was not understood ([`ParseFailures`]).
//!
//! Each level of the error chain says one thing: the top says what failed and where (the JS text
//! for an address nobody understands), [`std::error::Error::source`] says why. Print the whole
//! chain (`{e}: {source}: …`) to see the reason.

use std::error::Error;
use std::fmt;
use std::io;
use std::ops::Deref;

use super::address::AddressError;
use super::transform::TransformError;

/// Why [`Multiserver::connect`](super::Multiserver::connect) failed.
#[derive(Debug)]
pub enum DialError {
    /// No alternative was understood by any outgoing suite. Displays as JS's text
    /// (`could not connect to:<address>, only know:<suites>`); its source lists why each
    /// alternative was not understood.
    Unparseable {
        /// The address given.
        address: String,
        /// The outgoing suites, `;`-joined (`net~shs;ws~shs`).
        suites: String,
        /// For each alternative and suite tried, why it did not parse.
        reasons: ParseFailures,
    },
    /// The transport could not open a byte stream; the source is the I/O error.
    Dial {
        /// The alternative dialled.
        address: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The transform (handshake) failed; the source is the transform's error (for `shs` the JS
    /// `shs.client: …` text and what happened).
    Transform {
        /// The alternative dialled.
        address: String,
        /// The transform's error.
        source: TransformError,
    },
    /// Several alternatives were tried and all failed, in this order. Displays every failure with
    /// its reasons.
    Exhausted(Vec<DialError>),
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::Unparseable {
                address, suites, ..
            } => write!(f, "could not connect to:{address}, only know:{suites}"),
            DialError::Dial { address, .. } => write!(f, "could not dial {address}"),
            DialError::Transform { address, .. } => {
                write!(f, "the handshake with {address} failed")
            }
            DialError::Exhausted(failures) => {
                write!(f, "all {} alternatives failed: ", failures.len())?;
                for (i, failure) in failures.iter().enumerate() {
                    let separator = if i == 0 { "" } else { "; " };
                    write!(f, "{separator}{}", chain_text(failure))?;
                }
                Ok(())
            }
        }
    }
}

impl Error for DialError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            DialError::Unparseable { reasons, .. } if !reasons.is_empty() => Some(reasons),
            DialError::Dial { source, .. } => Some(source),
            DialError::Transform { source, .. } => Some(source),
            DialError::Unparseable { .. } | DialError::Exhausted(_) => None,
        }
    }
}

/// Why each alternative of an address was not understood: `(alternative, reason)`, one entry per
/// alternative and outgoing suite tried. Read it as a slice; as an error it displays the reasons
/// (each prefixed by its alternative when the address has several).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParseFailures(pub Vec<(String, AddressError)>);

impl Deref for ParseFailures {
    type Target = [(String, AddressError)];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl fmt::Display for ParseFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let several = self.0.windows(2).any(|pair| pair[0].0 != pair[1].0);
        for (i, (alternative, reason)) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { "" } else { "; " })?;
            if several {
                write!(f, "{alternative:?}: ")?;
            }
            write!(f, "{reason}")?;
        }
        Ok(())
    }
}

impl Error for ParseFailures {}

/// An error and its sources, `: `-joined: the whole reason on one line.
pub(crate) fn chain_text(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
