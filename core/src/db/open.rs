//! Opening a database: the current pointer, the manifest, the tables it names, WAL replay,
//! and the fresh WAL and manifest snapshot every open starts with.
//!
//! **One integrity rule.** [`Db::recover`] reads the files and decides everything — what is a
//! torn tail, what is damage, which WALs the manifest needs, whether every table is there —
//! without writing a byte. [`Db::open`] runs it, then makes the repairs it decided on
//! (truncating torn tails), flushes what it replayed and starts a new WAL and manifest;
//! [`Db::open_read_only`] runs it and keeps the result in memory; [`Db::verify`] (what
//! `cairn verify` runs) runs it the read-only way and then reads every table block, and
//! `cairn dump-manifest` judges a manifest with [`read_manifest`], the function recovery
//! reads it with. So the tools refuse exactly what open refuses.
//!
//! **A failed open leaves the directory as it found it.** The checks that can fail on a
//! directory that holds no valid database (no current pointer, leftovers that are not from an
//! interrupted creation, `create_if_missing` off) run before the lock is taken, and every
//! repair and new file comes after the whole recovery succeeded.

use super::{Db, Recovered};
use crate::batch::{BatchRef, WriteBatch};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::filename::{self, FileKind, FileNumbers};
use crate::flush::FlushJob;
use crate::manifest::{self, ManifestWriter};
use crate::memtable::{Frozen, Memtable};
use crate::options::Options;
use crate::stats::Stats;
use crate::table::Table;
use crate::table_cache::TableCache;
use crate::version::{AddedTable, Version, VersionEdit};
use crate::wal::{self, WalWriter};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::{current, File, ReadOnlyVfs, Vfs};

/// What recovery read from a database's files and decided, before anything is written.
struct Recovery<F> {
    /// The current pointer (None: no database yet, one is being created).
    current: Option<current::Current>,
    /// The manifest and the offset of its torn tail, if it has one.
    manifest: Option<(String, Arc<F>, Option<u64>)>,
    version: Version,
    log_number: u64,
    next_file: u64,
    flushed_seq: u64,
    /// Every table the version names, opened.
    tables: Vec<(String, Arc<F>)>,
    /// The WALs replayed, oldest first, with the offset of a torn tail.
    wals: Vec<(String, Arc<F>, Option<u64>)>,
    mem: Memtable,
    imm: VecDeque<Arc<Frozen>>,
    mem_first_wal: u64,
    last_seq: u64,
    recovered: Recovered,
}

/// What [`Db::verify`] found in a database that [`Db::open`] accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// What recovery decided, exactly as `Db::open` decides it: the torn tails it drops, the
    /// WALs it replays, the damaged current-pointer slots, the unknown files it leaves alone.
    pub recovered: Recovered,
    /// The manifest the current pointer names.
    pub manifest: String,
    /// The oldest WAL the manifest needs.
    pub log_number: u64,
    /// The last sequence number recovery keeps.
    pub last_sequence: u64,
    /// Tables the manifest names.
    pub tables: u64,
    /// Data blocks read and checked.
    pub data_blocks: u64,
    /// Table entries decoded.
    pub entries: u64,
    /// Table bytes read.
    pub bytes_read: u64,
    /// Bytes of the WALs replayed.
    pub wal_bytes: u64,
    /// Bytes of WAL tail that recovery drops as torn (0 when nothing is dropped). Writes in
    /// them are lost; see `docs/DURABILITY.md` for when that can be an acknowledged write.
    pub torn_wal_bytes: u64,
    /// Damage in tables (open only checks that each is there at its size; reads of the damaged
    /// blocks fail with these errors).
    pub problems: Vec<Error>,
    /// Obsolete files the next open removes (proved written by this engine).
    pub obsolete_files: Vec<String>,
}

/// How the detail of a missing-file error starts.
const MISSING: &str = "missing: ";

/// The error for a file the manifest needs that is not there.
fn missing<'a>(name: &'a str, what: &str) -> impl FnOnce(cairn_vfs::Error) -> Error + 'a {
    let what = format!("{MISSING}{what}");
    move |e| {
        if e.kind() == cairn_vfs::ErrorKind::NotFound {
            Error::corruption(name, None, what)
        } else {
            e.into()
        }
    }
}

