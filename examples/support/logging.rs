//! Logging for the examples: `tracing` to stderr, `warn` unless `RUST_LOG` says otherwise.

/// Installs the examples' log subscriber (call once, first thing in `main`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
