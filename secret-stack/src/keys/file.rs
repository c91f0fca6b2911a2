//! `ssb-keys` secret files: a JSON key object between `#` comment blocks.
//!
//! Loading follows ssb-keys 8.5.0: every run of whitespace followed by `#` and the rest of its line
//! is removed, empty lines are dropped, the rest is joined and parsed as JSON. Writing produces the
//! same layout JS writes (comment block, blank line, pretty JSON, blank line, comment block ending
//! with the public id), created exclusively with mode 0600.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::{KeyObject, KeyObjectError, Keypair};

/// Why a secret file could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading, creating or writing the file failed.
    #[error("cannot access key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// [`create_key_file`] refuses to overwrite an existing file.
    #[error("key file {path} already exists; refusing to overwrite it")]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// The file's content is not a valid key object.
    #[error("key file {path} is invalid: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        #[source]
        source: KeyObjectError,
    },
}

/// Parses the text of a secret file into its key object (with `id` filled in when missing).
pub fn parse_secret_file(text: &str) -> Result<KeyObject, KeyObjectError> {
    KeyObject::from_json(&strip_comments(text))
}

/// Renders the secret file of `pair` in the layout ssb-keys writes.
pub fn render_secret_file(pair: &Keypair) -> String {
    let id = pair.id();
    [
        "# this is your SECRET key file: the private key below IS your identity.",
        "# whoever reads it can sign and connect as you, and a changed byte loses it.",
        "#",
        "# keep it private: never share, publish or edit this file.",
        "",
        &KeyObject::from_keypair(pair).to_json(),
        "",
        "# share only your public id, never this file.",
        &format!("# your public id: {id}"),
    ]
    .join("\n")
}

/// Loads the key pair of the secret file at `path`.
pub fn load_key_file(path: impl AsRef<Path>) -> Result<Keypair, KeyFileError> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |source| KeyFileError::Invalid {
        path: path.to_owned(),
        source,
    };
    let pair = parse_secret_file(&text)
        .and_then(|object| object.to_keypair())
        .map_err(invalid)?;
    tracing::debug!(path = %path.display(), id = %pair.id(), "loaded key file");
    Ok(pair)
}

/// Creates a new random key pair and writes it to a new secret file at `path` (mode 0600 on Unix),
/// creating missing parent folders. Never overwrites: an existing file is
/// [`KeyFileError::AlreadyExists`].
pub fn create_key_file(path: impl AsRef<Path>) -> Result<Keypair, KeyFileError> {
    let path = path.as_ref();
    let io_error = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let pair = Keypair::try_generate().map_err(|e| io_error(io::Error::other(e)))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_error)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            KeyFileError::AlreadyExists {
                path: path.to_owned(),
            }
        } else {
            io_error(source)
        }
    })?;
    file.write_all(render_secret_file(&pair).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error)?;
    tracing::info!(path = %path.display(), id = %pair.id(), "created key file");
    Ok(pair)
}

/// Loads the secret file at `path`, creating it with a new key pair if it does not exist.
pub fn load_or_create_key_file(path: impl AsRef<Path>) -> Result<Keypair, KeyFileError> {
    let path = path.as_ref();
    match load_key_file(path) {
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            match create_key_file(path) {
                // Someone else created it between our two attempts: use theirs.
                Err(KeyFileError::AlreadyExists { .. }) => load_key_file(path),
                other => other,
            }
        }
        other => other,
    }
}

/// The ssb-keys comment rule: drop each run of whitespace followed by `#` up to the end of that
/// line, then drop empty lines and join the rest without separators.
fn strip_comments(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut in_comment = false;
    for c in text.chars() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
                kept.push(c);
            }
        } else if c == '#' {
            let trimmed = kept.trim_end().len();
            kept.truncate(trimmed);
            in_comment = true;
        } else {
            kept.push(c);
        }
    }
    kept.split('\n').filter(|line| !line.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_their_leading_whitespace_go() {
        assert_eq!(
            strip_comments("# a\n{\"x\": 1} # b\n\n#c\n  #d\n}"),
            "{\"x\": 1}}"
        );
        assert_eq!(strip_comments("a \n\t#x\nb"), "ab");
        // Whitespace inside kept lines stays, as in JS.
        assert_eq!(strip_comments("a b\n c\n"), "a b c");
    }

    #[test]
    fn rendered_file_parses_back() {
        let pair = Keypair::from_seed(&[9; 32]);
        let text = render_secret_file(&pair);
        assert!(text.ends_with(&pair.id()));
        let object = parse_secret_file(&text).unwrap();
        assert_eq!(object.to_keypair().unwrap(), pair);
    }
}