/// The manifest a current pointer names, read and judged as recovery judges it.
#[doc(hidden)]
#[derive(Debug)]
pub struct ManifestRead<F> {
    /// The manifest's file name.
    pub name: String,
    /// The file.
    pub file: Arc<F>,
    /// Every edit kept (a torn tail dropped), the snapshot first.
    pub edits: Vec<VersionEdit>,
    /// The version the edits build.
    pub version: Version,
    /// The oldest WAL the version needs.
    pub log_number: u64,
    /// The next file number the edits record.
    pub next_file: u64,
    /// The last sequence number the edits record as flushed.
    pub last_sequence: u64,
    /// The offset of a torn tail that recovery drops.
    pub torn_tail: Option<u64>,
}

/// Reads manifest `cur.manifest` from `vfs` and decides, as [`Db::open`] does, whether damage
/// at its end is a torn tail or corruption: a torn tail is an append that never completed, so
/// nothing it would have made obsolete was removed yet, and the WAL the remaining edits need
/// is still there. If that WAL is gone, the damaged record was a complete, synced edit (a
/// flipped bit, not a torn write) and dropping it would silently lose the data it recorded:
/// that is [`Error::Corruption`]. Writes nothing. `cairn dump-manifest` uses this too.
#[doc(hidden)]
pub fn read_manifest<V: Vfs>(
    vfs: &V,
    num_levels: usize,
    cur: &current::Current,
) -> Result<ManifestRead<V::File>> {
    let name = filename::manifest(cur.manifest);
    let file = vfs
        .open_read(&name)
        .map_err(missing(&name, "the manifest named by CURRENT is missing"))?;
    let replayed = manifest::replay(&*file, &name)?;
    let mut v = Version::empty(num_levels);
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
        if log > 0 && !vfs.exists(&filename::wal(log))? {
            return Err(Error::corruption(
                &name,
                Some(off),
                format!(
                    "damaged last record: without it the manifest needs WAL {log}, which was \
                     already removed"
                ),
            ));
        }
    }
    Ok(ManifestRead {
        name,
        file,
        edits: replayed.edits,
        version: v,
        log_number: log,
        next_file: next,
        last_sequence: seq,
        torn_tail: replayed.torn_tail,
    })
}

impl<V: Vfs + Clone> Db<V> {
    /// Opens (or creates) the database in `vfs`: reads the current pointer, takes the
    /// directory lock, reads the manifest, checks that every table exists, replays the WALs,
    /// then (only when all of that succeeded) truncates torn tails, flushes the replayed
    /// writes into level-0 tables, starts a new WAL and a fresh manifest, and removes obsolete
    /// files that it can prove this engine wrote (see `Recovered::unknown_files`).
    pub fn open(vfs: V, opts: Options) -> Result<Self> {
        opts.validate()?;
        // Before the lock: a directory that holds no database we may open or create fails
        // here, with no LOCK file and nothing else created or removed.
        Self::check_current(&vfs, &opts)?;
        let lock = vfs.lock()?;
        let opts = Arc::new(opts);

        // 1-3. Read and decide, under the lock, without writing.
        let cur = Self::check_current(&vfs, &opts)?;
        let leftovers = match cur {
            None => Self::creation_leftovers(&vfs)?,
            Some(_) => Vec::new(),
        };
        let Recovery {
            current: old_current,
            manifest: old_manifest,
            mut version,
            log_number: _,
            mut next_file,
            mut flushed_seq,
            tables: _,
            wals,
            mut mem,
            mut imm,
            mem_first_wal,
            last_seq,
            mut recovered,
        } = Self::recover(&vfs, &opts, cur)?;

        // The repairs recovery decided on.
        for name in &leftovers {
            vfs.remove(name)?;
        }
        if !leftovers.is_empty() {
            vfs.sync_dir()?;
        }
        // Recovery read the files through `open_read` (without write access on StdVfs, where
        // a truncate of such a handle fails): repairs go through handles opened for writing.
        if let Some((name, _, Some(off))) = &old_manifest {
            let file = vfs.open(name)?;
            file.truncate(*off)?;
            file.sync()?;
        }
        for (name, _, torn) in &wals {
            let file = vfs.open(name)?;
            if let Some(off) = torn {
                if *off >= wal::FILE_HEADER_LEN as u64 {
                    file.truncate(*off)?;
                }
            }
            // What was replayed becomes durable before new writes can depend on it.
            file.sync()?;
        }

        // 4. Recovered writes go straight into level-0 tables: WALs never pile up across
        //    opens, and the next recovery starts from tables. A crash here leaves orphan
        //    tables (removed by the next open) and the WALs, replayed again.
        let first_own_file = next_file;
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
        let wal_file = vfs.create(&filename::wal(wal_number))?;
        let mut new_wal = WalWriter::create(wal_file, wal_number)?;
        new_wal.sync()?;
        let log_number = if mem.is_empty() && imm.is_empty() {
            wal_number
        } else {
            imm.front()
                .map_or(mem_first_wal, |f: &Arc<Frozen>| f.first_wal)
        };
        let manifest_number = next_file;
        next_file += 1;
        let mut snapshot = version.snapshot_edit();
        snapshot.log_number = Some(log_number);
        snapshot.next_file_number = Some(next_file);
        snapshot.last_sequence = Some(flushed_seq);
        let manifest = ManifestWriter::create(&vfs, manifest_number, &snapshot)?;
        let cur = match old_current {
            None => current::create(&vfs, manifest_number)?,
            Some(cur) => current::switch(&vfs, &cur, manifest_number)?,
        };
        recovered.read_only = false;

        let mut db = Self::assemble(
            vfs,
            opts,
            version,
            mem,
            imm,
            last_seq,
            flushed_seq,
            log_number,
            next_file,
            recovered,
        );
        db.wal = Some(new_wal);
        db.manifest = Some((manifest, cur));
        db._lock = Some(lock);
        db.first_own_file = first_own_file;
        db.mem_first_wal = wal_number;
        db.recovered.removed_files = db.remove_obsolete_files()?;
        Ok(db)
    }

