//! The Cairn engine core: `no_std` + `alloc`, written against the [`cairn_vfs::Vfs`] trait.
//!
//! Follow a `put`: [`batch`] encodes it, [`wal`] frames and appends it ([`record`]),
//! [`memtable`] holds it sorted, [`flush`] turns a full memtable into an SSTable ([`table`],
//! written by [`build`]), [`manifest`] records the new table in the current [`version`], and
//! [`compaction`] merges tables down the levels, dropping what [`gc`] says no reader needs.
//! [`db`] ties these together; reads go through [`iter`], [`level_iter`] and [`db_iter`], and
//! the block [`cache`] and [`table_cache`].
#![no_std]
#![cfg_attr(not(test), warn(missing_docs))]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod batch;
pub mod build;
pub mod cache;
pub mod coding;
pub mod compaction;
pub mod db;
pub mod db_iter;
pub mod error;
pub mod filename;
pub mod flush;
pub mod gc;
pub mod iter;
pub mod key;
pub mod keybuf;
pub mod level_iter;
pub mod manifest;
pub mod memtable;
pub mod options;
pub mod record;
pub mod stats;
pub mod table;
pub mod table_cache;
pub mod version;
pub mod wal;

pub use batch::WriteBatch;
pub use compaction::WritePressure;
pub use db::{Db, Snapshot};
pub use db_iter::{DbIter, Direction};
pub use error::{Error, Result};
pub use options::{Options, RecoveryMode, WriteOptions};
pub use stats::{LevelStats, Stats};
