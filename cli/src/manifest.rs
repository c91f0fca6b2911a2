//! `manifest [ADDRESS]`: prints a peer's manifest (its `manifest` method's answer) as pretty JSON,
//! or with `--rust` as typed Rust clients ([`crate::rust_client`]); `--file` reads the manifest
//! from a JSON file instead of asking a peer.

use std::path::Path;

use serde_json::Value;

use crate::client::{self, ClientArgs};
use crate::failure::Failure;
use crate::output;
use crate::rust_client;

/// Where the manifest comes from and how to print it.
#[derive(Debug)]
pub struct ManifestCommand<'a> {
    /// The peer to ask (`None`: the local Scuttlebutt server), unless `file` is given.
    pub address: Option<&'a str>,
    /// A JSON file holding a manifest.
    pub file: Option<&'a Path>,
    /// Print Rust clients instead of JSON.
    pub rust: bool,
}

/// Gets the manifest and prints it.
pub async fn run(command: ManifestCommand<'_>, args: &ClientArgs) -> Result<(), Failure> {
    let manifest = match command.file {
        Some(path) => read(path)?,
        None => {
            let session = client::connect(command.address, args).await?;
            let result = session.manifest().await;
            session.close(result.is_ok()).await;
            result?
        }
    };
    let text = if command.rust {
        rust_client::generate(&manifest).map_err(Failure::usage)?
    } else {
        serde_json::to_string_pretty(&manifest).map_err(Failure::usage)?
    };
    output::line(text.trim_end())
}

/// A manifest from a JSON file.
fn read(path: &Path) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{} is not JSON: {e}", path.display())))
}
