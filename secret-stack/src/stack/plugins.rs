//! Mounting plugins: the checks JS makes in `create.use` and `create(config)`,
//! the merged manifest and permissions, the method table, and what a plugin factory receives
//! ([`PluginInit`], JS's `init(api, config)` arguments).
//!
//! A plugin named `foo-bar` is mounted at `fooBar` ([`mount_name`]): its method paths, manifest and
//! permission entries are prefixed with it, and its config section is `fooBar`. A plugin whose
//! name is empty is *unnamed* (JS: no `name`): it is mounted at the top level, unprefixed, and sees
//! only `global`.
//!
//! Differences from JS, each an error at start instead of a silent surprise: a duplicate name
//! (JS skips the plugin with a log line), a manifest clash (JS overwrites).

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, Weak};

use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::keys::{Keypair, PublicKey};
use crate::multiserver::{RegistryError, Transform, Transport};
use crate::plugin::{Plugin, permissions_of};
use crate::rpc::{Manifest, MethodTable, PermissionTable};

use super::app::{App, Inner};
use super::auth::{AuthNext, auth_hook};
use super::error::{BoxError, StartError};
use super::events::Event;
use super::names::mount_name;
use super::shutdown::close_hook;

/// A plugin as made: as the stack serves it, and as its own type (for typed needs).
#[derive(Clone)]
pub(crate) struct Made {
    pub plugin: Arc<dyn Plugin>,
    pub any: Arc<dyn Any + Send + Sync>,
}

impl Made {
    pub fn new<P: Plugin>(plugin: Arc<P>) -> Made {
        Made {
            any: Arc::clone(&plugin) as Arc<dyn Any + Send + Sync>,
            plugin,
        }
    }
}

/// Makes a plugin from what [`PluginInit`] offers; see [`Builder::plugin_with`](super::Builder::plugin_with).
pub(crate) type Factory = Arc<dyn Fn(&PluginInit<'_>) -> Result<Made, BoxError> + Send + Sync>;

/// A plugin as added to the builder.
#[derive(Clone)]
pub(crate) enum PluginEntry {
    /// Already made (shared by every app the builder starts).
    Ready(Made),
    /// Made per app at start, under this name, after the plugins named in `needs` (as far as
    /// they are known before it is made).
    Factory {
        name: String,
        needs: Vec<String>,
        factory: Factory,
    },
}

impl PluginEntry {
    pub fn name(&self) -> &str {
        match self {
            PluginEntry::Ready(p) => p.plugin.name(),
            PluginEntry::Factory { name, .. } => name,
        }
    }

    fn needs(&self) -> Vec<&str> {
        match self {
            PluginEntry::Ready(p) => p.plugin.needs().to_vec(),
            PluginEntry::Factory { needs, .. } => needs.iter().map(String::as_str).collect(),
        }
    }
}

/// The order plugins are made in: `use` order, except that a plugin comes after every plugin it
/// needs. A need of a name not added is [`StartError::MissingNeed`]; a cycle of needs is
/// [`StartError::NeedsCycle`], naming it.
pub(crate) fn init_order(entries: &[PluginEntry]) -> Result<Vec<usize>, StartError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    fn visit(
        i: usize,
        entries: &[PluginEntry],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), StartError> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let from = stack.iter().position(|&j| j == i).unwrap_or(0);
                let mut cycle: Vec<String> = stack[from..]
                    .iter()
                    .map(|&j| entries[j].name().to_owned())
                    .collect();
                cycle.push(entries[i].name().to_owned());
                return Err(StartError::NeedsCycle(cycle));
            }
            Mark::New => {}
        }
        marks[i] = Mark::Visiting;
        stack.push(i);
        for needed in entries[i].needs() {
            let Some(j) = entries.iter().position(|e| e.name() == needed) else {
                let name = entries[i].name();
                return Err(StartError::MissingNeed {
                    plugin: if name.is_empty() { "?" } else { name }.to_owned(),
                    needed: needed.to_owned(),
                });
            };
            visit(j, entries, marks, stack, order)?;
        }
        stack.pop();
        marks[i] = Mark::Done;
        order.push(i);
        Ok(())
    }
    let mut marks = vec![Mark::New; entries.len()];
    let mut order = Vec::with_capacity(entries.len());
    for i in 0..entries.len() {
        visit(i, entries, &mut marks, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// Adds a plugin's methods, under its mount name, to the table being built; a path already
/// taken is [`StartError::ManifestClash`].
pub(crate) fn mount_methods(
    table: &mut MethodTable,
    plugin: &Arc<dyn Plugin>,
) -> Result<(), StartError> {
    let mount = mount_name(plugin.name());
    for mut method in Arc::clone(plugin).methods() {
        if !mount.is_empty() {
            method.path.insert(0, mount.clone());
        }
        table
            .insert(method)
            .map_err(|e| StartError::ManifestClash {
                plugin: plugin.name().to_owned(),
                path: e.0.join("."),
            })?;
    }
    Ok(())
}

/// A handle on an app that does not keep it alive, for plugins to hold (a plugin is owned by the
/// app, so a strong [`App`] inside it would keep the app from ever being dropped).
#[derive(Clone, Default)]
pub struct WeakApp {
    slot: Arc<OnceLock<Weak<Inner>>>,
}

impl std::fmt::Debug for WeakApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakApp")
            .field("alive", &self.upgrade().is_some())
            .finish()
    }
}

