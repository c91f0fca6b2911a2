//! [`SecretStack::builder`]: the Rust counterpart of `SecretStack(defaults).use(plugin)(config)`.
//!
//! A [`Builder`] collects default config, plugins, transports, transforms and hooks; each
//! [`Builder::build`] / [`Builder::start`] makes a new [`App`] from it and a [`Config`] (like
//! calling JS's `create(config)` again). Building:
//!
//! 1. lays the config over the defaults (JS `deep-extend`), fills in `global.connections`, and logs
//!    (`warn`) the keys of `global` this crate does not read;
//! 2. finds the key pair (builder, `global.keys`, seed, else a new random one) and the app key
//!    (builder, else config: missing → error, as JS);
//! 3. checks plugin names; registers the transports and transforms: those added here, plus `net`
//!    and `shs` unless one of that name was added (as in JS's default factory); `shs` answers the
//!    auth chain during the handshake and uses the configured handshake timeout;
//! 4. makes the app, before its plugins, so that their factories can use it
//!    ([`PluginInit::app`] says what waits for the build to finish);
//! 5. makes the per-app plugins in `use` order except that a plugin is made after those it
//!    `needs` (a cycle is an error), mounting each one's methods as soon as it is made (so a
//!    later plugin's factory can hook and call it); checks `needs`, merges manifests and
//!    permissions (in `use` order, as JS), and fills in what the app serves.
//!
//! [`Builder::start`] then listens ([`App::listen`]).
//!
//! Rust extensions with no JS counterpart (and no config key): [`Builder::rpc_config`],
//! [`Builder::close_deadline`] and [`Builder::incoming_limits`] (caps on incoming connections and
//! handshakes in progress, on by default).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::broadcast;
use tracing::{debug, warn};

use crate::keys::{AppKey, Keypair, PublicKey};
use crate::multiserver::{
    IncomingGate, IncomingLimits, Multiserver, Net, RegistryError, Shs, Transform, Transport,
};
use crate::plugin::{Plugin, PluginType};
use crate::rpc::{MethodTable, Permissions, RpcConfig};

use super::app::{Api, App, Identity, Inner};
use super::auth::{AuthChain, AuthDecision, AuthHook, AuthNext, auth_hook};
use super::config::{Config, ConfigError, KeySource};
use super::connections::Connections;
use super::core;
use super::error::{BoxError, StartError};
use super::events::EVENT_CAPACITY;
use super::listen::{Addresses, Listening};
use super::names::mount_name;
use super::plugins::{self, Made, PluginEntry, PluginInit};
use super::shutdown::{CloseHook, DEFAULT_CLOSE_DEADLINE, Shutdown, close_hook};

/// The entry point: `SecretStack::builder()`.
#[derive(Debug)]
pub struct SecretStack;

impl SecretStack {
    /// A builder with no plugins, the default transports (`net`) and transforms (`shs`).
    pub fn builder() -> Builder {
        Builder::default()
    }
}

