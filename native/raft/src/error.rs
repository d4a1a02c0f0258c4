//! The crate's typed error and its mapping into openraft's `StorageError`.

use crate::NodeId;
use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageError, StorageIOError};
use std::fmt;

/// What can go wrong in the adapter.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The database failed (I/O, corruption it detected, closed, poisoned, ...).
    Db(cairn::Error),
    /// Stored bytes that do not decode as what the key says they are.
    Corrupt {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// A snapshot received from another node does not parse or fails its checksum.
    BadSnapshot(String),
    /// The database is not a cairn-raft database, or one of an unknown format version.
    UnsupportedFormat(String),
    /// A request exceeds the limits of the state machine (key or value too large).
    InvalidRequest(String),
    /// A blocking storage task could not be run or did not finish.
    Runtime(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Db(e) => write!(f, "cairn: {e}"),
            Error::Corrupt { what, detail } => write!(f, "stored {what} does not decode: {detail}"),
            Error::BadSnapshot(why) => write!(f, "received snapshot is invalid: {why}"),
            Error::UnsupportedFormat(why) => write!(f, "unsupported database: {why}"),
            Error::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            Error::Runtime(why) => write!(f, "storage task failed: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

impl From<cairn::Error> for Error {
    fn from(e: cairn::Error) -> Self {
        Error::Db(e)
    }
}

impl Error {
    pub(crate) fn corrupt(what: &'static str, e: impl fmt::Display) -> Self {
        Error::Corrupt {
            what,
            detail: e.to_string(),
        }
    }

    /// The error as openraft's storage error about `subject`, while doing `verb`.
    pub(crate) fn storage(
        self,
        subject: ErrorSubject<NodeId>,
        verb: ErrorVerb,
    ) -> StorageError<NodeId> {
        StorageIOError::new(subject, verb, AnyError::new(&self)).into()
    }
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// Runs blocking storage work (a Cairn write waits for group commit and fsync) off the async
/// worker threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Runtime(e.to_string()))?
}

/// postcard encoding of a stored record.
pub(crate) fn encode<T: serde::Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(v).map_err(|e| Error::corrupt(what, e))
}

/// postcard decoding of a stored record; trailing bytes are corruption too.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T> {
    let (v, rest) = postcard::take_from_bytes(bytes).map_err(|e| Error::corrupt(what, e))?;
    if !rest.is_empty() {
        return Err(Error::corrupt(
            what,
            format!("{} trailing bytes", rest.len()),
        ));
    }
    Ok(v)
}
