//! Typed access between plugins (issue 12, item 2): plugins are made in `needs` order (a cycle is
//! a start error naming it), a plugin gets the plugins it needs as typed handles during its init,
//! calls them as Rust while they have no hook and through their hooks while they have; it can hook
//! them from its init too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::ready;
use futures::{FutureExt, StreamExt};
use secret_stack::plugin;
use secret_stack::rpc::{CallError, Source};
use secret_stack::stack::{NeedError, PluginInit, SecretStack, StartError};
use secret_stack_tests::stack_fixtures::config;
use serde_json::json;

/// The order factories ran in.
type Order = Arc<Mutex<Vec<&'static str>>>;

#[derive(Default)]
pub struct Log {
    /// How many times a method body ran.
    calls: AtomicUsize,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Missing(u64);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "log: no entry {}", self.0)
    }
}

#[plugin(name = "log")]
impl Log {
    async fn get(&self, seq: u64) -> Result<String, Missing> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if seq > 10 {
            return Err(Missing(seq));
        }
        Ok(format!("entry {seq}"))
    }

    fn len(&self) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        11
    }

    fn history(&self, from: u64) -> Source<u64> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Source::iter(from..from + 3)
    }
}

/// Needs the log by type; reads through its handle.
pub struct Reader {
    log: LogHandle,
}

#[plugin(name = "reader", needs(Log))]
impl Reader {
    async fn first(&self) -> String {
        self.log.get(0).await.unwrap_or_else(|e| e.to_string())
    }
}

/// Needs the reader by type and the log by name.
pub struct Top;

#[plugin(name = "top", needs(Reader, "log"))]
impl Top {
    fn ok(&self) -> bool {
        true
    }
}

fn reader_factory(
    order: &Order,
) -> impl Fn(&PluginInit<'_>) -> Result<Reader, NeedError> + Send + Sync + 'static {
    let order = Arc::clone(order);
    move |init| {
        order.lock().unwrap().push("reader");
        Ok(Reader {
            log: init.need::<Log>()?,
        })
    }
}

#[tokio::test]
async fn plugins_are_made_after_what_they_need_and_call_it_typed() {
    let order: Order = Arc::default();
    let app = SecretStack::builder()
        .plugin_init({
            let order = Arc::clone(&order);
            move |_init: &PluginInit<'_>| {
                order.lock().unwrap().push("top");
                Ok::<_, NeedError>(Top)
            }
        })
        .plugin_init(reader_factory(&order))
        .plugin_init({
            let order = Arc::clone(&order);
            move |_init: &PluginInit<'_>| {
                order.lock().unwrap().push("log");
                Ok::<_, NeedError>(Log::default())
            }
        })
        .build(config(1, json!({})))
        .unwrap();
    assert_eq!(*order.lock().unwrap(), ["log", "reader", "top"]);
    // The manifest keeps the order plugins were added in, as in JS.
    let keys: Vec<&str> = app
        .manifest()
        .entries()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    let position = |k: &str| keys.iter().position(|x| *x == k).unwrap();
    assert!(position("top") < position("reader") && position("reader") < position("log"));
    assert_eq!(
        ReaderClient::new(app.local()).first().await.unwrap(),
        "entry 0"
    );
    app.close().await;
}

