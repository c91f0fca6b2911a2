//! Why an app could not be built or started ([`StartError`]), and why a dial failed
//! ([`ConnectError`]).
//!
//! JS reports several of the start-up mistakes late or not at all (a missing `needs` throws
//! uncaught on the next tick, a duplicate plugin is skipped with a log line, a manifest clash
//! silently overwrites); here each is a typed error from
//! [`Builder::build`](super::Builder::build) / [`Builder::start`](super::Builder::start). Where JS
//! has a message, the `Display` text is JS's.

use crate::multiserver::{self, RegistryError};

use super::config::ConfigError;

/// An error a plugin factory returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why [`Builder::build`](super::Builder::build) or [`Builder::start`](super::Builder::start)
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The config is unusable: no app key (`secret-stack/plugins/shs must have caps.shs
    /// configured`), a key of the wrong size, a malformed `connections` or `master`.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A plugin is called `global`, which names the shared config section.
    #[error("plugin named \"global\" is reserved")]
    ReservedName,
    /// Two plugins have the same name (compared literally, as JS does). JS skips the second
    /// with a log line; silently running without a plugin is worse than refusing to start.
    #[error("plugin named:{0} is already loaded")]
    DuplicatePlugin(String),
    /// A plugin needs one that was not added (`?` for an unnamed plugin).
    #[error("secret-stack plugin \"{plugin}\" needs plugin \"{needed}\" but not found")]
    MissingNeed {
        /// The plugin with the need.
        plugin: String,
        /// The missing plugin.
        needed: String,
    },
    /// Plugins need each other in a cycle (each named, the first again at the end), so none can
    /// be initialised first. Break the cycle: one of them can look the other up at run time
    /// instead (through the app, once built).
    #[error("plugins need each other in a cycle: {}; remove one of these needs", .0.join(" → "))]
    NeedsCycle(Vec<String>),
    /// A plugin's manifest names a method that is already in the app's manifest (from the core or
    /// another plugin), or a method where another has a namespace (JS would silently overwrite).
    #[error("plugin {plugin:?}: `{path}` clashes with an existing entry of the app's manifest")]
    ManifestClash {
        /// The plugin.
        plugin: String,
        /// The dotted path, mount included.
        path: String,
    },
    /// A plugin factory failed.
    #[error("plugin {plugin:?} failed to initialise: {source}")]
    PluginInit {
        /// The plugin.
        plugin: String,
        /// The factory's error.
        source: BoxError,
    },
    /// A factory given to [`Builder::plugin_with`](super::Builder::plugin_with) under one name
    /// made a plugin with another.
    #[error("the factory registered as plugin {expected:?} made a plugin named {got:?}")]
    PluginNameMismatch {
        /// The name given to `plugin_with`.
        expected: String,
        /// The name of the plugin it returned.
        got: String,
    },
    /// Two transports or transforms with one name were added.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Why [`App::connect`](super::App::connect) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The address was not understood, the dial failed or the handshake failed: multiserver's
    /// error, as it is. Its `Display` says what failed (for an unparseable address JS's `could not
    /// connect to:<address>, only know:<suites>`) and its
    /// [`source`](std::error::Error::source) chain why (the address's faults; the I/O error; for
    /// a refused handshake the JS `shs.client: …` text and what happened).
    #[error(transparent)]
    Dial(#[from] multiserver::DialError),
    /// The app is closing or closed.
    #[error("the app is closed")]
    Closed,
    /// The app's plugins are still being made (a plugin dialled from its init): dial once
    /// [`Builder::build`](super::Builder::build) has returned.
    #[error("the app is still being built: dial once every plugin is initialised")]
    NotBuilt,
    /// A connect hook ([`App::connect_hook`](super::App::connect_hook)) refused the dial; nothing
    /// was dialled. The reason is the hook's.
    #[error(
        "a connect hook refused to dial {address}: {reason} (remove the hook or dial another address)"
    )]
    Refused {
        /// The address the hook was asked to dial.
        address: String,
        /// Why, in the hook's words.
        reason: String,
    },
}

impl ConnectError {
    /// A refusal from a connect hook: [`ConnectError::Refused`].
    pub fn refused(address: impl Into<String>, reason: impl Into<String>) -> ConnectError {
        ConnectError::Refused {
            address: address.into(),
            reason: reason.into(),
        }
    }
}
