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

use crate::batch::{BatchRef, WriteBatch};
use crate::cache::BlockCache;
use crate::compaction::{self, CompactionJob, CompactionOutput};
use crate::db_iter::{DbIter, Direction};
use crate::error::{Error, Result};
use crate::flush::{FlushJob, FlushOutput};
use crate::iter::{InternalIterator, MergingIterator};
use crate::key::{self, Kind};
use crate::level_iter::LevelIter;
use crate::manifest::{self, ManifestWriter};
use crate::memtable::{Memtable, MemtableIter};
use crate::options::{Options, WriteOptions};
use crate::table_cache::TableCache;
use crate::version::{AddedTable, Version, VersionEdit};
use crate::wal::{self, WalWriter};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::{current, File, LockGuard, Vfs};
use core::ops::Bound;
use core::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

/// A frozen memtable waiting to be flushed.
#[derive(Debug)]
pub struct Frozen {
    /// The entries.
    pub mem: Arc<Memtable>,
    /// The oldest WAL holding any of its entries.
    pub first_wal: u64,
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A pinned read point: reads and iterators at a snapshot see exactly the writes committed
/// before it, while writes, flushes and compactions go on. Release it with
/// [`Db::release_snapshot`] so compaction can drop the versions it pins.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    seq: u64,
}

impl Snapshot {
    /// The sequence number the snapshot reads at.
    pub fn sequence(&self) -> u64 {
        self.seq
    }
}

/// Writes appended to the WAL and memtable but not yet visible; see [`Db::commit_begin`].
#[derive(Debug)]
#[must_use = "a pending commit must be finished with Db::commit_finish"]
pub struct PendingCommit<F: File> {
    last_seq: u64,
    wal: Arc<F>,
    wal_number: u64,
    wal_offset: u64,
}

impl<F: File> PendingCommit<F> {
    /// Syncs the WAL the writes went to. May run outside the engine's lock.
    pub fn sync(&self) -> Result<()> {
        Ok(self.wal.sync()?)
    }
    /// Sequence number of the last write in the commit.
    pub fn last_sequence(&self) -> u64 {
        self.last_seq
    }
}

/// How hard the writers should be held back so background work can keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePressure {
    /// Write at full speed.
    None,
    /// Delay each write group by this many microseconds (smooth backpressure).
    Slowdown(u64),
    /// Wait for background work before writing (memory guard).
    Stop,
}

/// Allocates file numbers. Shared between the engine and its running jobs, so a job can
/// number its output tables without the engine's lock.
#[derive(Debug, Clone)]
pub struct FileNumbers(Arc<AtomicU64>);

impl FileNumbers {
    fn new(next: u64) -> Self {
        FileNumbers(Arc::new(AtomicU64::new(next)))
    }
    /// Takes the next file number.
    pub fn allocate(&self) -> u64 {
        self.0.fetch_add(1, AtomicOrdering::Relaxed)
    }
    /// The number the next allocation will return.
    pub fn peek(&self) -> u64 {
        self.0.load(AtomicOrdering::Relaxed)
    }
}

/// Identifies a picked job to [`Db::install`]. Every picked job must be installed, with its
/// output or its error, so that its reservations are released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    id: u64,
    /// Every file this job creates has a number at or above this; obsolete-file removal
    /// leaves such files alone while the job runs.
    min_output: u64,
    flush: bool,
    reservation: Option<compaction::Reservation>,
}

/// Background work the engine can do now.
pub struct Job<V: Vfs + Clone> {
    ticket: Ticket,
    work: Work<V>,
}

enum Work<V: Vfs + Clone> {
    Flush(FlushJob<V>),
    Compaction(CompactionJob<V>),
}

impl<V: Vfs + Clone> core::fmt::Debug for Job<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.work {
            Work::Flush(_) => f.write_str("Job::Flush"),
            Work::Compaction(c) => write!(f, "Job::Compaction({})", c.describe()),
        }
    }
}

/// The result of running a [`Job`], to be installed with [`Db::install`].
pub enum JobOutput {
    /// A finished flush.
    Flush(FlushOutput),
    /// A finished compaction.
    Compaction(CompactionOutput),
}

impl<V: Vfs + Clone> Job<V> {
    /// Does the work (reads and writes tables) without touching the `Db`, so that it can run
    /// without the engine's lock. Hand both results to [`Db::install`].
    pub fn run(self) -> (Ticket, Result<JobOutput>) {
        let out = match self.work {
            Work::Flush(j) => j.run().map(JobOutput::Flush),
            Work::Compaction(j) => j.run().map(JobOutput::Compaction),
        };
        (self.ticket, out)
    }

    /// True for a flush.
    pub fn is_flush(&self) -> bool {
        self.ticket.flush
    }
}

/// Counters and sizes, see [`Db::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes held by the active memtable.
    pub memtable_bytes: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: u64,
    /// Per level: (tables, bytes). Level 0 first.
    pub levels: Vec<LevelStats>,
    /// Sorted runs in level 0.
    pub l0_runs: u64,
    /// Last sequence number visible to readers.
    pub last_sequence: u64,
    /// Bytes appended to WALs since open.
    pub wal_bytes: u64,
    /// WAL syncs since open (each may cover many writers).
    pub wal_syncs: u64,
    /// Write groups committed since open.
    pub commits: u64,
    /// Batches committed since open.
    pub batches: u64,
    /// Flushes completed since open.
    pub flushes: u64,
    /// Bytes written by flushes.
    pub flush_bytes: u64,
    /// Compactions completed since open.
    pub compactions: u64,
    /// Times writers were slowed down.
    pub write_slowdowns: u64,
    /// Times writers were stopped by the memory guard.
    pub write_stops: u64,
    /// Block cache hits.
    pub cache_hits: u64,
    /// Block cache misses.
    pub cache_misses: u64,
    /// Bytes in the block cache.
    pub cache_bytes: u64,
    /// Live snapshots.
    pub snapshots: u64,
    /// Bytes of all live tables.
    pub table_bytes: u64,
    /// Logical bytes (key + value) of all live table entries.
    pub table_raw_bytes: u64,
    /// The level L0 is merged into (dynamic level sizing).
    pub base_level: u64,
    /// Estimated bytes compaction must still rewrite to bring every level within target.
    pub pending_compaction_bytes: u64,
    /// Compactions picked that moved tables down without rewriting them.
    pub trivial_moves: u64,
    /// Size-tiered merges of L0 runs picked.
    pub l0_merges: u64,
}

