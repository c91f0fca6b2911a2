//! `keygen` and `whoami`: the key-file commands.

use std::path::PathBuf;

use secret_stack::keys::{create_key_file, load_key_file};

/// The key file to use: the flag, else `$SECRET_STACK_KEYS`, else `~/.secret-stack/secret`.
pub fn key_path(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = flag {
        return Ok(path);
    }
    if let Some(path) = std::env::var_os("SECRET_STACK_KEYS") {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").ok_or("no --keys given and HOME is not set")?;
    Ok(PathBuf::from(home).join(".secret-stack").join("secret"))
}

/// Creates a new key file and prints its id.
pub fn keygen(flag: Option<PathBuf>) -> Result<(), String> {
    let path = key_path(flag)?;
    let keys = create_key_file(&path).map_err(|e| e.to_string())?;
    eprintln!("wrote {}", path.display());
    println!("{}", keys.id());
    Ok(())
}

/// Prints the id of an existing key file.
pub fn whoami(flag: Option<PathBuf>) -> Result<(), String> {
    let path = key_path(flag)?;
    let keys = load_key_file(&path).map_err(|e| e.to_string())?;
    println!("{}", keys.id());
    Ok(())
}