    /// Opens the database in `vfs` for reading only, through a [`ReadOnlyVfs`] that refuses
    /// every mutation: takes no lock (so it works while another process has the database open
    /// for writing, and several readers may open it at once), writes not one byte, and replays
    /// the WALs into memory without truncating a torn tail (it is reported in
    /// `Recovered::torn_wal_tail` and dropped in memory only). Recovery decides torn tails and
    /// damage exactly as [`Db::open`] does.
    ///
    /// The database shows the state as of its open: writes another process makes later are
    /// not seen (reopen to see them). Every table the state needs is opened and kept open, so
    /// a writer compacting and removing them does not disturb the reader; if the writer
    /// switches manifests or removes a WAL *during* the open, the open starts over (up to a
    /// few times). Writes, flushes and compactions return [`Error::ReadOnly`]; there is no
    /// background work.
    pub fn open_read_only(vfs: V, opts: Options) -> Result<Db<ReadOnlyVfs<V>>> {
        opts.validate()?;
        let ro = ReadOnlyVfs::new(vfs);
        let opts = Arc::new(opts);
        let rec = Self::recover_read_only(&ro, &opts)?;
        Ok(Self::read_only_db(ro, opts, rec))
    }

    /// The read-only engine object around what [`Db::recover_read_only`] found.
    fn read_only_db(
        ro: ReadOnlyVfs<V>,
        opts: Arc<Options>,
        rec: Recovery<<ReadOnlyVfs<V> as Vfs>::File>,
    ) -> Db<ReadOnlyVfs<V>> {
        for (name, file) in &rec.tables {
            ro.pin(name, file.clone());
        }
        let mut recovered = rec.recovered;
        recovered.read_only = true;
        let mut imm = rec.imm;
        let mut mem = rec.mem;
        if !mem.is_empty() {
            // Everything recovered is frozen: nothing new ever goes into a read-only memtable.
            imm.push_back(Arc::new(Frozen {
                mem: Arc::new(core::mem::take(&mut mem)),
                first_wal: rec.mem_first_wal,
            }));
        }
        let mut db = Db::<ReadOnlyVfs<V>>::assemble(
            ro,
            opts,
            rec.version,
            mem,
            imm,
            rec.last_seq,
            rec.flushed_seq,
            rec.log_number,
            rec.next_file,
            recovered,
        );
        db.first_own_file = u64::MAX;
        db
    }

