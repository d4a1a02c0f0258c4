//! The engine object: open and recovery, the write path, reads, and the background steps.
//!
//! `Db` is single-threaded: writes take `&mut self`, reads take `&self`. The native crate
//! puts it behind a reader-writer lock and runs the background steps on threads; the browser
//! and WASI run them cooperatively through [`Db::step`]. Both use the same code.
//!
//! ## The path of a write
//! 1. [`Db::commit_begin`] checks the batches, gives them consecutive sequence numbers,
//!    appends them to the WAL as **one** record (group commit), and inserts them into the
//!    memtable. They are not yet visible to readers.
//! 2. The caller syncs the WAL file if any writer asked for durability, possibly outside the
//!    engine's lock ([`PendingCommit::sync`]).
//! 3. [`Db::commit_finish`] publishes the new sequence number, making the writes visible. A
//!    failed sync poisons the database for writes instead.
//!
//! When the memtable is full, the next commit first freezes it ([`Db::rotate`]): the old WAL is
//! synced, a new WAL is started, and the frozen memtable waits for a flush job
//! ([`crate::flush`]) that writes it as a level-0 table and records it in the manifest. Only
//! then are its WALs deleted.

mod checkpoint;
mod jobs;
mod open;
mod read;
mod resume;
mod write;

pub use crate::range::prefix_successor;
pub use crate::snapshot::{Entry, Snapshot};
pub(crate) use checkpoint::require_empty;
pub use checkpoint::{copy_checkpoint, CheckpointFile, CheckpointPlan, CheckpointReport};
pub use jobs::{Job, JobOutput, Ticket};
pub use open::{read_manifest, ManifestRead, Verified};
pub use write::{CheckedCommit, PendingCommit};

use crate::batch::WriteBatch;
use crate::cache::BlockCache;
use crate::compaction;
use crate::error::{Error, Result};
use crate::filename::FileNumbers;
use crate::manifest::ManifestWriter;
use crate::memtable::{Frozen, Memtable};
use crate::options::Options;
use crate::stats::{LevelStats, Stats, TableInfo};
use crate::table_cache::TableCache;
use crate::version::Version;
use crate::wal::WalWriter;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::{current, LockGuard, Vfs};

/// The engine.
pub struct Db<V: Vfs + Clone> {
    vfs: V,
    opts: Arc<Options>,
    table_cache: Arc<TableCache<V>>,
    block_cache: Arc<BlockCache>,
    mem: Memtable,
    mem_first_wal: u64,
    /// The WAL new writes go to; `None` when open read-only.
    wal: Option<WalWriter<V::File>>,
    imm: VecDeque<Arc<Frozen>>,
    version: Arc<Version>,
    /// The manifest and the current pointer; `None` when open read-only.
    manifest: Option<(ManifestWriter<V::File>, current::Current)>,
    log_number: u64,
    files: FileNumbers,
    last_seq: u64,
    visible_seq: u64,
    flushed_seq: u64,
    snapshots: BTreeMap<u64, usize>,
    /// Conflict checking for transactions (`txn.rs`).
    oracle: crate::txn::Oracle,
    poisoned: Option<String>,
    /// True while every error that poisoned the database was a full disk
    /// (`ErrorKind::NoSpace`): [`Db::resume`] may then lift the poison without a reopen.
    poisoned_by_no_space: bool,
    running: Vec<Ticket>,
    next_job_id: u64,
    flush_running: bool,
    batch_buf: WriteBatch,
    stats: Stats,
    recovered: Recovered,
    closed: bool,
    /// Files numbered at or above this were created by this open (so removing them when
    /// obsolete needs no further proof that the engine wrote them).
    first_own_file: u64,
    /// Checkpoints running: while above zero, obsolete files are not removed.
    file_pins: usize,
    /// The directory lock; `None` when open read-only.
    _lock: Option<LockGuard>,
}

/// What [`Db::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// True when the database was created by this open.
    pub created: bool,
    /// WAL files replayed.
    pub wal_files: u64,
    /// WAL records (write groups) replayed.
    pub wal_records: u64,
    /// A torn WAL tail that was dropped: (file, offset, reason).
    pub torn_wal_tail: Option<(String, u64, String)>,
    /// A torn manifest tail that was dropped: (file, offset).
    pub torn_manifest_tail: Option<(String, u64)>,
    /// Damaged current-pointer slots seen (0 normally; 1 after a crash during a switch).
    pub damaged_current_slots: u8,
    /// Obsolete files removed.
    pub removed_files: u64,
    /// Files left alone because nothing proves this engine wrote them: names this engine
    /// never gives (other than `LOCK`), and files named like its tables, WALs or manifests
    /// that would be obsolete but do not start (WAL, manifest) or end (table) with this
    /// engine's magic number and were not created by this open. Open never removes them.
    pub unknown_files: Vec<String>,
    /// True when the database was opened with [`Db::open_read_only`]: torn tails were
    /// dropped in memory only, nothing was written.
    pub read_only: bool,
}