/// Per-level figures in [`Stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Level number.
    pub level: usize,
    /// Tables.
    pub tables: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes read by compactions from this level.
    pub compaction_read: u64,
    /// Bytes written by compactions into this level (flushes for level 0).
    pub compaction_written: u64,
    /// Target bytes of the level (0 for L0 and for levels above the base level).
    pub target_bytes: u64,
    /// Sorted runs in the level (L0: its runs; below: 1 when non-empty).
    pub runs: u64,
}

/// The engine.
pub struct Db<V: Vfs + Clone> {
    vfs: V,
    opts: Arc<Options>,
    table_cache: Arc<TableCache<V>>,
    block_cache: Arc<BlockCache>,
    mem: Memtable,
    mem_first_wal: u64,
    wal: WalWriter<V::File>,
    imm: VecDeque<Arc<Frozen>>,
    version: Arc<Version>,
    manifest: ManifestWriter<V::File>,
    current: current::Current,
    log_number: u64,
    files: FileNumbers,
    last_seq: u64,
    visible_seq: u64,
    flushed_seq: u64,
    snapshots: BTreeMap<u64, usize>,
    poisoned: Option<String>,
    running: Vec<Ticket>,
    next_job_id: u64,
    flush_running: bool,
    batch_buf: WriteBatch,
    stats: Stats,
    recovered: Recovered,
    closed: bool,
    _lock: LockGuard,
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
}

enum FileKind {
    Wal(u64),
    Table(u64),
    Manifest(u64),
    Other,
}

fn parse_name(name: &str) -> FileKind {
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
    } else {
        FileKind::Other
    }
}

/// The file name of table number `n`.
pub fn table_file_name(n: u64) -> String {
    format!("{n:06}.sst")
}

impl<V: Vfs + Clone> Db<V> {
    /// Opens (or creates) the database in `vfs`: takes the directory lock, reads the current
    /// pointer and the manifest, checks that every table exists, replays the WALs, starts a
    /// new WAL and a fresh manifest, and removes obsolete files.
    pub fn open(vfs: V, opts: Options) -> Result<Self> {
        opts.validate()?;
        let lock = vfs.lock()?;
        let opts = Arc::new(opts);
        let mut recovered = Recovered::default();

        // 1. The current pointer and the manifest it names.
        let (mut version, mut log_number, mut next_file, mut flushed_seq, old_manifest) =
            match current::read(&vfs) {
                Err(current::ReadError::Missing) => {
                    if !opts.create_if_missing {
                        return Err(Error::NotFound(String::from(
                            "no CURRENT pointer and create_if_missing is false",
                        )));
                    }
                    Self::prepare_new(&vfs)?;
                    recovered.created = true;
                    (Version::empty(opts.num_levels), 0, 1, 0, None)
                }
                Err(current::ReadError::Corrupt(detail)) => {
                    return Err(Error::corruption("CURRENT", Some(0), detail))
                }
                Err(current::ReadError::UnsupportedVersion(v)) => {
                    return Err(Error::UnsupportedFormat(format!(
                        "CURRENT format version {v}"
                    )))
                }
                Err(current::ReadError::Io(e)) => return Err(e.into()),
                Ok(cur) => {
                    if opts.error_if_exists {
                        return Err(Error::AlreadyExists(String::from("error_if_exists is set")));
                    }
                    recovered.damaged_current_slots = cur.damaged_slots;
                    let name = manifest::file_name(cur.manifest);
                    let file = vfs.open(&name).map_err(|e| {
                        if e.kind() == cairn_vfs::ErrorKind::NotFound {
                            Error::corruption(
                                &name,
                                None,
                                "the manifest named by CURRENT is missing",
                            )
                        } else {
                            e.into()
                        }
                    })?;
                    let replayed = manifest::replay(&*file, &name)?;
                    let mut v = Version::empty(opts.num_levels);
                    let (mut log, mut next, mut seq) = (0, 1, 0);
                    for edit in &replayed.edits {
                        v = v
                            .apply(edit)
                            .map_err(|e| Error::corruption(&name, None, e.0))?;
                        log = edit.log_number.unwrap_or(log);
                        next = edit.next_file_number.unwrap_or(next);
                        seq = edit.last_sequence.unwrap_or(seq);
                    }
                    if let Some(off) = replayed.torn_tail {
                        // A torn tail is an append that never completed, so nothing it would
                        // have made obsolete was removed yet: the WAL the remaining edits
                        // still need is there. If it is gone, the damaged record was a
                        // complete, synced edit (a flipped bit, not a torn write) and
                        // dropping it would silently lose the data it recorded.
                        if log > 0 && !vfs.exists(&wal::file_name(log))? {
                            return Err(Error::corruption(
                                &name,
                                Some(off),
                                format!(
                                    "damaged last record: without it the manifest needs WAL \
                                     {log}, which was already removed"
                                ),
                            ));
                        }
                        file.truncate(off)?;
                        file.sync()?;
                        recovered.torn_manifest_tail = Some((name.clone(), off));
                    }
                    (v, log, next, seq, Some((cur, cur.manifest)))
                }
            };
        if version.num_levels() != opts.num_levels {
            // A database written with another level count keeps its own shape.
            let mut v = Version::empty(opts.num_levels.max(version.num_levels()));
            v.l0 = version.l0.clone();
            for (i, l) in version.levels.iter().enumerate() {
                v.levels[i] = l.clone();
            }
            version = v;
        }

        // 2. Every table the manifest names must be there, whole.
        let names = vfs.list()?;
        let mut wals = Vec::new();
        for name in &names {
            match parse_name(name) {
                FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n) => {
                    next_file = next_file.max(n + 1);
                    if let FileKind::Wal(n) = parse_name(name) {
                        if n >= log_number {
                            wals.push(n);
                        }
                    }
                }
                FileKind::Other => {}
            }
        }
        wals.sort_unstable();
        for (_, t) in version.all_tables() {
            let name = table_file_name(t.number);
            match vfs.open(&name) {
                Ok(f) => {
                    let len = f.len()?;
                    if len != t.size {
                        return Err(Error::corruption(
                            &name,
                            None,
                            format!("table is {len} bytes, the manifest says {}", t.size),
                        ));
                    }
                }
                Err(e) if e.kind() == cairn_vfs::ErrorKind::NotFound => {
                    return Err(Error::corruption(
                        &name,
                        None,
                        "table named by the manifest is missing",
                    ))
                }
                Err(e) => return Err(e.into()),
            }
            flushed_seq = flushed_seq.max(t.max_seq);
        }

