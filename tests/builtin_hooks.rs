//! The built-in hooks on a running app, over real sockets on 127.0.0.1: `auth` hooks added at run
//! time (newest outermost, above the builder's and the plugins'), removed by dropping their
//! registration; `close` hooks added at run time; `connect` hooks that observe, refuse, redirect
//! and are removed again.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secret_stack::keys::PublicKey;
use secret_stack::multiserver::Scope;
use secret_stack::rpc::Permissions;
use secret_stack::stack::{App, AuthDecision, Builder, ConnectError, PluginInit, SecretStack};
use secret_stack_tests::stack_fixtures::*;
use serde_json::json;

/// A shared record of which hook ran, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::default()
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn push(log: &Log, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

/// The live plugin, a 2 s close deadline, and an auth hook and a close hook from the builder and
/// from a plugin's init, each logging its name.
fn logging_builder(log: &Log) -> Builder {
    let (b_auth, b_close, p_log) = (log.clone(), log.clone(), log.clone());
    SecretStack::builder()
        .plugin(live_plugin())
        .close_deadline(Duration::from_secs(2))
        .auth_hook(move |id, next| {
            push(&b_auth, "builder");
            next.run(id)
        })
        .close_hook(move |_| {
            push(&b_close, "builder");
            async {}
        })
        .plugin_with("hooker", move |init: &PluginInit<'_>| {
            let (auth, close) = (p_log.clone(), p_log.clone());
            init.auth_hook(move |id, next| {
                push(&auth, "plugin");
                next.run(id)
            });
            init.close_hook(move |_| {
                push(&close, "plugin");
                async {}
            });
            Ok::<_, Infallible>(named("hooker", vec![], &[]))
        })
}

/// A run-time auth hook that logs `name` and rejects `blocked`, else falls through.
fn blocking_hook(app: &App, log: &Log, name: &'static str, blocked: PublicKey) -> impl Drop {
    let log = log.clone();
    app.auth_hook(move |id, next| {
        push(&log, name);
        async move {
            if id == blocked {
                AuthDecision::Reject(format!("{name} blocks {id}"))
            } else {
                next.run(id).await
            }
        }
    })
}

#[tokio::test]
async fn run_time_auth_hooks_run_newest_first_above_the_built_ones() {
    let log = log();
    let server = start(&logging_builder(&log), config(30, json!({}))).await;
    let stranger = key(31);
    assert_eq!(server.auth(stranger).await, AuthDecision::Anonymous);
    assert_eq!(taken(&log), ["plugin", "builder"], "plugin hooks are newer");

    let older = blocking_hook(&server, &log, "older", key(32));
    let newer = blocking_hook(&server, &log, "newer", key(33));
    assert_eq!(server.auth(stranger).await, AuthDecision::Anonymous);
    assert_eq!(taken(&log), ["newer", "older", "plugin", "builder"]);
    // The newer answers for its key; nothing below it runs.
    assert_eq!(
        server.auth(key(33)).await,
        AuthDecision::Reject(format!("newer blocks {}", key(33)))
    );
    assert_eq!(taken(&log), ["newer"]);

    // A hook that answers `Allow` shadows the ones below for its keys.
    let allow = server.auth_hook(move |id, next| async move {
        if id == key(32) {
            AuthDecision::Allow(Permissions::allow(["hello"]))
        } else {
            next.run(id).await
        }
    });
    assert_eq!(
        server.auth(key(32)).await,
        AuthDecision::Allow(Permissions::allow(["hello"]))
    );
    drop(allow);
    assert!(matches!(
        server.auth(key(32)).await,
        AuthDecision::Reject(_)
    ));

    // Dropping a registration removes just that hook.
    drop(newer);
    taken(&log);
    assert_eq!(server.auth(key(33)).await, AuthDecision::Anonymous);
    assert_eq!(taken(&log), ["older", "plugin", "builder"]);
    drop(older);
    assert_eq!(server.auth(key(32)).await, AuthDecision::Anonymous);
    assert_eq!(taken(&log), ["plugin", "builder"]);
    within(server.close()).await;
}

#[tokio::test]
async fn a_run_time_auth_hook_refuses_connections_until_it_is_dropped() {
    let live = live();
    let log = log();
    let server = start(&logging_builder(&log), config(34, json!({}))).await;
    let address = server.address(Scope::Device);
    let client = start(&builder(), config(35, json!({}))).await;

    let before = within(client.connect(&address)).await.expect("allowed");
    let registration = blocking_hook(&server, &log, "block", client.id());
    let err = within(client.connect(&address)).await.unwrap_err();
    assert_js_error(&err, &live["auth_hook_error"]["err"]);
    assert!(
        !before.is_closed(),
        "a connection made before the hook keeps going"
    );

    drop(registration);
    let after = within(client.connect(&address))
        .await
        .expect("allowed again");
    assert_eq!(after.id(), server.id());
    close_both(&client, &server).await;
}