impl<V: Vfs + Clone> Db<V> {
    /// What this open found and repaired.
    pub fn recovery_report(&self) -> &Recovered {
        &self.recovered
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The VFS the database lives in.
    pub fn vfs(&self) -> &V {
        &self.vfs
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.wal.is_none() {
            return Err(Error::ReadOnly(String::from(
                "opened with Db::open_read_only; writes, flushes and compactions are refused",
            )));
        }
        if let Some(why) = &self.poisoned {
            return Err(Error::Poisoned(why.clone()));
        }
        Ok(())
    }

    fn poison(&mut self, e: &Error) {
        let no_space = resume::is_no_space(e);
        if self.poisoned.is_none() {
            self.poisoned = Some(format!("{e}"));
            self.poisoned_by_no_space = no_space;
        } else if !no_space {
            // Any other failure on top of a full disk needs a reopen.
            self.poisoned_by_no_space = false;
        }
    }

    /// True when the database was opened with [`Db::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.wal.is_none()
    }

    /// False when background work may not run: closed, poisoned or read-only.
    fn background_allowed(&self) -> bool {
        !self.closed && self.poisoned.is_none() && self.wal.is_some()
    }

    /// True once an earlier write failure has poisoned the database for writes.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() > self.opts.max_key_size {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: self.opts.max_key_size,
            });
        }
        Ok(())
    }

    /// Every live table, level 0 first (newest run first), then each level in key order.
    pub fn tables(&self) -> Vec<TableInfo> {
        let info = |level: usize, run: u64, t: &crate::version::TableMeta| TableInfo {
            level,
            run,
            number: t.number,
            size: t.size,
            entries: t.entries,
            tombstones: t.tombstones,
            raw_bytes: t.raw_bytes,
            smallest_key: Vec::from(t.smallest_user_key()),
            largest_key: Vec::from(t.largest_user_key()),
            min_sequence: t.min_seq,
            max_sequence: t.max_seq,
        };
        let mut out = Vec::new();
        for r in &self.version.l0 {
            out.extend(r.tables.iter().map(|t| info(0, r.id, t)));
        }
        for (i, level) in self.version.levels.iter().enumerate() {
            out.extend(level.iter().map(|t| info(i + 1, 0, t)));
        }
        out
    }

    /// The current version, an internal structure (for the CLI's inspection commands and for
    /// tests); [`Db::tables`] is the stable view.
    #[doc(hidden)]
    pub fn current_version(&self) -> Arc<Version> {
        self.version.clone()
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.memtable_bytes = self.mem.approximate_memory() as u64;
        s.immutable_memtables = self.imm.len() as u64;
        s.last_sequence = self.visible_seq;
        s.snapshots = self.snapshots.values().map(|&n| n as u64).sum();
        s.txn_live = self.oracle.live() as u64;
        s.txn_history_batches = self.oracle.tracked().0 as u64;
        s.l0_runs = self.version.l0.len() as u64;
        let n = self.version.num_levels();
        while s.levels.len() < n {
            let l = s.levels.len();
            s.levels.push(LevelStats {
                level: l,
                ..LevelStats::default()
            });
        }
        let targets = compaction::level_targets(&self.version, &self.opts);
        for (level, ls) in s.levels.iter_mut().enumerate() {
            let tables = self.version.tables_at(level);
            ls.tables = tables.len() as u64;
            ls.bytes = tables.iter().map(|t| t.size).sum();
            ls.target_bytes = targets.target(level);
            ls.runs = if level == 0 {
                self.version.l0.len() as u64
            } else {
                u64::from(!tables.is_empty())
            };
        }
        s.base_level = targets.base_level as u64;
        s.pending_compaction_bytes =
            compaction::pending_compaction_bytes(&self.version, &self.opts);
        s.levels[0].compaction_written += s.flush_bytes;
        s.table_bytes = self.version.all_tables().map(|(_, t)| t.size).sum();
        s.table_raw_bytes = self.version.all_tables().map(|(_, t)| t.raw_bytes).sum();
        let c = self.block_cache.stats();
        s.cache_hits = c.hits;
        s.cache_misses = c.misses;
        s.cache_bytes = c.bytes_used;
        s
    }

    /// Syncs the WAL, ends it with a clean-close marker, and closes the database; every later
    /// call returns [`Error::Closed`]. Dropping a `Db` without closing is safe too: it is what
    /// a crash looks like. A read-only database only stops answering.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        if self.is_resumable() {
            // Space may have been freed since: end cleanly if the database can resume. If it
            // cannot, the close is like a crash (what was synced stays).
            let _ = self.resume();
        }
        let r = match (&self.poisoned, self.wal.as_mut()) {
            // Sync, then end the WAL with its clean-close marker (see `wal`).
            (None, Some(wal)) => wal.close(),
            _ => Ok(()),
        };
        self.closed = true;
        r
    }

    /// True after [`Db::close`].
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// Checks every record of `batch` against the key and value size limits of `opts`.
pub fn check_batch(opts: &Options, batch: &WriteBatch) -> Result<()> {
    for rec in batch.iter() {
        let rec = rec?;
        if rec.key.len() > opts.max_key_size {
            return Err(Error::KeyTooLarge {
                len: rec.key.len(),
                max: opts.max_key_size,
            });
        }
        if rec.kind == crate::key::Kind::RangeDelete {
            // The end of a range may be one byte past the longest key (delete_prefix of an
            // all-0xFF prefix ends there).
            if rec.value.len() > opts.max_key_size + 1 {
                return Err(Error::KeyTooLarge {
                    len: rec.value.len(),
                    max: opts.max_key_size,
                });
            }
            continue;
        }
        if rec.value.len() > opts.max_value_size {
            return Err(Error::ValueTooLarge {
                len: rec.value.len(),
                max: opts.max_value_size,
            });
        }
    }
    Ok(())
}
