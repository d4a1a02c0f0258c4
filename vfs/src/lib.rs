//! Cairn's storage abstraction.
//!
//! A [`Vfs`] is one database directory: a flat namespace of files named by short ASCII
//! names (`000012.wal`, `000013.sst`, `MANIFEST-000005`, ...). Every operation is synchronous;
//! targets whose native file API is asynchronous (OPFS in the browser) mount their files up
//! front so that the operations below can be served synchronously afterwards.
//!
//! Implementations in this crate:
//! - [`MemVfs`]: in memory, for tests and as an embedded default;
//! - `StdVfs` (feature `std`): `std::fs` on POSIX and WASI;
//! - `FaultVfs` (feature `fault`): wraps any Vfs, simulates crashes and injects errors;
//! - [`ReadOnlyVfs`]: wraps any Vfs, passes reads through and refuses every mutation.
//!
//! The engine never renames files. The one place an LSM engine classically needs an atomic
//! rename, switching the current manifest, is served by [`current`]: two fixed pointer slots
//! written in place and checksummed, which works on any Vfs including OPFS.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

pub mod crc32;
pub mod current;
mod mem;
pub use mem::MemVfs;
mod read_only;
pub use read_only::{ReadOnlyFile, ReadOnlyVfs};

#[cfg(feature = "std")]
mod std_vfs;
#[cfg(feature = "std")]
pub use std_vfs::StdVfs;

#[cfg(feature = "fault")]
pub mod fault;
#[cfg(feature = "fault")]
pub use fault::FaultVfs;

pub mod conformance;

/// What went wrong in a VFS operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named file does not exist.
    NotFound,
    /// The file exists and `create_new` was asked for.
    AlreadyExists,
    /// The device is full.
    NoSpace,
    /// Another process or tab holds the database lock.
    Locked,
    /// A read asked for bytes past the end of the file.
    UnexpectedEof,
    /// The name is not a valid file name for this VFS.
    InvalidName,
    /// The operation is not supported by this VFS.
    Unsupported,
    /// The VFS is read-only ([`ReadOnlyVfs`]) and the operation would change it.
    ReadOnly,
    /// Any other I/O failure (including injected faults).
    Io,
}

/// A typed VFS error: a kind plus a human-readable context.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    context: String,
}

impl Error {
    /// Makes an error of `kind` with a message.
    pub fn new(kind: ErrorKind, context: impl Into<String>) -> Self {
        Error {
            kind,
            context: context.into(),
        }
    }
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message given when the error was made.
    pub fn context(&self) -> &str {
        &self.context
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.context)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::NoSpace => "no space left on device",
            ErrorKind::Locked => "locked by another user",
            ErrorKind::UnexpectedEof => "unexpected end of file",
            ErrorKind::InvalidName => "invalid file name",
            ErrorKind::Unsupported => "unsupported operation",
            ErrorKind::ReadOnly => "refused on a read-only database",
            ErrorKind::Io => "I/O error",
        };
        write!(f, "{what}: {}", self.context)
    }
}

impl core::error::Error for Error {}

/// Result of a VFS operation.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// An open file. All I/O is positional, so a file can be shared between readers through an
/// `Arc` without a cursor. Writes through one handle are visible to reads through any handle of
/// the same file at once; they are durable only after [`File::sync`] returns `Ok`.
pub trait File: Send + Sync + 'static {
    /// Reads exactly `buf.len()` bytes at `offset`; fails with `UnexpectedEof` if the file is
    /// shorter than `offset + buf.len()`.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// Writes all of `data` at `offset`, extending the file if needed (a gap reads as zeros).
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()>;

    /// Makes every write so far durable (`fdatasync` on POSIX, `flush()` on OPFS). When this
    /// returns `Ok`, the data survives a crash of the process, tab or machine.
    fn sync(&self) -> Result<()>;

    /// Sets the length of the file (shrinking or extending with zeros).
    fn truncate(&self, len: u64) -> Result<()>;

    /// The current length of the file in bytes.
    fn len(&self) -> Result<u64>;

    /// True when the file is empty.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Reads the whole file into a vector.
    fn read_all(&self) -> Result<Vec<u8>> {
        let len = self.len()?;
        let len = usize::try_from(len)
            .map_err(|_| Error::new(ErrorKind::Io, "file larger than the address space"))?;
        let mut buf = alloc::vec![0u8; len];
        self.read_exact_at(0, &mut buf)?;
        Ok(buf)
    }
}

/// One database directory.
///
/// Durability of the directory itself: after `create`, `remove`, the new or removed name is
/// durable only after [`Vfs::sync_dir`] returns (POSIX fsyncs the directory; VFSs without a
/// directory to sync do nothing there because their create/remove is durable at once).
pub trait Vfs: Send + Sync + 'static {
    /// The open-file type of this VFS.
    type File: File;

    /// Creates a new empty file; fails with `AlreadyExists` if `name` exists.
    fn create(&self, name: &str) -> Result<Arc<Self::File>>;

    /// Opens an existing file for reading and writing; fails with `NotFound`.
    fn open(&self, name: &str) -> Result<Arc<Self::File>>;

    /// Opens an existing file that will only be read; fails with `NotFound`. Writing to the
    /// returned file may fail. The default opens it like [`Vfs::open`]; [`StdVfs`] opens it
    /// without write access, so a read-only open works on files the process may not write.
    fn open_read(&self, name: &str) -> Result<Arc<Self::File>> {
        self.open(name)
    }

    /// Removes a file; fails with `NotFound` if it does not exist.
    fn remove(&self, name: &str) -> Result<()>;

    /// Lists the names of all files, in no particular order.
    fn list(&self) -> Result<Vec<String>>;

    /// True when `name` exists.
    fn exists(&self, name: &str) -> Result<bool>;

    /// Makes every create and remove so far durable.
    fn sync_dir(&self) -> Result<()>;

    /// Takes the exclusive lock that keeps a second writer (another process, another tab)
    /// away from this directory. Fails with `Locked` while another holder has it. The lock is
    /// released when the returned guard is dropped (or the process ends).
    fn lock(&self) -> Result<LockGuard>;
}

/// Holds a directory lock until dropped.
pub struct LockGuard {
    release: Option<alloc::boxed::Box<dyn FnOnce() + Send + Sync>>,
}

impl LockGuard {
    /// A guard that runs `release` when dropped.
    pub fn new(release: impl FnOnce() + Send + Sync + 'static) -> Self {
        LockGuard {
            release: Some(alloc::boxed::Box::new(release)),
        }
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// Checks that `name` is a valid file name for every Cairn VFS: 1..=64 bytes of ASCII
/// letters, digits, `.`, `-` and `_`, not starting with `.`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::InvalidName, name))
    }
}
