//! Keys: the `keygen` and `whoami` commands, which identity the other commands use, and the app
//! key they need.
//!
//! The key file is `--keys FILE`, else `$SECRET_STACK_KEYS`, else `~/.secret-stack/secret`, in the
//! ssb-keys format (JS `ssb-keys` reads and writes the same files).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use secret_stack::keys::{
    AppKey, KeyFileError, Keypair, create_key_file, load_key_file, load_or_create_key_file,
};
use tracing::{debug, info};

use crate::failure::Failure;

/// The hint printed when no app key is given.
const APP_KEY_HINT: &str = "give the network's app key with --app-key B64, $SECRET_STACK_APP_KEY \
     or (call, manifest) caps.shs in ~/.ssb/config \
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

/// The key file named by `--keys` or `$SECRET_STACK_KEYS`, if either is given.
pub fn explicit_key_path(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var_os("SECRET_STACK_KEYS").map(PathBuf::from))
}

/// The identity of a caller (`call`, `manifest`) that dials an ADDRESS: the file of `--keys` or
/// `$SECRET_STACK_KEYS` (which must exist), else the first of `~/.secret-stack/secret` and
/// `ssb_secret` (`~/.ssb/secret`) that exists, else a throwaway identity (nothing is written).
pub fn client_keypair(
    flag: Option<PathBuf>,
    ssb_secret: Option<PathBuf>,
) -> Result<Keypair, Failure> {
    if let Some(path) = explicit_key_path(flag) {
        return load(&path);
    }
    let defaults = [key_path(None).ok(), ssb_secret];
    for path in defaults.into_iter().flatten() {
        match load_key_file(&path) {
            Ok(keys) => {
                debug!(id = %keys.id(), file = %path.display(), "identity");
                return Ok(keys);
            }
            Err(KeyFileError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::usage(e)),
        }
    }
    let keys = Keypair::try_generate().map_err(Failure::usage)?;
    debug!(id = %keys.id(), "no key file: throwaway identity");
    Ok(keys)
}

/// Loads an existing key file.
pub fn load(path: &Path) -> Result<Keypair, Failure> {
    let keys = load_key_file(path).map_err(Failure::usage)?;
    debug!(id = %keys.id(), file = %path.display(), "identity");
    Ok(keys)
}

/// Parses an app key given as base64.
pub fn parse_app_key(text: &str) -> Result<AppKey, Failure> {
    text.trim()
        .parse()
        .map_err(|e| Failure::usage(format!("invalid app key {text:?}: {e}")))
}

/// The error of a caller without app key.
pub fn no_app_key() -> Failure {
    Failure::usage(format!("no app key: {APP_KEY_HINT}"))
}

/// The error of a node started without app key in its flags or config.
pub fn missing_app_key() -> Failure {
    Failure::usage(format!(
        "no app key: {APP_KEY_HINT}, or set global.caps.shs in the --config file"
    ))
}
