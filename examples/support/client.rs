//! The interop client: dials a peer that serves the [`test`](crate::test_plugin) plugin over
//! `net` + `shs`, runs every [check](crate::checks) against it, then closes the connection
//! gracefully (the last check).

use std::sync::Arc;
use std::time::Duration;

use secret_stack::keys::{AppKey, Keypair};
use secret_stack::multiserver::{ConnectError, Multiserver, Net, RegistryError, Shs};
use secret_stack::rpc::{CallContext, Connection, MethodTable, RpcConfig};

use crate::checks::{CheckResult, run_checks};
use crate::peer::{HANDSHAKE_TIMEOUT, anonymous_permissions};

/// How long the graceful close may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the client needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Our identity.
    pub keys: Keypair,
    /// The network's app key.
    pub app_key: AppKey,
    /// Whether the peer was told to treat us as a master (then `test.secret` must succeed).
    pub master: bool,
}

/// Why the client could not run its checks.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Registering the transport or transform failed.
    #[error("cannot set up multiserver: {0}")]
    Registry(#[from] RegistryError),
    /// Dialling or the handshake failed.
    #[error("cannot connect: {0}")]
    Connect(#[from] ConnectError),
}

/// Connects to `address`, runs the checks and closes; returns every check's outcome.
pub async fn run(address: &str, config: &ClientConfig) -> Result<Vec<CheckResult>, ClientError> {
    let shs = Shs::new(config.keys.clone(), config.app_key).with_timeout(HANDSHAKE_TIMEOUT);
    let mut ms = Multiserver::new();
    ms.add_transport(Net)?
        .add_transform(shs)?
        .add_outgoing("net", "shs")?;
    let established = ms.connect(address).await?;
    tracing::info!(remote = %established.info.remote, "connected");
    // A peer we dialled gets anonymous permissions on our side (§6.3); we serve nothing but
    // answer its calls with the usual errors.
    let ctx = CallContext::new(
        established.info.remote,
        anonymous_permissions(),
        CallContext::next_connection_id(),
    );
    let connection = established.connection;
    let handle = Connection::start(
        connection.reader,
        connection.writer,
        Arc::new(MethodTable::new()),
        ctx,
        RpcConfig::default(),
    );
    let mut results = run_checks(&handle, config.master).await;
    let (passed, detail) = match tokio::time::timeout(CLOSE_TIMEOUT, handle.close()).await {
        Ok(end) if end.is_clean() => (true, format!("session ended: {end:?}")),
        Ok(end) => (false, format!("session ended badly: {end:?}")),
        Err(_) => (
            false,
            format!("close did not finish within {CLOSE_TIMEOUT:?}"),
        ),
    };
    results.push(CheckResult {
        name: "graceful close".into(),
        passed,
        detail,
    });
    Ok(results)
}