        // 3. Replay the WALs into memtables.
        let mut mem = Memtable::new();
        let mut mem_first_wal = wals.first().copied().unwrap_or(next_file);
        let mut imm = VecDeque::new();
        let mut last_seq = flushed_seq;
        for (i, &n) in wals.iter().enumerate() {
            let name = wal::file_name(n);
            let file = vfs.open(&name)?;
            let is_newest = i + 1 == wals.len();
            let replayed = wal::replay(
                &*file,
                &name,
                opts.recovery_mode,
                is_newest,
                0,
                |batch: BatchRef<'_>| {
                    if batch.count == 0 || batch.sequence <= flushed_seq {
                        return Ok(()); // already in a table
                    }
                    if batch.sequence <= last_seq {
                        return Err(Error::corruption(
                            &name,
                            None,
                            format!("sequence {} replayed twice", batch.sequence),
                        ));
                    }
                    let mut seq = batch.sequence;
                    for rec in batch.iter() {
                        let rec = rec?;
                        mem.insert(rec.key, seq, rec.kind, rec.value);
                        seq += 1;
                    }
                    last_seq = seq - 1;
                    if mem.approximate_memory() >= opts.write_buffer_size {
                        imm.push_back(Arc::new(Frozen {
                            mem: Arc::new(core::mem::take(&mut mem)),
                            first_wal: mem_first_wal,
                        }));
                        mem_first_wal = n;
                    }
                    Ok(())
                },
            )?;
            // What was replayed becomes durable before new writes can depend on it.
            file.sync()?;
            recovered.wal_files += 1;
            recovered.wal_records += replayed.records;
            if let Some((off, why)) = replayed.torn_tail {
                recovered.torn_wal_tail = Some((name.clone(), off, why));
            }
        }
        if mem.is_empty() {
            mem_first_wal = next_file;
        }

        // 4. Recovered writes go straight into level-0 tables: WALs never pile up across
        //    opens, and the next recovery starts from tables. A crash here leaves orphan
        //    tables (removed by the next open) and the WALs, replayed again.
        if !mem.is_empty() {
            imm.push_back(Arc::new(Frozen {
                mem: Arc::new(core::mem::take(&mut mem)),
                first_wal: mem_first_wal,
            }));
        }
        while let Some(frozen) = imm.pop_front() {
            let number = next_file;
            next_file += 1;
            let out = FlushJob::new(
                vfs.clone(),
                opts.clone(),
                frozen.clone(),
                number,
                Vec::new(),
            )
            .run()?;
            if let Some(meta) = out.meta {
                let edit = VersionEdit {
                    added: alloc::vec![AddedTable {
                        level: 0,
                        run: version.max_run_id() + 1,
                        meta,
                    }],
                    ..VersionEdit::default()
                };
                version = version
                    .apply(&edit)
                    .map_err(|e| Error::corruption("recovery", None, e.0))?;
            }
            flushed_seq = flushed_seq.max(frozen.mem.max_seq().unwrap_or(0));
        }

        // 5. A new WAL for new writes, then a fresh manifest snapshot recording it all.
        let wal_number = next_file;
        next_file += 1;
        let wal_file = vfs.create(&wal::file_name(wal_number))?;
        let mut new_wal = WalWriter::create(wal_file, wal_number)?;
        new_wal.sync()?;
        if mem.is_empty() && imm.is_empty() {
            log_number = wal_number;
        } else {
            log_number = imm
                .front()
                .map_or(mem_first_wal, |f: &Arc<Frozen>| f.first_wal);
        }
        let manifest_number = next_file;
        next_file += 1;
        let mut snapshot = version.snapshot_edit();
        snapshot.log_number = Some(log_number);
        snapshot.next_file_number = Some(next_file);
        snapshot.last_sequence = Some(flushed_seq);
        let manifest = ManifestWriter::create(&vfs, manifest_number, &snapshot)?;
        let cur = match old_manifest {
            None => current::create(&vfs, manifest_number)?,
            Some((cur, _)) => current::switch(&vfs, &cur, manifest_number)?,
        };

        let block_cache = Arc::new(BlockCache::new(opts.block_cache_size));
        let table_cache = Arc::new(TableCache::new(
            vfs.clone(),
            Some(block_cache.clone()),
            opts.max_open_tables,
        ));
        let mut db = Db {
            vfs,
            opts,
            table_cache,
            block_cache,
            mem,
            mem_first_wal,
            wal: new_wal,
            imm,
            version: Arc::new(version),
            manifest,
            current: cur,
            log_number,
            files: FileNumbers::new(next_file),
            last_seq,
            visible_seq: last_seq,
            flushed_seq,
            snapshots: BTreeMap::new(),
            poisoned: None,
            running: Vec::new(),
            next_job_id: 0,
            flush_running: false,
            batch_buf: WriteBatch::new(),
            stats: Stats::default(),
            recovered,
            closed: false,
            _lock: lock,
        };
        if db.mem.is_empty() {
            db.mem_first_wal = wal_number;
        }
        db.recovered.removed_files = db.remove_obsolete_files()?;
        Ok(db)
    }

    /// A new database directory may hold leftovers of a creation that crashed before its
    /// current pointer was written; anything else means the pointer was lost.
    fn prepare_new(vfs: &V) -> Result<()> {
        for name in vfs.list()? {
            match parse_name(&name) {
                FileKind::Manifest(_) => vfs.remove(&name)?,
                FileKind::Wal(n) => {
                    // A WAL with records but no manifest cannot be from a database that never
                    // finished creation (creation writes the manifest before the first WAL).
                    let f = vfs.open(&name)?;
                    if f.len()? > wal::FILE_HEADER_LEN as u64 {
                        return Err(Error::corruption(
                            &name,
                            None,
                            format!("WAL {n} exists but the CURRENT pointer is missing"),
                        ));
                    }
                    drop(f);
                    vfs.remove(&name)?;
                }
                FileKind::Table(_) => {
                    return Err(Error::corruption(
                        &name,
                        None,
                        "tables exist but the CURRENT pointer is missing",
                    ))
                }
                FileKind::Other => {}
            }
        }
        vfs.sync_dir()?;
        Ok(())
    }

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
        if let Some(why) = &self.poisoned {
            return Err(Error::Poisoned(why.clone()));
        }
        Ok(())
    }

    fn poison(&mut self, e: &Error) {
        if self.poisoned.is_none() {
            self.poisoned = Some(format!("{e}"));
        }
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

    /// Checks every record of `batch` against the size limits.
    pub fn validate_batch(&self, batch: &WriteBatch) -> Result<()> {
        check_batch(&self.opts, batch)
    }

    /// How much the writers should be held back now.
    pub fn write_pressure(&self) -> WritePressure {
        if self.imm.len() >= self.opts.max_immutable_memtables {
            return WritePressure::Stop;
        }
        compaction::write_pressure(&self.version, &self.opts, self.imm.len())
    }

    /// Records that writers were slowed down or stopped (for stats).
    pub fn note_pressure(&mut self, p: WritePressure) {
        match p {
            WritePressure::Slowdown(_) => self.stats.write_slowdowns += 1,
            WritePressure::Stop => self.stats.write_stops += 1,
            WritePressure::None => {}
        }
    }

    /// Step 1 of a commit: appends `batches` to the WAL as one record and inserts them into
    /// the memtable, invisible to readers until [`Db::commit_finish`]. Freezes the memtable
    /// first if it is full. On an I/O error the database is poisoned for writes.
    pub fn commit_begin(&mut self, batches: &[&WriteBatch]) -> Result<PendingCommit<V::File>> {
        self.check_writable()?;
        if self.mem.approximate_memory() >= self.opts.write_buffer_size {
            self.rotate()?;
        }
        let count: u64 = batches.iter().map(|b| u64::from(b.len())).sum();
        let first = self.last_seq + 1;
        if first + count > key::MAX_SEQUENCE {
            return Err(Error::InvalidArgument(String::from(
                "sequence numbers exhausted",
            )));
        }
        let payload: &[u8] = if batches.len() == 1 {
            self.batch_buf.clone_from(batches[0]);
            self.batch_buf.set_sequence(first);
            self.batch_buf.as_bytes()
        } else {
            self.batch_buf.clear();
            for b in batches {
                self.batch_buf.append(b);
            }
            self.batch_buf.set_sequence(first);
            self.batch_buf.as_bytes()
        };
        if let Err(e) = self.wal.append(payload) {
            self.poison(&e);
            return Err(e);
        }
        self.stats.wal_bytes += payload.len() as u64;
        let mut seq = first;
        for b in batches {
            for rec in b.iter() {
                // The batches were validated by the caller's encoding; a malformed record
                // here is a bug in the batch encoder, reported rather than trusted.
                let rec = rec?;
                self.mem.insert(rec.key, seq, rec.kind, rec.value);
                seq += 1;
            }
        }
        self.last_seq = first + count - 1;
        self.stats.commits += 1;
        self.stats.batches += batches.len() as u64;
        if self.batch_buf.encoded_len() > (1 << 20) {
            self.batch_buf = WriteBatch::new();
        }
        Ok(PendingCommit {
            last_seq: self.last_seq,
            wal: self.wal.file().clone(),
            wal_number: self.wal.number(),
            wal_offset: self.wal.size(),
        })
    }

    /// Step 3 of a commit: publishes the writes, or poisons the database if `synced` failed.
    pub fn commit_finish(
        &mut self,
        pending: PendingCommit<V::File>,
        synced: Option<Result<()>>,
    ) -> Result<()> {
        match synced {
            Some(Err(e)) => {
                self.poison(&e);
                Err(e)
            }
            other => {
                if other.is_some() {
                    self.stats.wal_syncs += 1;
                    if pending.wal_number == self.wal.number() {
                        self.wal.mark_synced(pending.wal_offset);
                    }
                }
                self.visible_seq = self.visible_seq.max(pending.last_seq);
                Ok(())
            }
        }
    }

    /// Commits one batch: WAL append, memtable insert, sync if asked, publish.
    pub fn write(&mut self, batch: &WriteBatch, opts: WriteOptions) -> Result<()> {
        self.validate_batch(batch)?;
        if batch.is_empty() {
            return self.check_writable();
        }
        let pending = self.commit_begin(&[batch])?;
        let synced = opts.sync.then(|| pending.sync());
        self.commit_finish(pending, synced)
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8], opts: WriteOptions) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(&b, opts)
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &[u8], opts: WriteOptions) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(&b, opts)
    }

    /// Makes every write so far durable.
    pub fn sync_wal(&mut self) -> Result<()> {
        self.check_writable()?;
        if let Err(e) = self.wal.sync() {
            self.poison(&e);
            return Err(e);
        }
        self.stats.wal_syncs += 1;
        Ok(())
    }

    /// The current WAL file and how far it is written, when more than
    /// `Options::wal_bytes_per_sync` bytes of it are unsynced. The native crate syncs it on a
    /// background thread and reports back with [`Db::note_wal_synced`].
    pub fn wal_sync_point(&self) -> Option<(Arc<V::File>, u64, u64)> {
        let every = self.opts.wal_bytes_per_sync;
        (every > 0 && self.poisoned.is_none() && !self.closed && self.wal.unsynced_bytes() >= every)
            .then(|| (self.wal.file().clone(), self.wal.number(), self.wal.size()))
    }

    /// Records a background sync of WAL `number` up to `offset` (or poisons on failure).
    pub fn note_wal_synced(&mut self, number: u64, offset: u64, result: Result<()>) -> Result<()> {
        match result {
            Ok(()) => {
                if number == self.wal.number() {
                    self.wal.mark_synced(offset);
                }
                Ok(())
            }
            Err(e) => {
                self.poison(&e);
                Err(e)
            }
        }
    }

    /// Freezes the active memtable and starts a new WAL. The old WAL is synced first, so a
    /// crash never keeps writes of the new WAL while losing earlier ones of the old.
    pub fn rotate(&mut self) -> Result<()> {
        self.check_writable()?;
        if self.mem.is_empty() {
            return Ok(());
        }
        let r = (|| {
            self.wal.sync()?;
            let n = self.files.allocate();
            let file = self.vfs.create(&wal::file_name(n))?;
            let mut w = WalWriter::create(file, n)?;
            w.sync()?;
            self.vfs.sync_dir()?;
            Ok::<_, Error>(w)
        })();
        let w = match r {
            Ok(w) => w,
            Err(e) => {
                self.poison(&e);
                return Err(e);
            }
        };
        let frozen = Frozen {
            mem: Arc::new(core::mem::take(&mut self.mem)),
            first_wal: self.mem_first_wal,
        };
        self.imm.push_back(Arc::new(frozen));
        self.mem_first_wal = w.number();
        self.wal = w;
        Ok(())
    }

    /// The sequence number reads see now.
    pub fn visible_sequence(&self) -> u64 {
        self.visible_seq
    }

    /// Pins the current state for reads.
    pub fn snapshot(&mut self) -> Snapshot {
        *self.snapshots.entry(self.visible_seq).or_insert(0) += 1;
        Snapshot {
            seq: self.visible_seq,
        }
    }

    /// Pins `seq` again (an iterator over an existing snapshot takes its own hold). `seq`
    /// must be a sequence number that is already pinned or visible.
    pub fn snapshot_at(&mut self, seq: u64) -> Snapshot {
        let seq = seq.min(self.visible_seq);
        *self.snapshots.entry(seq).or_insert(0) += 1;
        Snapshot { seq }
    }

    /// Releases a snapshot taken with [`Db::snapshot`].
    pub fn release_snapshot(&mut self, snap: Snapshot) {
        if let Some(n) = self.snapshots.get_mut(&snap.seq) {
            *n -= 1;
            if *n == 0 {
                self.snapshots.remove(&snap.seq);
            }
        }
    }

    /// Sequence numbers of the live snapshots, ascending.
    pub fn snapshot_sequences(&self) -> Vec<u64> {
        self.snapshots.keys().copied().collect()
    }

    /// The value of `key` now.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_at(key, self.visible_seq)
    }

    /// The value of `key` at a snapshot.
    pub fn get_snapshot(&self, key: &[u8], snap: &Snapshot) -> Result<Option<Vec<u8>>> {
        self.get_at(key, snap.seq)
    }

    /// The value of `key` as of sequence number `seq`: memtable, frozen memtables, then the
    /// tables newest first, skipping tables by key range and bloom filter.
    pub fn get_at(&self, key: &[u8], seq: u64) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        self.check_key(key)?;
        let found = |kind: Kind, v: &[u8]| match kind {
            Kind::Put => Some(Vec::from(v)),
            Kind::Delete => None,
        };
        if let Some((kind, v)) = self.mem.get(key, seq) {
            return Ok(found(kind, v));
        }
        for f in self.imm.iter().rev() {
            if let Some((kind, v)) = f.mem.get(key, seq) {
                return Ok(found(kind, v));
            }
        }
        let version = &self.version;
        for run in &version.l0 {
            if let Some(i) = run.find(key) {
                if let Some(v) = self.table_get(&run.tables[i], key, seq)? {
                    return Ok(v);
                }
            }
        }
        for level in &version.levels {
            if let Some(i) = crate::version::find_table(level, key) {
                if let Some(v) = self.table_get(&level[i], key, seq)? {
                    return Ok(v);
                }
            }
        }
        Ok(None)
    }

    /// `Some(answer)` if the table decides the key, `None` to look further down.
    fn table_get(
        &self,
        meta: &crate::version::TableMeta,
        key: &[u8],
        seq: u64,
    ) -> Result<Option<Option<Vec<u8>>>> {
        if meta.min_seq > seq {
            return Ok(None);
        }
        let table = self.table_cache.get(meta.number, meta.size)?;
        Ok(table.get(key, seq)?.map(|(kind, _, v)| {
            if kind == Kind::Put as u8 {
                Some(v)
            } else {
                None
            }
        }))
    }

    /// The internal iterators over every source, newest first: memtable, frozen memtables,
    /// level-0 runs, levels.
    fn sources(&self, prefix: Option<&[u8]>) -> Vec<Box<dyn InternalIterator + '_>> {
        let mut v: Vec<Box<dyn InternalIterator + '_>> = Vec::new();
        v.push(Box::new(MemtableIter::new(&self.mem)));
        for f in self.imm.iter().rev() {
            v.push(Box::new(MemtableIter::new(f.mem.clone())));
        }
        let table_prefix = prefix.and_then(|p| {
            self.opts
                .prefix_len
                .filter(|&n| p.len() >= n)
                .map(|n| Vec::from(&p[..n]))
        });
        let successor = prefix.and_then(prefix_successor);
        // A table can hold keys with the prefix iff its range meets [prefix, successor).
        let overlaps = |t: &crate::version::TableMeta| match prefix {
            Some(p) => {
                t.largest_user_key() >= p
                    && successor
                        .as_deref()
                        .is_none_or(|s| t.smallest_user_key() < s)
            }
            None => true,
        };
        for run in &self.version.l0 {
            let tables: Vec<_> = run.tables.iter().filter(|t| overlaps(t)).cloned().collect();
            if !tables.is_empty() {
                v.push(Box::new(LevelIter::new(
                    self.table_cache.clone(),
                    tables,
                    true,
                    table_prefix.clone(),
                )));
            }
        }
        for level in &self.version.levels {
            let tables: Vec<_> = level.iter().filter(|t| overlaps(t)).cloned().collect();
            if !tables.is_empty() {
                v.push(Box::new(LevelIter::new(
                    self.table_cache.clone(),
                    tables,
                    true,
                    table_prefix.clone(),
                )));
            }
        }
        v
    }

    /// Iterates the user keys in `range` at sequence `seq` in `direction`, optionally only
    /// keys starting with `prefix`.
    pub fn iter_at(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        prefix: Option<&[u8]>,
        seq: u64,
        direction: Direction,
    ) -> Result<DbIter<'_>> {
        self.check_open()?;
        let (mut lo, mut hi) = (bound_to_owned(range.0), bound_to_owned(range.1));
        if let Some(p) = prefix {
            // Narrow the range to the prefix.
            let plo = Bound::Included(Vec::from(p));
            if lower_is_tighter(&plo, &lo) {
                lo = plo;
            }
            if let Some(succ) = prefix_successor(p) {
                let phi = Bound::Excluded(succ);
                if upper_is_tighter(&phi, &hi) {
                    hi = phi;
                }
            }
        }
        let merged = MergingIterator::new(self.sources(prefix));
        DbIter::new(merged, lo, hi, seq, direction)
    }

    /// Iterates `range` now, forward.
    pub fn range(&self, range: (Bound<&[u8]>, Bound<&[u8]>)) -> Result<DbIter<'_>> {
        self.iter_at(range, None, self.visible_seq, Direction::Forward)
    }

    /// Reads up to `limit` entries (stopping early once about `max_bytes` are gathered) of
    /// `range` at `seq`, continuing strictly after `after` (forward) or before it (reverse).
    /// Returns the page and whether the range is exhausted. The native and browser iterators
    /// page through large scans with this, so that no lock is held between pages; a snapshot
    /// keeps the pages consistent.
    #[allow(clippy::too_many_arguments)]
    pub fn scan_page(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        prefix: Option<&[u8]>,
        seq: u64,
        direction: Direction,
        after: Option<&[u8]>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Entry>, bool)> {
        let range = match (after, direction) {
            (Some(a), Direction::Forward) => (Bound::Excluded(a), range.1),
            (Some(a), Direction::Reverse) => (range.0, Bound::Excluded(a)),
            (None, _) => range,
        };
        let mut it = self.iter_at(range, prefix, seq, direction)?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < limit.max(1) && bytes < max_bytes {
            match it.next() {
                Some(Ok((k, v))) => {
                    bytes += k.len() + v.len() + 32;
                    out.push((k, v));
                }
                Some(Err(e)) => return Err(e),
                None => return Ok((out, true)),
            }
        }
        Ok((out, false))
    }

    /// Picks the next background job, if any, and reserves its inputs. The caller runs it
    /// (anywhere, without the `Db`) and hands the result to [`Db::install`].
    pub fn pick_job(&mut self) -> Option<Job<V>> {
        if self.closed || self.poisoned.is_some() {
            return None;
        }
        if !self.flush_running {
            if let Some(frozen) = self.imm.front().cloned() {
                self.flush_running = true;
                let ticket = self.new_ticket(true, None);
                let number = self.files.allocate();
                return Some(Job {
                    ticket,
                    work: Work::Flush(FlushJob::new(
                        self.vfs.clone(),
                        self.opts.clone(),
                        frozen,
                        number,
                        self.snapshot_sequences(),
                    )),
                });
            }
        }
        let picked = compaction::pick(&self.version, &self.opts, &self.reservations())?;
        if picked.trivial_move {
            self.stats.trivial_moves += 1;
        } else if picked.output_level == 0 {
            self.stats.l0_merges += 1;
        }
        Some(self.start_compaction(picked))
    }

    fn new_ticket(&mut self, flush: bool, reservation: Option<compaction::Reservation>) -> Ticket {
        self.next_job_id += 1;
        let t = Ticket {
            id: self.next_job_id,
            min_output: self.files.peek(),
            flush,
            reservation,
        };
        self.running.push(t.clone());
        t
    }

    fn reservations(&self) -> Vec<compaction::Reservation> {
        self.running
            .iter()
            .filter_map(|t| t.reservation.clone())
            .collect()
    }

    fn start_compaction(&mut self, picked: compaction::Picked) -> Job<V> {
        let ticket = self.new_ticket(false, Some(picked.reservation()));
        let job = CompactionJob::new(
            picked,
            self.vfs.clone(),
            self.opts.clone(),
            self.table_cache.clone(),
            self.files.clone(),
            self.snapshot_sequences(),
        );
        Job {
            ticket,
            work: Work::Compaction(job),
        }
    }

    /// True when background work is waiting to be picked.
    pub fn has_pending_work(&self) -> bool {
        if self.closed || self.poisoned.is_some() {
            return false; // pick_job hands out nothing
        }
        (!self.imm.is_empty() && !self.flush_running)
            || compaction::pick(&self.version, &self.opts, &self.reservations()).is_some()
    }

    /// Jobs picked and not yet installed.
    pub fn running_jobs(&self) -> usize {
        self.running.len()
    }

    /// Frozen memtables waiting for flush.
    pub fn immutable_count(&self) -> usize {
        self.imm.len()
    }

    /// Installs what a job produced: records it in the manifest (durably), switches to the
    /// new version, and removes the files it made obsolete. Always releases the job's
    /// reservations. A job that failed leaves its partial output behind for the next
    /// obsolete-file sweep and poisons the database (like a failed WAL sync: background I/O
    /// errors stop writes until reopen); a failed manifest write poisons it too.
    pub fn install(&mut self, ticket: Ticket, output: Result<JobOutput>) -> Result<()> {
        self.running.retain(|t| t.id != ticket.id);
        if ticket.flush {
            self.flush_running = false;
        }
        let r = match output {
            Ok(JobOutput::Flush(out)) => self.install_flush(out),
            Ok(JobOutput::Compaction(out)) => self.install_compaction(out),
            Err(e) => Err(e),
        };
        if let Err(e) = &r {
            self.poison(e);
        }
        r
    }

    fn install_flush(&mut self, out: FlushOutput) -> Result<()> {
        let frozen = match self.imm.front() {
            Some(f) if Arc::ptr_eq(f, &out.frozen) => f.clone(),
            _ => {
                return Err(Error::InvalidArgument(String::from(
                    "flush output does not match the oldest frozen memtable",
                )))
            }
        };
        let new_log = self.imm.get(1).map_or(self.mem_first_wal, |f| f.first_wal);
        let mut edit = VersionEdit {
            log_number: Some(new_log),
            next_file_number: Some(self.files.peek()),
            last_sequence: Some(self.flushed_seq.max(frozen.mem.max_seq().unwrap_or(0))),
            ..VersionEdit::default()
        };
        if let Some(meta) = &out.meta {
            edit.added.push(AddedTable {
                level: 0,
                run: self.version.max_run_id() + 1,
                meta: meta.clone(),
            });
        }
        self.log_and_apply(&edit)?;
        self.imm.pop_front();
        self.flushed_seq = edit.last_sequence.unwrap_or(self.flushed_seq);
        self.log_number = new_log;
        self.stats.flushes += 1;
        self.stats.flush_bytes += out.meta.as_ref().map_or(0, |m| m.size);
        self.remove_obsolete_files().map(|_| ())
    }

    fn install_compaction(&mut self, out: CompactionOutput) -> Result<()> {
        let mut edit = out.edit.clone();
        edit.next_file_number = Some(self.files.peek());
        self.log_and_apply(&edit)?;
        for &(level, read, written) in &out.level_io {
            self.note_level_io(level, read, written);
        }
        self.stats.compactions += 1;
        for &(_, n) in &edit.removed {
            self.table_cache.evict(n);
        }
        self.remove_obsolete_files().map(|_| ())
    }

    fn note_level_io(&mut self, level: usize, read: u64, written: u64) {
        while self.stats.levels.len() <= level {
            let l = self.stats.levels.len();
            self.stats.levels.push(LevelStats {
                level: l,
                ..LevelStats::default()
            });
        }
        self.stats.levels[level].compaction_read += read;
        self.stats.levels[level].compaction_written += written;
    }

    /// Appends `edit` to the manifest (rewriting the manifest first if it is too big) and
    /// installs the new version.
    fn log_and_apply(&mut self, edit: &VersionEdit) -> Result<()> {
        let v = self
            .version
            .apply(edit)
            .map_err(|e| Error::InvalidArgument(format!("bad version edit: {}", e.0)))?;
        if self.manifest.size() >= self.opts.max_manifest_size {
            let number = self.files.allocate();
            let mut snapshot = v.snapshot_edit();
            snapshot.log_number = Some(edit.log_number.unwrap_or(self.log_number));
            snapshot.next_file_number = Some(self.files.peek());
            snapshot.last_sequence = Some(edit.last_sequence.unwrap_or(self.flushed_seq));
            let writer = ManifestWriter::create(&self.vfs, number, &snapshot)?;
            self.current = current::switch(&self.vfs, &self.current, number)?;
            self.manifest = writer;
        } else {
            self.manifest.append(edit)?;
        }
        self.version = Arc::new(v);
        Ok(())
    }

    /// Removes WALs below the log number, tables in no version and not possibly being written
    /// by a running job, and manifests other than the current one. Only called after the
    /// edits that made them obsolete are durable. Returns how many files were removed.
    fn remove_obsolete_files(&mut self) -> Result<u64> {
        let live: BTreeSet<u64> = self.version.all_tables().map(|(_, t)| t.number).collect();
        let min_running = self
            .running
            .iter()
            .map(|t| t.min_output)
            .min()
            .unwrap_or(u64::MAX);
        let mut removed = 0u64;
        for name in self.vfs.list()? {
            let obsolete = match parse_name(&name) {
                FileKind::Wal(n) => n < self.log_number && n != self.wal.number(),
                FileKind::Table(n) => !live.contains(&n) && n < min_running,
                FileKind::Manifest(n) => n != self.manifest.number(),
                FileKind::Other => false,
            };
            if obsolete {
                if let FileKind::Table(n) = parse_name(&name) {
                    self.table_cache.evict(n);
                }
                self.vfs.remove(&name)?;
                removed += 1;
            }
        }
        if removed > 0 {
            self.vfs.sync_dir()?;
        }
        Ok(removed)
    }

    /// Runs one background job inline if there is one. Returns whether work was done. The
    /// browser and WASI call this between requests; tests use it to drive the engine
    /// deterministically.
    pub fn step(&mut self) -> Result<bool> {
        let Some(job) = self.pick_job() else {
            return Ok(false);
        };
        let (ticket, out) = job.run();
        self.install(ticket, out).map(|_| true)
    }

    /// Freezes the memtable and flushes every frozen memtable, inline.
    pub fn flush(&mut self) -> Result<()> {
        self.rotate()?;
        while !self.imm.is_empty() {
            if !self.step()? {
                break;
            }
        }
        Ok(())
    }

    /// Runs background work inline until none is left (flushes and compactions).
    pub fn run_all_background_work(&mut self) -> Result<()> {
        while self.step()? {}
        Ok(())
    }

    /// Picks a manual compaction of the tables overlapping `[start, end]` (one level at a
    /// time, top down); `None` when the range is fully compacted into the last non-empty
    /// level. Native runs the returned job on its thread; [`Db::compact_range`] runs it inline.
    pub fn pick_manual(
        &mut self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        from_level: usize,
    ) -> Option<Job<V>> {
        if self.closed || self.poisoned.is_some() {
            return None;
        }
        let picked = compaction::pick_manual(
            &self.version,
            &self.opts,
            start,
            end,
            from_level,
            &self.snapshot_sequences(),
            &self.reservations(),
        )?;
        Some(self.start_compaction(picked))
    }

    /// Flushes, then compacts every table overlapping `[start, end]` down the levels, inline.
    pub fn compact_range(&mut self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.check_writable()?;
        self.flush()?;
        for level in 0..self.version.num_levels() {
            while let Some(job) = self.pick_manual(start, end, level) {
                let (ticket, out) = job.run();
                self.install(ticket, out)?;
            }
        }
        Ok(())
    }

    /// The current version (tables by level).
    pub fn version(&self) -> Arc<Version> {
        self.version.clone()
    }

    /// The table cache (for tools that read tables directly).
    pub fn table_cache(&self) -> &Arc<TableCache<V>> {
        &self.table_cache
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.memtable_bytes = self.mem.approximate_memory() as u64;
        s.immutable_memtables = self.imm.len() as u64;
        s.last_sequence = self.visible_seq;
        s.snapshots = self.snapshots.values().map(|&n| n as u64).sum();
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
    /// call returns [`Error::Closed`].
    /// Dropping a `Db` without closing is safe too: it is what a crash looks like.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = if self.poisoned.is_none() {
            // Sync, then end the WAL with its clean-close marker (see `wal`).
            self.wal.close()
        } else {
            Ok(())
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
        if rec.value.len() > opts.max_value_size {
            return Err(Error::ValueTooLarge {
                len: rec.value.len(),
                max: opts.max_value_size,
            });
        }
    }
    Ok(())
}

fn bound_to_owned(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(Vec::from(k)),
        Bound::Excluded(k) => Bound::Excluded(Vec::from(k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn lower_is_tighter(a: &Bound<Vec<u8>>, than: &Bound<Vec<u8>>) -> bool {
    match (a, than) {
        (_, Bound::Unbounded) => true,
        (Bound::Unbounded, _) => false,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            x > y || (x == y && matches!(a, Bound::Excluded(_)))
        }
    }
}

fn upper_is_tighter(a: &Bound<Vec<u8>>, than: &Bound<Vec<u8>>) -> bool {
    match (a, than) {
        (_, Bound::Unbounded) => true,
        (Bound::Unbounded, _) => false,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            x < y || (x == y && matches!(a, Bound::Excluded(_)))
        }
    }
}

/// The smallest key greater than every key starting with `p`, or `None` if there is none
/// (`p` is all 0xFF).
pub fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut s = Vec::from(p);
    while let Some(last) = s.pop() {
        if last != 0xFF {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}
