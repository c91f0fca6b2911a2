//! `manifest ADDRESS`: prints a peer's manifest (its `manifest` method's answer) as pretty JSON.

use crate::client::{self, ClientArgs};
use crate::failure::Failure;
use crate::output;

/// Connects, asks for the manifest, prints it.
pub async fn run(address: Option<&str>, args: &ClientArgs) -> Result<(), Failure> {
    let session = client::connect(address, args).await?;
    let result = session.manifest().await;
    session.close(result.is_ok()).await;
    let manifest = result?;
    let text = serde_json::to_string_pretty(&manifest).map_err(Failure::usage)?;
    output::line(&text)
}
