//! What a connection's and a call's log lines carry: every event of a connection is inside a
//! `connection` span (peer id, address, direction), and a method's events inside a `call` span
//! (method, kind, request number), also when the method answers later on a task of its own.
//! Alone in its test binary, so no other test's events mix into the capture.

use std::io::Write;
use std::sync::{Arc, Mutex};

use secret_stack::prelude::*;
use secret_stack_tests::stack_fixtures::{builder, config, start, within};
use serde_json::json;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The formatted log lines, shared with the subscriber.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;
    fn make_writer(&'a self) -> Lines {
        self.clone()
    }
}

pub struct Greeter;

#[plugin(name = "greeter", permission = "anonymous")]
impl Greeter {
    /// Answers after yielding once, so the answer is computed on a task of its own.
    async fn greet(&self, name: String) -> String {
        tokio::task::yield_now().await;
        tracing::info!("greeting {name}");
        format!("hello {name}")
    }
}

// One thread (the default of `tokio::test`): the apps' tasks log to this thread's subscriber.
#[tokio::test]
async fn connection_and_call_spans_name_the_peer_the_direction_and_the_method() {
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("secret_stack=debug,log_spans=info"))
        .with_writer(lines.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = start(&builder().plugin(Greeter), config(1, json!({}))).await;
    let client = start(&builder(), config(2, json!({}))).await;
    let peer = within(client.connect(&server.address(Scope::Device)))
        .await
        .expect("connect");
    let answer = within(GreeterClient::new(peer.clone()).greet("you".into())).await;
    assert_eq!(answer.expect("the answer"), "hello you");
    within(client.close()).await;
    within(server.close()).await;

    let text = lines.text();
    let greeting = text
        .lines()
        .find(|l| l.contains("greeting you"))
        .unwrap_or_else(|| panic!("no greeting logged:\n{text}"));
    let client_id = client.id().to_string();
    assert!(
        greeting.contains(&format!(
            "connection{{peer={client_id} address=net:127.0.0.1:"
        )),
        "{greeting}"
    );
    assert!(greeting.contains(r#"direction="in""#), "{greeting}");
    assert!(
        greeting.contains("call{method=greeter.greet kind=async req=1}"),
        "{greeting}"
    );
    // The client's side of the connection is in its own span, the other way round.
    let server_id = server.id().to_string();
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("connection{{peer={server_id} "))
                && l.contains(r#"direction="out""#)),
        "no line of the client's connection span:\n{text}"
    );
}
