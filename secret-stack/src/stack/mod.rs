//! The stack: what turns plugins and a config into a running node — the Rust counterpart of
//! `SecretStack(defaults).use(plugin)(config)`.

pub mod config;
pub mod merge;
pub mod names;

pub use config::Config;
pub use names::mount_name;
