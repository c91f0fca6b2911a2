//! The on-disk log: one JSON [`Message`] per line in `<dir>/log.jsonl`, appended to and never
//! rewritten, read back whole when it is opened.
//!
//! Opening checks every line — valid JSON, a well-formed message, each author's sequence numbers
//! 1, 2, 3… with no gap or repeat — and reports the first bad one with its line number, so a
//! damaged file is never half-loaded. In memory the log keeps every message in the order it was
//! written, plus, per author, where that author's messages are.
//!
//! Writes are small and go straight to the file under a lock (blocking, but a line is a few
//! hundred bytes); a message is in memory only once its line has been written.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tracing::debug;

use super::message::Message;

/// The file name of the log inside its directory.
pub const LOG_FILE: &str = "log.jsonl";

/// Why the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading, creating or writing the file failed.
    #[error("log {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A line of the file is not a valid next message.
    #[error("log {}: line {line}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A message that cannot go into the log (checked before anything is written).
    #[error("message {author}#{seq}: {reason}")]
    Rejected {
        /// Its author.
        author: String,
        /// Its sequence number.
        seq: u64,
        /// Why it was refused.
        reason: String,
    },
}

/// What [`LogStore::add`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// It was new and is now in the log.
    New,
    /// The log already had it.
    Duplicate,
}

/// An append-only log of messages by any number of authors, persisted in one file.
#[derive(Debug)]
pub struct LogStore {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: File,
    /// Every message, in the order it was written.
    messages: Vec<Message>,
    /// Per author, the indexes in `messages` of its messages: entry `i` has seq `i + 1`.
    by_author: BTreeMap<String, Vec<usize>>,
}

impl State {
    fn latest(&self, author: &str) -> u64 {
        self.by_author.get(author).map_or(0, |m| m.len() as u64)
    }

    fn push(&mut self, message: Message) {
        let index = self.messages.len();
        self.by_author
            .entry(message.author.clone())
            .or_default()
            .push(index);
        self.messages.push(message);
    }

    /// Where the next message of `author` would go: `Ok(true)` if `message` is that next one,
    /// `Ok(false)` if the log already has this very message, an error for a gap or a conflict.
    fn fits(&self, message: &Message) -> Result<bool, String> {
        let latest = self.latest(&message.author);
        if message.seq == latest + 1 {
            return Ok(true);
        }
        if message.seq > latest + 1 {
            return Err(format!(
                "seq {} does not follow {latest}, the author's latest",
                message.seq
            ));
        }
        let existing = self
            .by_author
            .get(&message.author)
            .zip(
                usize::try_from(message.seq)
                    .ok()
                    .and_then(|s| s.checked_sub(1)),
            )
            .and_then(|(indexes, at)| indexes.get(at))
            .and_then(|&i| self.messages.get(i));
        match existing {
            Some(existing) if existing == message => Ok(false),
            _ => Err(format!(
                "seq {} is taken by a different message",
                message.seq
            )),
        }
    }
}

impl LogStore {
    /// Opens (creating it if needed) the log in `dir`, checking every line.
    pub fn open(dir: &Path) -> Result<LogStore, StoreError> {
        let path = dir.join(LOG_FILE);
        let io_error = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_error)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_error)?;
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut file, &mut bytes).map_err(io_error)?;

        let mut state = State {
            file,
            messages: Vec::new(),
            by_author: BTreeMap::new(),
        };
        // A file ends with a newline after its last line; no other line may be empty.
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if !body.is_empty() {
            for (index, line) in body.split(|&b| b == b'\n').enumerate() {
                let corrupt = |reason: String| StoreError::Corrupt {
                    path: path.clone(),
                    line: index + 1,
                    reason,
                };
                let message: Message = serde_json::from_slice(line)
                    .map_err(|e| corrupt(format!("not a message: {}", json_error(&e))))?;
                message.check().map_err(&corrupt)?;
                match state.fits(&message) {
                    Ok(true) => state.push(message),
                    Ok(false) => return Err(corrupt("a repeated message".to_owned())),
                    Err(reason) => return Err(corrupt(format!("{}: {reason}", message.author))),
                }
            }
        }
        debug!(path = %path.display(), messages = state.messages.len(), "log opened");
        Ok(LogStore {
            path,
            state: Mutex::new(state),
        })
    }

    /// The file the log lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is complete before the lock is released: a panic elsewhere breaks nothing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes a new message of `author` with the next sequence number, and returns it.
    pub fn append(&self, author: &str, content: String) -> Result<Message, StoreError> {
        let mut state = self.lock();
        let message = Message {
            author: author.to_owned(),
            seq: state.latest(author) + 1,
            content,
        };
        self.write(&mut state, message.clone())?;
        Ok(message)
    }

    /// Adds a message received from elsewhere: written if it is the author's next one, ignored if
    /// the log has it already; refused if it is malformed, leaves a gap, or conflicts with the
    /// message the log has at that place.
    pub fn add(&self, message: Message) -> Result<Added, StoreError> {
        let rejected = |reason| StoreError::Rejected {
            author: message.author.clone(),
            seq: message.seq,
            reason,
        };
        message.check().map_err(rejected)?;
        let mut state = self.lock();
        match state.fits(&message) {
            Ok(false) => Ok(Added::Duplicate),
            Ok(true) => {
                self.write(&mut state, message)?;
                Ok(Added::New)
            }
            Err(reason) => Err(rejected(reason)),
        }
    }

    /// Writes one line, then keeps the message in memory.
    fn write(&self, state: &mut State, message: Message) -> Result<(), StoreError> {
        let io_error = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(&message).map_err(|e| io_error(e.into()))?;
        line.push(b'\n');
        state.file.write_all(&line).map_err(io_error)?;
        state.file.flush().map_err(io_error)?;
        debug!(author = %message.author, seq = message.seq, "message written");
        state.push(message);
        Ok(())
    }

    /// Every author's highest sequence number.
    pub fn latest(&self) -> BTreeMap<String, u64> {
        let state = self.lock();
        state
            .by_author
            .iter()
            .map(|(author, indexes)| (author.clone(), indexes.len() as u64))
            .collect()
    }

    /// The messages of `author` after `from_seq`, in order.
    pub fn history(&self, author: &str, from_seq: u64) -> Vec<Message> {
        let state = self.lock();
        let Some(indexes) = state.by_author.get(author) else {
            return Vec::new();
        };
        let from = usize::try_from(from_seq).unwrap_or(usize::MAX);
        indexes
            .get(from..)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| state.messages.get(i).cloned())
            .collect()
    }

    /// Every message, in the order this log got them.
    pub fn messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }

    /// How many messages the log holds.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// True when the log holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A JSON error about one line, located by column only (serde_json counts lines within what it
/// was given: always line 1 here, which would contradict the line number of the file).
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) if e.line() > 0 => format!("{message} at column {}", e.column()),
        _ => text,
    }
}
