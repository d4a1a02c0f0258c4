//! Flush: writes the oldest frozen memtable as a level-0 table.
//!
//! The job runs without the engine's lock (it only reads the frozen memtable, which no one
//! writes any more). [`crate::db::Db::install`] then records the table in the manifest and,
//! once that edit is durable, deletes the WALs the memtable came from.

use crate::build::{build_tables, BuildSpec};
use crate::error::Result;
use crate::gc::VersionFilter;
use crate::memtable::{Frozen, MemtableIter};
use crate::options::Options;
use crate::version::TableMeta;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::Vfs;

/// A flush to run.
pub struct FlushJob<V: Vfs> {
    vfs: V,
    opts: Arc<Options>,
    frozen: Arc<Frozen>,
    number: u64,
    snapshots: Vec<u64>,
}

/// What a flush produced.
#[derive(Debug)]
pub struct FlushOutput {
    /// The memtable that was flushed.
    pub frozen: Arc<Frozen>,
    /// The table written, or `None` if nothing in the memtable needed keeping.
    pub meta: Option<TableMeta>,
}

impl<V: Vfs> FlushJob<V> {
    /// A flush of `frozen` into table `number`, keeping the versions `snapshots` need.
    pub fn new(
        vfs: V,
        opts: Arc<Options>,
        frozen: Arc<Frozen>,
        number: u64,
        snapshots: Vec<u64>,
    ) -> Self {
        FlushJob {
            vfs,
            opts,
            frozen,
            number,
            snapshots,
        }
    }

    /// Writes the table. Tombstones (point and range) are kept: older data may exist in
    /// tables. Entries a range tombstone hides from every reader are dropped.
    pub fn run(self) -> Result<FlushOutput> {
        let mut iter = MemtableIter::new(self.frozen.mem.clone());
        let mut filter = VersionFilter::new(self.snapshots);
        let mut number = Some(self.number);
        let mut allocate = || number.take().unwrap_or(u64::MAX);
        let range_dels = self.frozen.mem.range_dels();
        let tables = build_tables(
            &self.vfs,
            &self.opts,
            &mut iter,
            &mut filter,
            BuildSpec {
                target_size: u64::MAX,
                allocate: &mut allocate,
                below_may_hold: &|_| true,
                grandparents: &[],
                max_grandparent_overlap: 0,
                range_dels: &range_dels,
                // A flush keeps every range tombstone (older data may be in tables).
                below_may_overlap: &|_, _| true,
            },
        )?;
        Ok(FlushOutput {
            frozen: self.frozen,
            meta: tables.into_iter().next(),
        })
    }
}