impl WeakApp {
    pub(crate) fn from_inner(inner: &Arc<Inner>) -> WeakApp {
        let slot = OnceLock::new();
        let _ = slot.set(Arc::downgrade(inner));
        WeakApp {
            slot: Arc::new(slot),
        }
    }

    /// The app, while it is alive (`None` after the last [`App`] is dropped). A plugin's init
    /// can use it already: see [`PluginInit::app`].
    pub fn upgrade(&self) -> Option<App> {
        self.slot
            .get()
            .and_then(Weak::upgrade)
            .map(|inner| App { inner })
    }
}

/// What a plugin factory gets when its app is built (JS: `init(api, config)`).
pub struct PluginInit<'a> {
    pub(crate) name: &'a str,
    pub(crate) mount: &'a str,
    pub(crate) config: Value,
    pub(crate) keypair: &'a Keypair,
    /// The app being built.
    pub(crate) app: &'a App,
    pub(crate) events: &'a broadcast::Sender<Event>,
    /// The methods of the plugins made so far (mounted), whose hooks are the app's.
    pub(crate) table: &'a MethodTable,
    /// The plugins made so far, by name.
    pub(crate) made: &'a HashMap<String, Made>,
}

impl std::fmt::Debug for PluginInit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginInit")
            .field("name", &self.name)
            .field("mount", &self.mount)
            .finish_non_exhaustive()
    }
}

impl PluginInit<'_> {
    /// The app being built (JS `api`), as a handle that does not keep it alive; it upgrades
    /// during init already. While plugins are being made the app has its identity, config,
    /// events and the methods of the plugins made so far ([`App::local`], [`App::hook`]); what
    /// needs every plugin waits for the build to finish: its manifest, permissions and
    /// [`App::methods`] are empty, [`App::listen`] does nothing and [`App::connect`] fails with
    /// [`ConnectError::NotBuilt`](super::ConnectError::NotBuilt). Keep the [`WeakApp`], not an
    /// upgraded [`App`], in the plugin (the app owns its plugins).
    pub fn app(&self) -> WeakApp {
        self.app.downgrade()
    }

    /// The config this plugin may see, in JS's shape: `{"global": …, "<mount>": …}` (the mount key
    /// only when the config has that section; only `global` for an unnamed plugin). `global` has
    /// `connections` filled in with the defaults, as JS's core plugin does before others run.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// The plugin's own config section (`config.<mount>`), if any.
    pub fn section(&self) -> Option<&Value> {
        if self.mount.is_empty() {
            return None;
        }
        self.config.get(self.mount)
    }

    /// The `global` section.
    pub fn global(&self) -> &Value {
        self.config.get("global").unwrap_or(&Value::Null)
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The plugin's mount name (empty for an unnamed plugin).
    pub fn mount(&self) -> &str {
        self.mount
    }

    /// The app's identity.
    pub fn id(&self) -> PublicKey {
        self.keypair.public()
    }

    /// The app's key pair.
    pub fn keypair(&self) -> &Keypair {
        self.keypair
    }

    /// The app's events, from now on (so including [`Event::Listening`]).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Adds an auth hook (JS `app.auth.hook(…)` from a plugin); see
    /// [`Builder::auth_hook`](super::Builder::auth_hook).
    pub fn auth_hook<F, Fut>(&self, hook: F)
    where
        F: Fn(PublicKey, AuthNext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = super::AuthDecision> + Send + 'static,
    {
        self.app.inner.api.auth().add_hook(auth_hook(hook)).keep();
    }

    /// Adds a close hook (JS `app.close.hook(…)` from a plugin); see
    /// [`Builder::close_hook`](super::Builder::close_hook).
    pub fn close_hook<F, Fut>(&self, hook: F)
    where
        F: Fn(App) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.app.inner.shutdown.add_hook(close_hook(hook)).keep();
    }

    /// Registers a transport from this plugin (JS `api.multiserver.transport({name, create})`):
    /// its name, its addresses' parse and print ([`Transport::parse`],
    /// [`Listener::address`](crate::multiserver::Listener::address)), its scopes, its client side
    /// ([`Transport::connect`]) and its server side ([`Transport::listen`]). The app listens with
    /// it for each `global.connections.incoming` entry that names it, so [`App::address`] then
    /// includes its addresses in the scopes those serve, and dials with it for each outgoing
    /// entry that names it. Fails when a transport of that name is registered already.
    pub fn transport<T: Transport>(&self, transport: T) -> Result<(), RegistryError> {
        self.app.inner.listening.add_transport(transport)
    }

    /// Registers a transform from this plugin (JS `api.multiserver.transform(…)`); used by the
    /// `global.connections` entries that name it. Fails when one of that name is registered.
    pub fn transform<T: Transform>(&self, transform: T) -> Result<(), RegistryError> {
        self.app.inner.listening.add_transform(transform)
    }
}