    /// Checks a database without changing it: runs the recovery [`Db::open`] runs (through a
    /// [`ReadOnlyVfs`], like [`Db::open_read_only`]), so it fails exactly when `open` would
    /// refuse the database, with the same error; then reads every block of every table the
    /// manifest names (checksums, block encoding, key order, agreement with the manifest),
    /// which `open` does not. `progress` is called with the size of each table checked.
    ///
    /// `Ok` means `open` accepts the database; [`Verified::problems`] lists the damage found
    /// in tables (reads would fail there), and [`Verified::recovered`] what recovery decided
    /// (torn tails it drops: [`Verified::torn_wal_bytes`] says how much).
    pub fn verify(vfs: V, opts: Options, progress: &mut dyn FnMut(u64)) -> Result<Verified> {
        opts.validate()?;
        let ro = ReadOnlyVfs::new(vfs);
        let opts = Arc::new(opts);
        let rec = Self::recover_read_only(&ro, &opts)?;
        let manifest_number = rec.current.as_ref().map_or(0, |c| c.manifest);
        let (mut wal_bytes, mut torn_wal_bytes) = (0, 0);
        for (_, file, torn) in &rec.wals {
            let len = file.len()?;
            wal_bytes += len;
            if let Some(off) = torn {
                torn_wal_bytes += len.saturating_sub(*off);
            }
        }
        let files: BTreeMap<String, _> = rec.tables.iter().cloned().collect();
        let db = Self::read_only_db(ro, opts, rec);
        let mut v = Verified {
            manifest: filename::manifest(manifest_number),
            log_number: db.log_number,
            last_sequence: db.last_seq,
            wal_bytes,
            torn_wal_bytes,
            ..Verified::default()
        };

        // Every table, every block.
        let mut live = alloc::collections::BTreeSet::new();
        for (_, meta) in db.version.all_tables() {
            live.insert(meta.number);
            v.tables += 1;
            let name = filename::table(meta.number);
            let Some(file) = files.get(&name) else {
                // Recovery opened every table it names; this cannot be missing.
                v.problems
                    .push(Error::corruption(&name, None, "table was not opened"));
                continue;
            };
            let checked = Table::open(file.clone(), meta.number, meta.size, None).and_then(|t| {
                let report = t.verify()?;
                let p = t.properties();
                if p.num_entries != meta.entries
                    || p.min_seq != meta.min_seq
                    || p.max_seq != meta.max_seq
                    || p.smallest_key != meta.smallest
                    || p.largest_key != meta.largest
                {
                    return Err(Error::corruption(
                        &name,
                        None,
                        "table properties disagree with the manifest",
                    ));
                }
                Ok(report)
            });
            match checked {
                Ok(r) => {
                    v.data_blocks += r.data_blocks;
                    v.entries += r.entries;
                    v.bytes_read += r.bytes_read;
                }
                Err(e) => v.problems.push(e),
            }
            progress(meta.size);
        }

        // What the next open removes, by the rule it removes files with; what it would look
        // obsolete but is not provably the engine's is left alone and listed, as open lists it.
        v.recovered = db.recovered.clone();
        for name in db.vfs.list()? {
            let kind = filename::parse(&name);
            if super::jobs::is_obsolete(
                kind,
                &live,
                db.log_number,
                u64::MAX,
                manifest_number,
                u64::MAX,
            ) {
                if db.provably_ours(&name, kind)? {
                    v.obsolete_files.push(name);
                } else if !v.recovered.unknown_files.contains(&name) {
                    v.recovered.unknown_files.push(name);
                }
            }
        }
        v.obsolete_files.sort();
        Ok(v)
    }

