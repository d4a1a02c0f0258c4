//! The Cairn engine core: `no_std` + `alloc`, written against the [`cairn_vfs::Vfs`] trait.
//!
//! Follow a `put`: [`batch`] encodes it, [`wal`] frames and appends it, [`memtable`] holds it
//! sorted, [`flush`] turns a full memtable into an SSTable ([`table`]), [`manifest`] records the
//! new table in the current [`version`], and [`compaction`] merges tables down the levels.
//! [`db`] ties these together; reads go through [`iter`] and the block [`cache`].
#![no_std]
#![cfg_attr(not(test), warn(missing_docs))]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod batch;
pub mod cache;
pub mod coding;
pub mod error;
pub mod iter;
pub mod key;
pub mod memtable;
pub mod options;
pub mod table;
pub mod table_cache;
pub mod wal;

pub use error::{Error, Result};
pub use options::{Options, RecoveryMode, WriteOptions};
