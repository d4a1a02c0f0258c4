//! The Cairn engine core: `no_std` + `alloc`, written against the [`cairn_vfs::Vfs`] trait.
//!
//! Follow a `put`: [`batch`] encodes it, [`wal`] frames and appends it ([`record`]),
//! [`memtable`] holds it sorted, [`flush`] turns a full memtable into an SSTable ([`table`],
//! written by [`build`]), [`manifest`] records the new table in the current [`version`], and
//! [`compaction`] merges tables down the levels, dropping what [`gc`] says no reader needs.
//! [`db`] ties these together; reads go through [`iter`], [`level_iter`] and [`db_iter`], and
//! the block [`cache`] and [`table_cache`].
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(missing_docs))]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

// The public API: the engine object and what it takes and returns.
pub mod backup;
pub mod batch;
pub mod db;
pub mod db_iter;
pub mod error;
pub mod options;
pub mod range;
pub mod snapshot;
pub mod stats;
pub mod txn;

// Internals: public for the CLI's inspection commands, the fuzz targets, the benchmarks and
// the cross-crate tests, which read files and structures directly. Not a stable API.
#[doc(hidden)]
pub mod cache;
#[doc(hidden)]
pub mod coding;
#[doc(hidden)]
pub mod compaction;
#[doc(hidden)]
pub mod filename;
#[doc(hidden)]
pub mod iter;
#[doc(hidden)]
pub mod key;
#[doc(hidden)]
pub mod manifest;
#[doc(hidden)]
pub mod memtable;
#[doc(hidden)]
pub mod range_del;
#[doc(hidden)]
pub mod record;
#[doc(hidden)]
pub mod table;
#[doc(hidden)]
pub mod version;
#[doc(hidden)]
pub mod wal;

// Internals no other crate needs.
mod build;
mod flush;
mod gc;
mod keybuf;
mod level_iter;
mod table_cache;

pub use backup::{restore, write_backup, BackupReport, BackupSink, BackupSource};
pub use batch::WriteBatch;
pub use compaction::WritePressure;
pub use db::{copy_checkpoint, CheckpointFile, CheckpointPlan, CheckpointReport, Db, Snapshot};
pub use db_iter::{DbIter, Direction};
pub use error::{Error, Result};
pub use options::{Options, RecoveryMode, WriteOptions};
pub use stats::{LevelStats, Stats, TableInfo};
pub use txn::Transaction;