/// Checks names before anything is made: `global` is reserved, names are unique.
pub(crate) fn check_names(entries: &[PluginEntry]) -> Result<(), StartError> {
    let mut seen = HashSet::new();
    for entry in entries {
        let name = entry.name();
        if name == "global" {
            return Err(StartError::ReservedName);
        }
        if !name.is_empty() && !seen.insert(name) {
            return Err(StartError::DuplicatePlugin(name.to_owned()));
        }
    }
    Ok(())
}

/// Checks every plugin's `needs` against the names present (order does not matter, as in JS).
pub(crate) fn check_needs(plugins: &[Arc<dyn Plugin>]) -> Result<(), StartError> {
    let names: HashSet<&str> = plugins.iter().map(|p| p.name()).collect();
    for plugin in plugins {
        for needed in plugin.needs() {
            if !names.contains(needed) {
                let name = plugin.name();
                return Err(StartError::MissingNeed {
                    plugin: if name.is_empty() { "?" } else { name }.to_owned(),
                    needed: (*needed).to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// The config a plugin's init sees: `{global, [mount]: section}`.
pub(crate) fn plugin_config(global: &Value, mount: &str, sections: &Map<String, Value>) -> Value {
    let mut map = Map::new();
    map.insert("global".into(), global.clone());
    if !mount.is_empty()
        && let Some(section) = sections.get(mount)
    {
        map.insert(mount.to_owned(), section.clone());
    }
    Value::Object(map)
}

/// What mounting every plugin adds up to.
pub(crate) struct Mounted {
    /// The merged manifest, in JS's order (core first, then plugins in order).
    pub manifest: Manifest,
    /// The merged permission groups.
    pub permissions: PermissionTable,
}

/// Merges the core's and the plugins' manifests and permissions, both derived from the plugins'
/// methods, checking for clashes.
pub(crate) fn mount(
    core_manifest: Manifest,
    core_permissions: PermissionTable,
    plugins: &[Arc<dyn Plugin>],
) -> Result<Mounted, StartError> {
    let mut manifest = core_manifest;
    let mut permissions = core_permissions;
    for plugin in plugins {
        let name = plugin.name().to_owned();
        let mount = mount_name(&name);
        let prefix: Vec<String> = if mount.is_empty() {
            Vec::new()
        } else {
            vec![mount.clone()]
        };
        let own_methods = Arc::clone(plugin).methods();
        // The manifest and the permission table are both read off the methods: they cannot
        // disagree. A path taken twice (by the core, an earlier plugin or this one) is refused.
        for method in &own_methods {
            let full: Vec<String> = prefix.iter().chain(&method.path).cloned().collect();
            if !manifest.insert(&full, method.kind) {
                return Err(StartError::ManifestClash {
                    plugin: name,
                    path: full.join("."),
                });
            }
        }

        for (group, perms) in permissions_of(&own_methods) {
            for path in perms.allow.unwrap_or_default() {
                let path = if mount.is_empty() {
                    path
                } else {
                    format!("{mount}.{path}")
                };
                permissions.allow(&group, path);
            }
        }
    }
    Ok(Mounted {
        manifest,
        permissions,
    })
}