#[tokio::test]
async fn a_cycle_of_needs_is_a_start_error_naming_it() {
    pub struct A;
    #[plugin(name = "a", needs("b"))]
    impl A {
        fn x(&self) {}
    }
    pub struct B;
    #[plugin(name = "b", needs(A))]
    impl B {
        fn y(&self) {}
    }
    let result = SecretStack::builder()
        .plugin_init(|_: &PluginInit<'_>| Ok::<_, NeedError>(A))
        .plugin_init(|_: &PluginInit<'_>| Ok::<_, NeedError>(B))
        .build(config(1, json!({})));
    match result {
        Err(StartError::NeedsCycle(cycle)) => assert_eq!(cycle, ["a", "b", "a"]),
        other => panic!("expected a cycle error, got {:?}", other.map(|_| ())),
    }
    let message = StartError::NeedsCycle(vec!["a".into(), "b".into(), "a".into()]).to_string();
    assert!(message.contains("a → b → a"), "{message}");
}

#[tokio::test]
async fn a_handle_calls_directly_without_hooks_and_through_them_with() {
    let handle: Arc<Mutex<Option<LogHandle>>> = Arc::default();
    let app = SecretStack::builder()
        .plugin_init(|_: &PluginInit<'_>| Ok::<_, NeedError>(Log::default()))
        .plugin_init({
            let handle = Arc::clone(&handle);
            move |init: &PluginInit<'_>| {
                *handle.lock().unwrap() = Some(init.need::<Log>()?);
                Ok::<_, NeedError>(Reader {
                    log: init.need::<Log>()?,
                })
            }
        })
        .build(config(1, json!({})))
        .unwrap();
    let log = handle.lock().unwrap().clone().unwrap();

    // No hook: direct calls, with the method's own typed error and every shape.
    assert_eq!(log.get(1).await.unwrap(), "entry 1");
    assert_eq!(log.get(11).await, Err(CallError::Method(Missing(11))));
    assert_eq!(log.len().await.unwrap(), 11);
    let items: Vec<u64> = log.history(5).map(Result::unwrap).collect().await;
    assert_eq!(items, [5, 6, 7]);
    assert_eq!(log.plugin().calls.load(Ordering::SeqCst), 4);

    // Hooked: the handle's calls go through the hook, typed errors still come back typed.
    let hooked = Arc::new(AtomicUsize::new(0));
    let registration = app
        .hook(Log::GET, {
            let hooked = Arc::clone(&hooked);
            move |ctx, (seq,), next| {
                hooked.fetch_add(1, Ordering::SeqCst);
                next.call(ctx, (seq * 2,))
            }
        })
        .unwrap();
    assert_eq!(log.get(2).await.unwrap(), "entry 4");
    assert_eq!(log.get(6).await, Err(CallError::Method(Missing(12))));
    let _history = app
        .hook(Log::HISTORY, |ctx, (from,), next| {
            next.call(ctx, (from,)).map(|i| i.map(|n| n * 10)).boxed()
        })
        .unwrap();
    let items: Vec<u64> = log.history(1).map(Result::unwrap).collect().await;
    assert_eq!(items, [10, 20, 30]);
    assert_eq!(hooked.load(Ordering::SeqCst), 2);

    // Unhooked again: direct.
    drop(registration);
    assert_eq!(log.get(2).await.unwrap(), "entry 2");
    assert_eq!(hooked.load(Ordering::SeqCst), 2);
    app.close().await;
}

/// A plugin calls and hooks the plugin it needs from its own init, before the app exists.
#[tokio::test]
async fn a_plugin_hooks_what_it_needs_from_its_init() {
    pub struct Guard;
    #[plugin(name = "guard", needs(Log))]
    impl Guard {
        fn on(&self) -> bool {
            true
        }
    }
    let app = SecretStack::builder()
        .plugin_init(|init: &PluginInit<'_>| {
            // The log is made and mounted already: callable during this init, through the init
            // and through the app, which exists already.
            let len = LogClient::new(init.local()).len().now_or_never();
            assert_eq!(len.map(Result::ok), Some(Some(11)));
            let app = init.app().upgrade().expect("the app exists during init");
            let len = LogClient::new(app.local()).len().now_or_never();
            assert_eq!(len.map(Result::ok), Some(Some(11)));
            assert_eq!(app.id(), init.id());
            // What needs every plugin waits for the build: nothing served to peers yet, no dialling.
            assert!(app.manifest().entries().is_empty());
            let dial =
                app.connect("net:127.0.0.1:1~shs:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
            assert!(matches!(
                dial.now_or_never(),
                Some(Err(secret_stack::stack::ConnectError::NotBuilt))
            ));
            init.hook(Log::GET, |ctx, (seq,), next| {
                if seq == 3 {
                    return ready(Err(secret_stack::rpc::RemoteError::new("guarded"))).boxed();
                }
                next.call(ctx, (seq,))
            })?
            .keep();
            Ok::<_, secret_stack::rpc::HookError>(Guard)
        })
        .plugin(Log::default())
        .build(config(1, json!({})))
        .unwrap();
    let log = LogClient::new(app.local());
    assert!(
        log.get(3)
            .await
            .unwrap_err()
            .to_string()
            .contains("guarded")
    );
    assert_eq!(log.get(4).await.unwrap(), "entry 4");
    app.close().await;
}

#[tokio::test]
async fn needing_a_plugin_not_made_yet_says_what_to_add() {
    let result = SecretStack::builder()
        // `reader` asks for the log but its `needs` is bypassed: added with `plugin_with`, which
        // cannot know needs before making the plugin, and before the log.
        .plugin_with("reader", |init: &PluginInit<'_>| {
            Ok::<_, NeedError>(Reader {
                log: init.need::<Log>()?,
            })
        })
        .plugin(Log::default())
        .build(config(1, json!({})));
    let Err(StartError::PluginInit { plugin, source }) = result else {
        panic!("expected the factory's error");
    };
    assert_eq!(plugin, "reader");
    let message = source.to_string();
    assert!(
        message.contains("\"log\"") && message.contains("needs(Log)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_typed_need_is_the_js_missing_plugin_error() {
    let result = SecretStack::builder()
        .plugin_init(reader_factory(&Order::default()))
        .build(config(1, json!({})));
    let Err(error) = result else {
        panic!("expected an error");
    };
    assert_eq!(
        error.to_string(),
        "secret-stack plugin \"reader\" needs plugin \"log\" but not found"
    );
}
