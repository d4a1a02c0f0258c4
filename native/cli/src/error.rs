//! The CLI's error type and its exit codes (documented in docs/CLI.md).

use std::fmt;

/// Exit codes. Stable: scripts rely on them.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other failure (a poisoned or closed database, an internal error).
    pub const OTHER: u8 = 1;
    /// Bad arguments (also clap's own code) or a malformed import file / key / value.
    pub const USAGE: u8 = 2;
    /// No database at the given path (read commands never create one).
    pub const NO_DATABASE: u8 = 3;
    /// The database is locked by another process.
    pub const LOCKED: u8 = 4;
    /// Corruption: a checksum or decoding failure; the message names the file and offset.
    pub const CORRUPTION: u8 = 5;
    /// Files of an unsupported (older or newer) format version.
    pub const UNSUPPORTED_FORMAT: u8 = 6;
    /// An I/O error (permissions, disk full, a missing file given on the command line).
    pub const IO: u8 = 7;
    /// `get`: the key has no value.
    pub const KEY_NOT_FOUND: u8 = 8;
}

/// Everything a command can fail with.
#[derive(Debug)]
pub enum CliError {
    /// The engine failed; `context` says what was being done.
    Db {
        /// What the CLI was doing.
        context: String,
        /// The engine's error.
        err: cairn::Error,
    },
    /// A file given on the command line (or stdout) could not be read or written.
    Io {
        /// What the CLI was doing.
        context: String,
        /// The OS error.
        err: std::io::Error,
    },
    /// Bad arguments or malformed input data.
    Usage(String),
    /// `get` found no value.
    KeyNotFound,
    /// A check (verify) found problems; they were printed already.
    Failed {
        /// The exit code.
        code: u8,
        /// One-line summary.
        summary: String,
    },
}

impl CliError {
    /// Wraps an engine error with context.
    pub fn db(context: impl Into<String>, err: cairn::Error) -> Self {
        CliError::Db {
            context: context.into(),
            err,
        }
    }

    /// Wraps an I/O error with context.
    pub fn io(context: impl Into<String>, err: std::io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            err,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Db { err, .. } => engine_exit_code(err),
            CliError::Io { .. } => exit::IO,
            CliError::Usage(_) => exit::USAGE,
            CliError::KeyNotFound => exit::KEY_NOT_FOUND,
            CliError::Failed { code, .. } => *code,
        }
    }

    /// True when stdout was closed by the reader (`cairn scan db | head`): not an error.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io { err, .. } if err.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// The exit code for an engine error.
pub fn engine_exit_code(err: &cairn::Error) -> u8 {
    use cairn::Error as E;
    match err {
        E::NotFound(_) => exit::NO_DATABASE,
        E::Locked(_) => exit::LOCKED,
        E::Corruption { .. } => exit::CORRUPTION,
        E::UnsupportedFormat(_) => exit::UNSUPPORTED_FORMAT,
        E::Io(_) => exit::IO,
        E::InvalidArgument(_)
        | E::AlreadyExists(_)
        | E::KeyTooLarge { .. }
        | E::ValueTooLarge { .. } => exit::USAGE,
        _ => exit::OTHER,
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Db {
                context,
                err: cairn::Error::NotFound(_),
            } => write!(
                f,
                "{context}: no database there (read commands never create one; \
                 `cairn put` or `cairn import` do)"
            ),
            CliError::Db {
                context,
                err: err @ cairn::Error::Locked(_),
            } => write!(
                f,
                "{context}: {err} (another process has it open; close it and retry)"
            ),
            CliError::Db { context, err } => write!(f, "{context}: {err}"),
            CliError::Io { context, err } => write!(f, "{context}: {err}"),
            CliError::Usage(msg) => write!(f, "{msg}"),
            CliError::KeyNotFound => write!(f, "key not found"),
            CliError::Failed { summary, .. } => write!(f, "{summary}"),
        }
    }
}

impl std::error::Error for CliError {}

/// Result of a CLI operation.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// Adds context to engine results.
pub trait DbContext<T> {
    /// Wraps the error with `what`.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> DbContext<T> for std::result::Result<T, cairn::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| CliError::db(what(), e))
    }
}

/// Adds context to I/O results.
pub trait IoContext<T> {
    /// Wraps the error with `what`.
    fn io_ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| CliError::io(what(), e))
    }
}