#[tokio::test]
async fn run_time_close_hooks_run_newest_first_unless_dropped() {
    let log = log();
    let server = start(&logging_builder(&log), config(36, json!({}))).await;
    let seen = log.clone();
    server
        .close_hook(move |app| {
            let seen = seen.clone();
            async move {
                let state = if app.is_closed() && app.closing().is_closing() {
                    "closing"
                } else {
                    "open"
                };
                push(&seen, format!("run-time, app {state}"));
            }
        })
        .keep();
    let dropped_log = log.clone();
    let dropped = server.close_hook(move |_| {
        push(&dropped_log, "dropped");
        async {}
    });
    drop(dropped);
    within(server.close()).await;
    assert_eq!(
        taken(&log),
        ["run-time, app closing", "plugin", "builder"],
        "newest first; the dropped hook never runs"
    );
}

/// A server (seeded `n`) and a client (seeded `n + 1`), both started, and the server's address.
async fn server_and_client(n: u8) -> (App, App, String) {
    let server = start(&builder(), config(n, json!({}))).await;
    let client = start(&builder(), config(n + 1, json!({}))).await;
    let address = server.address(Scope::Device);
    (server, client, address)
}

#[tokio::test]
async fn connect_hooks_observe_in_order_and_see_the_peer() {
    let (server, client, address) = server_and_client(40).await;
    let log = log();
    let older_log = log.clone();
    let _older = client.connect_hook(move |address, next| {
        let log = older_log.clone();
        async move {
            push(&log, format!("older {address}"));
            let peer = next.run(address).await?;
            push(&log, format!("older got {}", peer.id()));
            Ok(peer)
        }
    });
    let newer_log = log.clone();
    let _newer = client.connect_hook(move |address, next| {
        push(&newer_log, format!("newer {address}"));
        next.run(address)
    });

    let peer = within(client.connect(&address)).await.unwrap();
    assert_eq!(peer.id(), server.id());
    assert_eq!(
        taken(&log),
        [
            format!("newer {address}"),
            format!("older {address}"),
            format!("older got {}", server.id()),
        ]
    );
    // `connect_to` goes through the hooks too.
    let port: u16 = address
        .split(':')
        .nth(2)
        .and_then(|p| p.split('~').next())
        .and_then(|p| p.parse().ok())
        .expect("a net address with a port");
    let again = within(client.connect_to("127.0.0.1", port, &server.id()))
        .await
        .unwrap();
    assert_eq!(again.id(), server.id());
    assert_eq!(taken(&log).len(), 3);
    close_both(&client, &server).await;
}

#[tokio::test]
async fn a_connect_hook_refuses_a_dial_until_it_is_dropped() {
    let (server, client, address) = server_and_client(42).await;
    let log = log();
    let below_log = log.clone();
    let _below = client.connect_hook(move |address, next| {
        push(&below_log, "below");
        next.run(address)
    });
    let banned = server.id().to_base64();
    let refusing = client.connect_hook(move |address, next| {
        let banned = banned.clone();
        async move {
            if address.contains(&banned) {
                Err(ConnectError::refused(address, "this peer is banned"))
            } else {
                next.run(address).await
            }
        }
    });

    let err = within(client.connect(&address)).await.unwrap_err();
    match &err {
        ConnectError::Refused { address: a, reason } => {
            assert_eq!(a, &address);
            assert_eq!(reason, "this peer is banned");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&address) && text.contains("this peer is banned"),
        "{text}"
    );
    assert!(taken(&log).is_empty(), "nothing below the refusal ran");
    assert!(client.peers().is_empty());
    assert_eq!(server.incoming_stats().peak_connections, 0, "never dialled");

    drop(refusing);
    let peer = within(client.connect(&address)).await.unwrap();
    assert_eq!(peer.id(), server.id());
    assert_eq!(taken(&log), ["below"]);
    close_both(&client, &server).await;
}

#[tokio::test]
async fn a_connect_hook_redirects_a_dial() {
    let (server, client, real) = server_and_client(44).await;
    // Port 1 on 127.0.0.1: nobody answers there.
    let dead = format!("net:127.0.0.1:1~shs:{}", server.id().to_base64());
    let (from, to) = (dead.clone(), real.clone());
    let _redirect = client.connect_hook(move |address, next| {
        let target = if address == from { to.clone() } else { address };
        next.run(target)
    });
    let peer = within(client.connect(&dead)).await.unwrap();
    assert_eq!(peer.id(), server.id());
    assert_eq!(peer.address(), real, "the peer is where the hook sent it");
    close_both(&client, &server).await;
}

#[tokio::test]
async fn a_panicking_connect_hook_refuses_the_dial_and_the_app_carries_on() {
    let (server, client, address) = server_and_client(46).await;
    let panicky = client.connect_hook(|address, next| async move {
        if address.contains("127.0.0.1") {
            panic!("hook bug");
        }
        next.run(address).await
    });
    let err = within(client.connect(&address)).await.unwrap_err();
    assert!(
        matches!(&err, ConnectError::Refused { reason, .. } if reason.contains("panicked")),
        "{err:?}"
    );
    drop(panicky);
    within(client.connect(&address)).await.unwrap();
    close_both(&client, &server).await;
}
