//! The engine's typed error.

use alloc::string::String;
use core::fmt;

/// Everything that can go wrong in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The storage layer failed.
    Io(cairn_vfs::Error),
    /// Stored bytes fail a checksum or do not decode: `file` names the file, `offset` the
    /// byte offset of the damaged record or block where known.
    Corruption {
        /// The file the damage was found in.
        file: String,
        /// Byte offset of the damaged record or block, if known.
        offset: Option<u64>,
        /// What was wrong.
        detail: String,
    },
    /// A key longer than `Options::max_key_size`.
    KeyTooLarge {
        /// Length of the key given.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A value longer than `Options::max_value_size`.
    ValueTooLarge {
        /// Length of the value given.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Another process, thread or tab has the database open.
    Locked(String),
    /// The database was closed; no operation is possible.
    Closed,
    /// An earlier write or sync failed, so the database refuses writes until it is reopened
    /// (reads still work). Holds the message of the original failure.
    Poisoned(String),
    /// The directory holds no database and `create_if_missing` is false.
    NotFound(String),
    /// The directory already holds a database and `error_if_exists` is true, or a checkpoint
    /// destination is not empty.
    AlreadyExists(String),
    /// Files written by a newer or older, incompatible format version.
    UnsupportedFormat(String),
    /// An option or argument is out of range.
    InvalidArgument(String),
    /// The database is open read-only (`Db::open_read_only`, or a read-only VFS) and the
    /// operation would change it.
    ReadOnly(String),
}

impl Error {
    /// Shorthand for a [`Error::Corruption`].
    pub fn corruption(
        file: impl Into<String>,
        offset: Option<u64>,
        detail: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            detail: detail.into(),
        }
    }

    /// A stable short code for the error, used by the CLI's exit codes and the JS binding's
    /// `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io(_) => "IO",
            Error::Corruption { .. } => "CORRUPTION",
            Error::KeyTooLarge { .. } => "KEY_TOO_LARGE",
            Error::ValueTooLarge { .. } => "VALUE_TOO_LARGE",
            Error::Locked(_) => "LOCKED",
            Error::Closed => "CLOSED",
            Error::Poisoned(_) => "POISONED",
            Error::NotFound(_) => "NOT_FOUND",
            Error::AlreadyExists(_) => "ALREADY_EXISTS",
            Error::UnsupportedFormat(_) => "UNSUPPORTED_FORMAT",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::ReadOnly(_) => "READ_ONLY",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Corruption {
                file,
                offset: Some(o),
                detail,
            } => write!(f, "corruption in {file} at offset {o}: {detail}"),
            Error::Corruption {
                file,
                offset: None,
                detail,
            } => write!(f, "corruption in {file}: {detail}"),
            Error::KeyTooLarge { len, max } => {
                write!(f, "key of {len} bytes exceeds the maximum of {max}")
            }
            Error::ValueTooLarge { len, max } => {
                write!(f, "value of {len} bytes exceeds the maximum of {max}")
            }
            Error::Locked(what) => write!(f, "database is locked: {what}"),
            Error::Closed => write!(f, "database is closed"),
            Error::Poisoned(why) => write!(
                f,
                "database refuses writes after an earlier failure ({why}); reopen it"
            ),
            Error::NotFound(what) => write!(f, "no database found: {what}"),
            Error::AlreadyExists(what) => write!(f, "already exists: {what}"),
            Error::UnsupportedFormat(what) => write!(f, "unsupported format: {what}"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::ReadOnly(what) => write!(f, "database is open read-only: {what}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<cairn_vfs::Error> for Error {
    fn from(e: cairn_vfs::Error) -> Self {
        match e.kind() {
            cairn_vfs::ErrorKind::Locked => Error::Locked(String::from(e.context())),
            cairn_vfs::ErrorKind::ReadOnly => Error::ReadOnly(String::from(e.context())),
            _ => Error::Io(e),
        }
    }
}

/// Result of an engine operation.
pub type Result<T, E = Error> = core::result::Result<T, E>;