    /// Runs recovery over `ro` without writing: the current pointer must exist (a read-only
    /// open creates nothing). A writer may move on while we read (switch manifests, remove a
    /// WAL after a flush edit, a table after a compaction): then this starts over, up to a
    /// few times. A file that is really missing fails the same way every time.
    fn recover_read_only(
        ro: &ReadOnlyVfs<V>,
        opts: &Options,
    ) -> Result<Recovery<<ReadOnlyVfs<V> as Vfs>::File>> {
        let mut attempt = 0;
        loop {
            let Some(cur) = Db::<ReadOnlyVfs<V>>::check_current(ro, opts)? else {
                return Err(Error::NotFound(String::from(
                    "no CURRENT pointer (a read-only open creates nothing)",
                )));
            };
            match Db::<ReadOnlyVfs<V>>::recover(ro, opts, Some(cur)) {
                Ok(rec) => return Ok(rec),
                Err(e) => {
                    attempt += 1;
                    let moved = Db::<ReadOnlyVfs<V>>::check_current(ro, opts)
                        .ok()
                        .flatten()
                        .is_some_and(|now| now.generation != cur.generation);
                    let vanished = match &e {
                        Error::Io(io) => io.kind() == cairn_vfs::ErrorKind::NotFound,
                        Error::Corruption { detail, .. } => detail.starts_with(MISSING),
                        _ => false,
                    };
                    if !((moved || vanished) && attempt < 5) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Builds the engine object around a recovered state; the caller sets the writer parts.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        vfs: V,
        opts: Arc<Options>,
        version: Version,
        mem: Memtable,
        imm: VecDeque<Arc<Frozen>>,
        last_seq: u64,
        flushed_seq: u64,
        log_number: u64,
        next_file: u64,
        recovered: Recovered,
    ) -> Self {
        let block_cache = Arc::new(BlockCache::new(opts.block_cache_size));
        let table_cache = Arc::new(TableCache::new(
            vfs.clone(),
            Some(block_cache.clone()),
            opts.max_open_tables,
        ));
        Db {
            vfs,
            opts,
            table_cache,
            block_cache,
            mem,
            mem_first_wal: next_file,
            wal: None,
            imm,
            version: Arc::new(version),
            manifest: None,
            log_number,
            files: FileNumbers::new(next_file),
            last_seq,
            visible_seq: last_seq,
            flushed_seq,
            snapshots: BTreeMap::new(),
            poisoned: None,
            poisoned_by_no_space: false,
            running: Vec::new(),
            next_job_id: 0,
            flush_running: false,
            batch_buf: WriteBatch::new(),
            stats: Stats::default(),
            recovered,
            closed: false,
            first_own_file: next_file,
            file_pins: 0,
            _lock: None,
        }
    }

    /// Reads the current pointer: `Some` for an existing database, `None` when there is none
    /// and `opts` allow creating one (and the directory holds only leftovers of an
    /// interrupted creation). Writes nothing.
    fn check_current(vfs: &V, opts: &Options) -> Result<Option<current::Current>> {
        match current::read(vfs) {
            Err(current::ReadError::Missing) => {
                if !opts.create_if_missing {
                    return Err(Error::NotFound(String::from(
                        "no CURRENT pointer and create_if_missing is false",
                    )));
                }
                Self::creation_leftovers(vfs)?;
                Ok(None)
            }
            Err(current::ReadError::Corrupt(detail)) => {
                Err(Error::corruption("CURRENT", Some(0), detail))
            }
            Err(current::ReadError::UnsupportedVersion(v)) => Err(Error::UnsupportedFormat(
                format!("CURRENT format version {v}"),
            )),
            Err(current::ReadError::Io(e)) => Err(e.into()),
            Ok(cur) => {
                if opts.error_if_exists {
                    return Err(Error::AlreadyExists(String::from(
                        "a database, and error_if_exists is set",
                    )));
                }
                Ok(Some(cur))
            }
        }
    }

    /// Reads the manifest named by `cur` (an empty database for `None`), checks every table it
    /// names, and replays the WALs it needs into memtables. Decides every torn tail and every
    /// damage; writes nothing.
    fn recover(
        vfs: &V,
        opts: &Options,
        cur: Option<current::Current>,
    ) -> Result<Recovery<V::File>> {
        let mut recovered = Recovered {
            created: cur.is_none(),
            ..Recovered::default()
        };
        // 1. The manifest named by the current pointer.
        let (mut version, log_number, mut next_file, mut flushed_seq, manifest) = match cur {
            None => (Version::empty(opts.num_levels), 0, 1, 0, None),
            Some(cur) => {
                recovered.damaged_current_slots = cur.damaged_slots;
                let m = read_manifest(vfs, opts.num_levels, &cur)?;
                if let Some(off) = m.torn_tail {
                    recovered.torn_manifest_tail = Some((m.name.clone(), off));
                }
                (
                    m.version,
                    m.log_number,
                    m.next_file,
                    m.last_sequence,
                    Some((m.name, m.file, m.torn_tail)),
                )
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
            let kind = filename::parse(name);
            match kind {
                FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n) => {
                    next_file = next_file.max(n + 1);
                    if matches!(kind, FileKind::Wal(_)) && n >= log_number {
                        wals.push(n);
                    }
                }
                FileKind::Current => {}
                FileKind::Other => {
                    if name != "LOCK" {
                        recovered.unknown_files.push(name.clone());
                    }
                }
            }
        }
        wals.sort_unstable();
        let mut tables = Vec::new();
        for (_, t) in version.all_tables() {
            let name = filename::table(t.number);
            let f = vfs
                .open_read(&name)
                .map_err(missing(&name, "table named by the manifest is missing"))?;
            let len = f.len()?;
            if len != t.size {
                return Err(Error::corruption(
                    &name,
                    None,
                    format!("table is {len} bytes, the manifest says {}", t.size),
                ));
            }
            tables.push((name, f));
            flushed_seq = flushed_seq.max(t.max_seq);
        }

        // 3. Replay the WALs into memtables.
        let mut mem = Memtable::new();
        let mut mem_first_wal = wals.first().copied().unwrap_or(next_file);
        let mut imm = VecDeque::new();
        let mut last_seq = flushed_seq;
        let mut replayed_wals = Vec::new();
        for (i, &n) in wals.iter().enumerate() {
            let name = filename::wal(n);
            let file = vfs.open_read(&name).map_err(missing(
                &name,
                "WAL listed in the directory is gone (removed while opening)",
            ))?;
            let is_newest = i + 1 == wals.len();
            let replayed = wal::scan(
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
            recovered.wal_files += 1;
            recovered.wal_records += replayed.records;
            let torn = replayed.torn_tail.as_ref().map(|t| t.0);
            if let Some((off, why)) = replayed.torn_tail {
                recovered.torn_wal_tail = Some((name.clone(), off, why));
            }
            replayed_wals.push((name, file, torn));
        }
        if mem.is_empty() {
            mem_first_wal = next_file;
        }
        Ok(Recovery {
            current: cur,
            manifest,
            version,
            log_number,
            next_file,
            flushed_seq,
            tables,
            wals: replayed_wals,
            mem,
            imm,
            mem_first_wal,
            last_seq,
            recovered,
        })
    }

    /// A directory without a current pointer may hold leftovers of a creation that crashed
    /// before its current pointer was written (manifests, WALs without records), which
    /// creating the database removes; a table or a WAL with records means the pointer was
    /// lost, and that is corruption. Returns the leftovers; removes nothing.
    fn creation_leftovers(vfs: &V) -> Result<Vec<String>> {
        let mut leftovers = Vec::new();
        for name in vfs.list()? {
            match filename::parse(&name) {
                FileKind::Manifest(_) => {
                    let f = vfs.open_read(&name)?;
                    let mut magic = [0u8; 8];
                    if f.len()? >= 8 {
                        f.read_exact_at(0, &mut magic)?;
                    }
                    // Only a manifest of ours is a leftover; anything else stays.
                    if &magic == manifest::MAGIC {
                        leftovers.push(name);
                    }
                }
                FileKind::Wal(n) => {
                    // A WAL with records but no manifest cannot be from a database that never
                    // finished creation (creation writes the manifest before the first WAL).
                    let f = vfs.open_read(&name)?;
                    if f.len()? > wal::FILE_HEADER_LEN as u64 {
                        return Err(Error::corruption(
                            &name,
                            None,
                            format!("WAL {n} exists but the CURRENT pointer is missing"),
                        ));
                    }
                    let bytes = f.read_all()?;
                    if wal::decode_header(&bytes).is_ok() {
                        leftovers.push(name);
                    }
                }
                FileKind::Table(_) => {
                    return Err(Error::corruption(
                        &name,
                        None,
                        "tables exist but the CURRENT pointer is missing",
                    ))
                }
                FileKind::Current | FileKind::Other => {}
            }
        }
        Ok(leftovers)
    }
}
