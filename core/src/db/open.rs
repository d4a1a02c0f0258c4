//! Opening a database: the current pointer, the manifest, the tables it names, WAL replay,
//! and the fresh WAL and manifest snapshot every open starts with.

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
use crate::table_cache::TableCache;
use crate::version::{AddedTable, Version, VersionEdit};
use crate::wal::{self, WalWriter};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::{current, File, Vfs};

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
                    let name = filename::manifest(cur.manifest);
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
                        if log > 0 && !vfs.exists(&filename::wal(log))? {
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
            match filename::parse(name) {
                FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n) => {
                    next_file = next_file.max(n + 1);
                    if let FileKind::Wal(n) = filename::parse(name) {
                        if n >= log_number {
                            wals.push(n);
                        }
                    }
                }
                FileKind::Current | FileKind::Other => {}
            }
        }
        wals.sort_unstable();
        for (_, t) in version.all_tables() {
            let name = filename::table(t.number);
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
            let name = filename::wal(n);
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
        let wal_file = vfs.create(&filename::wal(wal_number))?;
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
            match filename::parse(&name) {
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
                FileKind::Current | FileKind::Other => {}
            }
        }
        vfs.sync_dir()?;
        Ok(())
    }
}
