//! Keys: the `keygen` and `whoami` commands, which identity the other commands use, and the app
//! key they need.
//!
//! The key file is `--keys FILE`, else `$SECRET_STACK_KEYS`, else `~/.secret-stack/secret`, in the
//! ssb-keys format (JS `ssb-keys` reads and writes the same files).

use std::io::ErrorKind;
use std::path::PathBuf;

use secret_stack::keys::{
    AppKey, KeyFileError, Keypair, create_key_file, load_key_file, load_or_create_key_file,
};
use tracing::{debug, info};

use crate::failure::Failure;

/// The hint printed when no app key is given.
const APP_KEY_HINT: &str = "give the network's app key with --app-key B64 or $SECRET_STACK_APP_KEY \
     (the interop tests use SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=, the Scuttlebutt main \
     network 1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=)";

/// The key file to use: the flag, else `$SECRET_STACK_KEYS`, else `~/.secret-stack/secret`.
pub fn key_path(flag: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(path) = flag {
        return Ok(path);
    }
    if let Some(path) = std::env::var_os("SECRET_STACK_KEYS") {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| {
        Failure::usage("no --keys given, and neither SECRET_STACK_KEYS nor HOME is set")
    })?;
    Ok(PathBuf::from(home).join(".secret-stack").join("secret"))
}

/// `keygen`: creates a new key file (never overwriting one) and prints its id.
pub fn keygen(flag: Option<PathBuf>) -> Result<(), Failure> {
    let path = key_path(flag)?;
    let keys = create_key_file(&path).map_err(Failure::usage)?;
    eprintln!("wrote {}", path.display());
    println!("{}", keys.id());
    Ok(())
}

/// `whoami`: prints the id of an existing key file.
pub fn whoami(flag: Option<PathBuf>) -> Result<(), Failure> {
    let path = key_path(flag)?;
    let keys = load_key_file(&path).map_err(Failure::usage)?;
    println!("{}", keys.id());
    Ok(())
}

/// The identity of a node (`serve`): the key file, created if it does not exist yet.
pub fn server_keypair(flag: Option<PathBuf>) -> Result<Keypair, Failure> {
    let path = key_path(flag)?;
    let keys = load_or_create_key_file(&path).map_err(Failure::usage)?;
    info!(id = %keys.id(), file = %path.display(), "identity");
    Ok(keys)
}

/// The identity of a caller (`call`, `manifest`): the key file if there is one; without
/// `--keys` and with no file at the default place, a throwaway identity (nothing is written).
pub fn client_keypair(flag: Option<PathBuf>) -> Result<Keypair, Failure> {
    let explicit = flag.is_some();
    let path = key_path(flag)?;
    match load_key_file(&path) {
        Ok(keys) => {
            debug!(id = %keys.id(), file = %path.display(), "identity");
            Ok(keys)
        }
        Err(KeyFileError::Io { source, .. })
            if source.kind() == ErrorKind::NotFound && !explicit =>
        {
            let keys = Keypair::try_generate().map_err(Failure::usage)?;
            debug!(id = %keys.id(), "no key file at {}: throwaway identity", path.display());
            Ok(keys)
        }
        Err(e) => Err(Failure::usage(e)),
    }
}

/// Parses an app key given as base64.
pub fn parse_app_key(text: &str) -> Result<AppKey, Failure> {
    text.trim()
        .parse()
        .map_err(|e| Failure::usage(format!("invalid app key {text:?}: {e}")))
}

/// The app key a caller must have: the flag (or its environment variable), else an error saying
/// how to give one.
pub fn required_app_key(flag: Option<&str>) -> Result<AppKey, Failure> {
    match flag {
        Some(text) => parse_app_key(text),
        None => Err(Failure::usage(format!("no app key: {APP_KEY_HINT}"))),
    }
}

/// The error of a node started without app key in its flags or config.
pub fn missing_app_key() -> Failure {
    Failure::usage(format!(
        "no app key: {APP_KEY_HINT}, or set global.caps.shs in the --config file"
    ))
}