/// Collects what apps are made of: plugins, transports, transforms, hooks and defaults; see the
/// [`stack`](crate::stack) docs.
#[derive(Clone)]
pub struct Builder {
    defaults: Value,
    app_key: Option<AppKey>,
    keypair: Option<Keypair>,
    plugins: Vec<PluginEntry>,
    multiserver: Multiserver,
    registry_error: Option<RegistryError>,
    auth_hooks: Vec<AuthHook>,
    close_hooks: Vec<CloseHook>,
    rpc_config: RpcConfig,
    close_deadline: Duration,
    incoming_limits: IncomingLimits,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            defaults: Value::Object(Map::new()),
            app_key: None,
            keypair: None,
            plugins: Vec::new(),
            multiserver: Multiserver::new(),
            registry_error: None,
            auth_hooks: Vec::new(),
            close_hooks: Vec::new(),
            rpc_config: RpcConfig::default(),
            close_deadline: DEFAULT_CLOSE_DEADLINE,
            incoming_limits: IncomingLimits::default(),
        }
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plugins: Vec<String> = self.plugins.iter().map(|p| p.name().to_owned()).collect();
        f.debug_struct("Builder")
            .field("plugins", &plugins)
            .field("multiserver", &self.multiserver)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Default config, laid under every config given to [`Builder::build`] (JS
    /// `SecretStack(defaults)`; the app key belongs in `defaults.global`). Calling it again
    /// deep-merges into the earlier defaults.
    pub fn defaults(mut self, defaults: Value) -> Self {
        super::merge::deep_merge(&mut self.defaults, &defaults);
        self
    }

    /// The app key, instead of reading it from the config.
    pub fn app_key(mut self, key: AppKey) -> Self {
        self.app_key = Some(key);
        self
    }

    /// The key pair, instead of reading it from the config (`global.keys` or a seed).
    pub fn keypair(mut self, keypair: Keypair) -> Self {
        self.keypair = Some(keypair);
        self
    }

    /// Adds a plugin (JS `create.use(plugin)`). This one instance serves every app the builder
    /// makes; use [`Builder::plugin_with`] for one instance per app, or one that needs the app or
    /// its config. A plugin whose [`name`](Plugin::name) is empty is unnamed: mounted at the top
    /// level.
    pub fn plugin<P: Plugin>(mut self, plugin: P) -> Self {
        self.plugins
            .push(PluginEntry::Ready(Made::new(Arc::new(plugin))));
        self
    }

    /// Adds a `#[plugin]` type made per app by `factory` (typically its constructor), which gets
    /// the [`PluginInit`]: its name and `needs` come from the type, so it is made after the
    /// plugins it needs and can take their typed handles with [`PluginInit::need`], and hook
    /// their methods with [`PluginInit::hook`].
    ///
    /// ```
    /// use secret_stack::plugin;
    /// use secret_stack::stack::{PluginInit, SecretStack};
    ///
    /// pub struct Log;
    /// #[plugin(name = "log")]
    /// impl Log {
    ///     fn latest(&self) -> u64 { 7 }
    /// }
    ///
    /// pub struct Reader { log: LogHandle }
    /// #[plugin(name = "reader", needs(Log))]
    /// impl Reader {
    ///     async fn next(&self) -> u64 { self.log.latest().await.unwrap_or(0) + 1 }
    /// }
    ///
    /// // Added before `log`, made after it.
    /// let builder = SecretStack::builder()
    ///     .plugin_init(|init: &PluginInit<'_>| -> Result<Reader, secret_stack::stack::NeedError> {
    ///         Ok(Reader { log: init.need::<Log>()? })
    ///     })
    ///     .plugin(Log);
    /// # let _ = builder;
    /// ```
    pub fn plugin_init<P, E, F>(self, factory: F) -> Self
    where
        P: PluginType,
        E: Into<BoxError>,
        F: Fn(&PluginInit<'_>) -> Result<P, E> + Send + Sync + 'static,
    {
        let needs = P::NEEDS.iter().map(|&n| n.to_owned()).collect();
        self.factory(P::NAME.to_owned(), needs, factory)
    }

    /// Adds a plugin made per app by `factory` when the app is built, in `use` order, from what
    /// [`PluginInit`] gives (the app as a [`WeakApp`](super::WeakApp), its config section, `global`, events, hook
    /// registration). `name` must be the name of the plugin it makes (it chooses the config
    /// section before the plugin exists); a factory error stops the build.
    pub fn plugin_with<P, E, F>(self, name: impl Into<String>, factory: F) -> Self
    where
        P: Plugin,
        E: Into<BoxError>,
        F: Fn(&PluginInit<'_>) -> Result<P, E> + Send + Sync + 'static,
    {
        // Its needs are only known once it is made: it is made in `use` order.
        self.factory(name.into(), Vec::new(), factory)
    }

    /// Adds a factory made after the plugins named in `needs`.
    fn factory<P, E, F>(mut self, name: String, needs: Vec<String>, factory: F) -> Self
    where
        P: Plugin,
        E: Into<BoxError>,
        F: Fn(&PluginInit<'_>) -> Result<P, E> + Send + Sync + 'static,
    {
        let factory: plugins::Factory = Arc::new(move |init: &PluginInit<'_>| {
            factory(init)
                .map(|p| Made::new(Arc::new(p)))
                .map_err(Into::into)
        });
        self.plugins.push(PluginEntry::Factory {
            name,
            needs,
            factory,
        });
        self
    }

    /// Registers a transport (JS `app.multiserver.transport`). One named `net` replaces the
    /// default. Two of one name make the build fail.
    pub fn transport<T: Transport>(mut self, transport: T) -> Self {
        if let Err(e) = self.multiserver.add_transport(transport) {
            self.registry_error.get_or_insert(e);
        }
        self
    }

    /// Registers a transform (JS `app.multiserver.transform`). One named `shs` replaces the
    /// default; it then does its own authorisation, and if it grants no permissions the auth
    /// chain is asked after the handshake. Two of one name make the build fail.
    pub fn transform<T: Transform>(mut self, transform: T) -> Self {
        if let Err(e) = self.multiserver.add_transform(transform) {
            self.registry_error.get_or_insert(e);
        }
        self
    }

    /// Adds an auth hook (JS `app.auth.hook`): called with the client's key and the rest of the
    /// chain; answers, or falls through with `next.run(id).await`. The newest hook runs first;
    /// hooks added by plugins at init are newer than these.
    pub fn auth_hook<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(PublicKey, AuthNext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = AuthDecision> + Send + 'static,
    {
        self.auth_hooks.push(auth_hook(hook));
        self
    }

    /// Adds a close hook (JS `app.close.hook`): run while the app closes, after it stopped
    /// listening and before its connections are closed; newest first.
    pub fn close_hook<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(App) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.close_hooks.push(close_hook(hook));
        self
    }

    /// The RPC settings of every connection (body limit, buffers, call timeout...).
    pub fn rpc_config(mut self, config: RpcConfig) -> Self {
        self.rpc_config = config;
        self
    }

    /// How long [`App::close`] waits for connections to finish before forcing them (default 5 s).
    pub fn close_deadline(mut self, deadline: Duration) -> Self {
        self.close_deadline = deadline;
        self
    }

    /// Caps on incoming connections (a Rust extension: JS secret-stack has no such setting).
    /// Default: 1024 connections, 128 handshakes in progress
    /// ([`IncomingLimits::default`]). Over the connection cap a new connection is closed at once;
    /// at the handshake cap accepting pauses until a handshake ends (see
    /// [`IncomingLimits`]). Connections the app dials
    /// ([`App::connect`]) are not counted. Each app built gets its own counters
    /// ([`App::incoming_stats`]). Keys of the config's `global.incomingLimits` override these.
    pub fn incoming_limits(mut self, limits: IncomingLimits) -> Self {
        self.incoming_limits = limits;
        self
    }

    /// Builds and starts an app: [`Builder::build`], then [`App::listen`].
    pub async fn start(&self, config: Config) -> Result<App, StartError> {
        let app = self.build(config)?;
        app.listen().await;
        Ok(app)
    }

    /// Builds an app without listening yet (JS: what `create(config)` returns before its first
    /// tick). It can dial at once; [`App::listen`] starts its listeners.
    pub fn build(&self, config: Config) -> Result<App, StartError> {
        if let Some(e) = &self.registry_error {
            return Err(e.clone().into());
        }
        let (config, keypair, app_key) = self.identity(config)?;
        let masters = config.masters()?;
        let connections = config.connections()?;
        let incoming_limits = config.incoming_limits(self.incoming_limits)?;
        let inactivity = config.inactivity_timeout();
        plugins::check_names(&self.plugins)?;

        // The app exists before its plugins are made, so that their inits can use it; what it
        // serves is filled in once they are all made (see `Api`). Its auth chain and close hooks
        // exist from the start: hooks added in plugins' inits are newer than the builder's.
        let auth = AuthChain::pending(self.auth_hooks.clone(), keypair.public(), masters);
        let multiserver = self.multiserver_for(&config, &keypair, app_key, &auth, &connections)?;
        let addresses = Arc::new(Addresses::default());
        let inner = Arc::new(Inner {
            identity: Identity::new(keypair, app_key, config),
            api: Api::new(auth),
            events: broadcast::Sender::new(EVENT_CAPACITY),
            connections: Connections::new(self.rpc_config.clone(), inactivity),
            listening: Listening::new(
                multiserver,
                connections,
                IncomingGate::new(incoming_limits),
                Arc::clone(&addresses),
            ),
            shutdown: Shutdown::new(self.close_hooks.clone(), self.close_deadline),
            plugin_events: Default::default(),
        });
        let app = App { inner };
        self.serve(&app, addresses)?;
        app.inner.listening.finish_outgoing();
        Ok(app)
    }

    /// Makes the plugins, then fills in what `app` serves: the merged manifest and permissions
    /// (the anonymous ones for the auth chain), and the method table (the plugins', mounted as
    /// they were made, then the core's).
    fn serve(&self, app: &App, addresses: Arc<Addresses>) -> Result<(), StartError> {
        let (made, mut table) = self.make_plugins(app)?;
        plugins::check_needs(&made)?;
        let mounted = plugins::mount(core::manifest(), core::permissions(), &made)?;
        let anonymous = match mounted.permissions.get("anonymous") {
            None => Permissions::allow(Vec::<String>::new()),
            Some(group) => group.clone(),
        };
        let manifest = Arc::new(mounted.manifest);
        let auth = Arc::clone(app.inner.api.auth());
        for method in core::methods(Arc::clone(&manifest), addresses, auth) {
            table
                .insert(method)
                .map_err(|e| StartError::ManifestClash {
                    plugin: String::new(),
                    path: e.0.join("."),
                })?;
        }
        app.inner
            .api
            .finish(manifest, mounted.permissions, Arc::new(table), anonymous);
        Ok(())
    }

    /// The config laid over the defaults (with `global.connections` filled in), the key pair and
    /// the app key.
    fn identity(&self, config: Config) -> Result<(Config, Keypair, AppKey), StartError> {
        let mut config = Config::with_defaults(self.defaults.clone(), config.to_json())?;
        config.fill_default_connections();
        for key in config.unknown_keys() {
            warn!("config: {key} is not a setting of secret-stack (a plugin may read it)");
        }
        let keypair = match &self.keypair {
            Some(k) => k.clone(),
            None => keypair_from(&config)?,
        };
        let app_key = match self.app_key {
            Some(k) => k,
            None => AppKey(config.app_key()?),
        };
        Ok((config, keypair, app_key))
    }

    /// Makes the per-app plugins (the ready-made ones are shared), each after those it needs,
    /// mounting each one's methods into the table as soon as it is made. Gives the plugins back
    /// in `use` order, with the table.
    fn make_plugins(&self, app: &App) -> Result<(Vec<Arc<dyn Plugin>>, MethodTable), StartError> {
        let config = app.config();
        let global = config.to_json().get("global").cloned().unwrap_or_default();
        let mut table = MethodTable::new();
        let mut made: HashMap<String, Made> = HashMap::new();
        let mut in_use_order: Vec<Option<Arc<dyn Plugin>>> = vec![None; self.plugins.len()];
        for i in plugins::init_order(&self.plugins)? {
            let plugin = match &self.plugins[i] {
                PluginEntry::Ready(plugin) => plugin.clone(),
                PluginEntry::Factory { name, factory, .. } => {
                    let mount = mount_name(name);
                    let init = PluginInit {
                        name,
                        mount: &mount,
                        config: plugins::plugin_config(&global, &mount, &config.sections),
                        keypair: app.keypair(),
                        app,
                        events: &app.inner.events,
                        table: &table,
                        made: &made,
                    };
                    let plugin = factory(&init).map_err(|source| StartError::PluginInit {
                        plugin: name.clone(),
                        source,
                    })?;
                    if plugin.plugin.name() != name {
                        return Err(StartError::PluginNameMismatch {
                            expected: name.clone(),
                            got: plugin.plugin.name().to_owned(),
                        });
                    }
                    debug!(plugin = %name, "plugin initialised");
                    plugin
                }
            };
            plugins::mount_methods(&mut table, &plugin.plugin)?;
            // From now on the app's local calls and hooks reach it too.
            app.inner.api.mounted(Arc::new(table.clone()));
            in_use_order[i] = Some(Arc::clone(&plugin.plugin));
            made.insert(plugin.plugin.name().to_owned(), plugin);
        }
        Ok((in_use_order.into_iter().flatten().collect(), table))
    }

    /// The registry for one app: the builder's transports and transforms, the defaults for the
    /// names not taken, and the outgoing suites of the config.
    fn multiserver_for(
        &self,
        config: &Config,
        keypair: &Keypair,
        app_key: AppKey,
        auth: &Arc<AuthChain>,
        connections: &crate::multiserver::Connections,
    ) -> Result<Multiserver, StartError> {
        let mut ms = self.multiserver.clone();
        ignore_taken(ms.add_transport(Net).map(|_| ()))?;
        let chain = Arc::clone(auth);
        let shs = Shs::new(keypair.clone(), app_key)
            .with_timeout(config.handshake_timeout())
            .with_authorize(move |id| Arc::clone(&chain).permissions_for(id));
        ignore_taken(ms.add_transform(shs).map(|_| ()))?;
        // Plugins may register the others during their init; see `Listening::finish_outgoing`.
        ms.set_outgoing_known(&connections.outgoing);
        Ok(ms)
    }
}

/// A name already taken by a transport or transform the user added is not an error here: theirs
/// replaces the default.
fn ignore_taken(result: Result<(), RegistryError>) -> Result<(), StartError> {
    match result {
        Ok(()) => Ok(()),
        Err(RegistryError::DuplicateTransport(_) | RegistryError::DuplicateTransform(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The key pair the config describes, or a new random one when it describes none (as JS).
fn keypair_from(config: &Config) -> Result<Keypair, StartError> {
    match config.key_source()? {
        KeySource::Keys { public, secret } => {
            let keypair = Keypair::from_secret_bytes(&secret).map_err(|e| ConfigError::BadKey {
                what: "keys.private",
                message: e.to_string(),
            })?;
            if keypair.public().0 != public {
                return Err(ConfigError::BadKey {
                    what: "keys.public",
                    message: "does not match keys.private".into(),
                }
                .into());
            }
            Ok(keypair)
        }
        KeySource::Seed(seed) => Ok(Keypair::from_seed(&seed)),
        KeySource::None => Keypair::try_generate().map_err(|e| {
            ConfigError::BadKey {
                what: "generated key pair",
                message: e.to_string(),
            }
            .into()
        }),
    }
}
