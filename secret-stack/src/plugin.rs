//! Plugins: a named group of RPC methods with their manifest and permissions, usually written
//! with the [`plugin`](crate::plugin) attribute.
//!
//! A [`Plugin`] describes itself with paths *relative to its mount point*; the stack mounts it
//! under the camelCase of its name (`"friends-graph"` → `friendsGraph`), prefixes its method
//! paths and permission entries with that mount name, and merges the permissions the way JS
//! secret-stack does.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::rpc::dispatch::Method;
use crate::rpc::manifest::Manifest;
use crate::rpc::permissions::Permissions;

/// A set of RPC methods served under one mount name.
///
/// `#[plugin]` implements it for an `impl` block; a hand-written implementation works the same.
pub trait Plugin: Send + Sync + 'static {
    /// The plugin's name as JS knows it (e.g. `"test"`, `"friends-graph"`).
    fn name(&self) -> &str;

    /// The plugin's version (informational, as in JS).
    fn version(&self) -> &str;

    /// The names of the plugins this one needs.
    fn needs(&self) -> &[&str] {
        &[]
    }

    /// The manifest of the methods, relative to the mount point (`{"hello": "async", …}`).
    fn manifest(&self) -> Manifest;

    /// Permission groups (`"anonymous"`, or any group an `auth` hook hands out) → the allow-list
    /// of this plugin's methods, as relative dotted paths. Full access ("master") is not a group:
    /// it comes from `auth`, so master-only methods are in no group.
    fn permissions(&self) -> BTreeMap<String, Permissions>;

    /// The methods, with paths relative to the mount point.
    fn methods(self: Arc<Self>) -> Vec<Method>;
}
