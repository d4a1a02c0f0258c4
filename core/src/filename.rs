//! The one place that knows the name of every file in a database directory, and reads names
//! back (as LevelDB's `db/filename.h` does).
//!
//! | file | name | written by |
//! |---|---|---|
//! | table number `n` | `{n:06}.sst` | flush, compaction, recovery |
//! | WAL number `n` | `{n:06}.wal` | open, memtable rotation |
//! | manifest number `n` | `MANIFEST-{n:06}` | open, manifest rewrite |
//! | current-pointer slots | `CURRENT-A`, `CURRENT-B` | `cairn_vfs::current` |
//! | directory lock | `LOCK` | the VFS (`Vfs::lock`) |
//!
//! Every numbered file takes its number from one counter ([`FileNumbers`]), recorded in the
//! manifest, so no two files ever share a number. A new kind of file (blob files,
//! checkpoints) adds its name here, a [`FileKind`] variant and a case in [`parse`], and the
//! open path and obsolete-file removal learn of it through them.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

/// The two current-pointer slots (see `cairn_vfs::current`).
pub const CURRENT_SLOTS: [&str; 2] = [cairn_vfs::current::SLOT_A, cairn_vfs::current::SLOT_B];

/// The name of table file number `n`.
pub fn table(n: u64) -> String {
    format!("{n:06}.sst")
}

/// The name of WAL number `n`.
pub fn wal(n: u64) -> String {
    format!("{n:06}.wal")
}

/// The name of manifest number `n`.
pub fn manifest(n: u64) -> String {
    format!("MANIFEST-{n:06}")
}

/// What a file name in a database directory names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A write-ahead log.
    Wal(u64),
    /// An SSTable.
    Table(u64),
    /// A manifest.
    Manifest(u64),
    /// A current-pointer slot.
    Current,
    /// Not a name this engine gives a numbered file (the lock file, or a file of someone
    /// else's).
    Other,
}

impl FileKind {
    /// The file number, for numbered files.
    pub fn number(self) -> Option<u64> {
        match self {
            FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n) => Some(n),
            FileKind::Current | FileKind::Other => None,
        }
    }
}

/// Reads a file name back. Numbers have at least six digits, as this engine writes them.
pub fn parse(name: &str) -> FileKind {
    let num = |s: &str| {
        (s.len() >= 6 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    if let Some(n) = name.strip_suffix(".wal").and_then(num) {
        FileKind::Wal(n)
    } else if let Some(n) = name.strip_suffix(".sst").and_then(num) {
        FileKind::Table(n)
    } else if let Some(n) = name.strip_prefix("MANIFEST-").and_then(num) {
        FileKind::Manifest(n)
    } else if CURRENT_SLOTS.contains(&name) {
        FileKind::Current
    } else {
        FileKind::Other
    }
}

/// Allocates file numbers. Shared between the engine and its running jobs, so a job can
/// number its output files without the engine's lock.
#[derive(Debug, Clone)]
pub struct FileNumbers(Arc<AtomicU64>);

impl FileNumbers {
    /// A counter whose next allocation returns `next`.
    pub fn new(next: u64) -> Self {
        FileNumbers(Arc::new(AtomicU64::new(next)))
    }
    /// Takes the next file number.
    pub fn allocate(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
    /// The number the next allocation will return.
    pub fn peek(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_kind() {
        assert_eq!(parse(&table(7)), FileKind::Table(7));
        assert_eq!(parse(&wal(1_234_567)), FileKind::Wal(1_234_567));
        assert_eq!(parse(&manifest(42)), FileKind::Manifest(42));
        assert_eq!(parse("CURRENT-A"), FileKind::Current);
        assert_eq!(parse("CURRENT-B"), FileKind::Current);
        assert_eq!(table(7), "000007.sst");
    }

    #[test]
    fn foreign_names_are_other() {
        for name in [
            "LOCK",
            "README.txt",
            "7.sst",
            "00000x.wal",
            "MANIFEST-",
            "a.sst",
        ] {
            assert_eq!(parse(name), FileKind::Other, "{name}");
        }
    }

    #[test]
    fn file_numbers_count_up_from_next() {
        let f = FileNumbers::new(5);
        assert_eq!(f.peek(), 5);
        assert_eq!(f.allocate(), 5);
        assert_eq!(f.clone().allocate(), 6);
        assert_eq!(f.peek(), 7);
    }
}
