//! Checkpoints: a consistent, openable copy of a live database in another directory, made
//! while reads and writes go on.
//!
//! A checkpoint is taken in three steps, so that the long part runs without the engine's lock:
//! 1. [`Db::begin_checkpoint`] (brief, `&mut self`) records what the copy needs — every live
//!    table, the current manifest up to its present length, every WAL the manifest still needs
//!    up to its present length — and *pins* those files: until the checkpoint ends, obsolete
//!    files are not removed (the sweep is deferred, not skipped).
//! 2. [`copy_checkpoint`] copies them into an empty destination VFS (tables, being immutable,
//!    may be hard-linked instead by the caller's `link` function), syncs each file, and writes
//!    the current pointer last, then syncs the directory.
//! 3. [`Db::end_checkpoint`] releases the pin and runs the deferred sweep.
//!
//! **Why the copy is consistent.** The manifest is append-only and each edit is written whole
//! before the version it describes is installed, so its first `len` bytes describe exactly the
//! version current at step 1. Every write committed by then has been appended to a WAL the
//! manifest still needs (WALs are removed only after the flush that covers them is in the
//! manifest), so the WAL prefixes end on a record boundary and hold every such write. Opening
//! the copy replays them: it holds every write with a sequence number up to
//! [`CheckpointPlan::sequence`] and none after. Writes appended but not yet published at step 1
//! (their sync still running) are in the copy too, as they would be after a crash.
//!
//! **A crash during the copy** leaves the source untouched and the destination without a
//! current pointer, which [`Db::open`] refuses to take for a database (it reports leftovers in
//! a directory that holds no database); delete the directory and take the checkpoint again.

use super::Db;
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use cairn_vfs::{current, File, Vfs};

/// What a checkpoint copies, recorded by [`Db::begin_checkpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointPlan {
    /// The copy holds every write with a sequence number up to this one, and none after it.
    pub sequence: u64,
    /// The files to copy, tables first, then the WALs (oldest first), then the manifest.
    pub files: Vec<CheckpointFile>,
    /// The number of the manifest the copy's current pointer names.
    pub manifest: u64,
}

/// One file of a [`CheckpointPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointFile {
    /// The file's name (the same in the source and the copy).
    pub name: String,
    /// How many bytes of it to copy (its length when the checkpoint began).
    pub len: u64,
    /// True for files that never change once written (tables): they may be hard-linked.
    pub immutable: bool,
}

/// What [`copy_checkpoint`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointReport {
    /// The sequence number the copy is consistent at.
    pub sequence: u64,
    /// Files copied byte by byte.
    pub files_copied: u64,
    /// Files hard-linked by the caller's `link` function.
    pub files_linked: u64,
    /// Bytes copied (linked files not counted).
    pub bytes_copied: u64,
}

/// Bytes moved per read/write call when copying.
const COPY_CHUNK: usize = 1 << 20;

impl<V: Vfs + Clone> Db<V> {
    /// Step 1 of a checkpoint: records the files a consistent copy needs and pins them (no
    /// obsolete file is removed until [`Db::end_checkpoint`]). Brief: no file is read.
    ///
    /// Refused on a closed database and on one opened read-only (its files belong to another
    /// process, which may remove them at any time; copy a database that no process holds, or
    /// checkpoint from the writer).
    pub fn begin_checkpoint(&mut self) -> Result<CheckpointPlan> {
        self.check_open()?;
        let (Some(wal), Some((manifest, _))) = (self.wal.as_ref(), self.manifest.as_ref()) else {
            return Err(Error::ReadOnly(String::from(
                "a checkpoint needs the writer's view of the files; this database was opened \
                 read-only",
            )));
        };
        let mut files: Vec<CheckpointFile> = self
            .version
            .all_tables()
            .map(|(_, t)| CheckpointFile {
                name: filename::table(t.number),
                len: t.size,
                immutable: true,
            })
            .collect();
        let active = wal.number();
        let mut wals: Vec<u64> = self
            .vfs
            .list()?
            .iter()
            .filter_map(|name| match filename::parse(name) {
                FileKind::Wal(n) if n >= self.log_number && n < active => Some(n),
                _ => None,
            })
            .collect();
        wals.sort_unstable();
        for n in wals {
            let name = filename::wal(n);
            let len = self.vfs.open_read(&name)?.len()?;
            files.push(CheckpointFile {
                name,
                len,
                immutable: false,
            });
        }
        files.push(CheckpointFile {
            name: filename::wal(active),
            len: wal.size(),
            immutable: false,
        });
        files.push(CheckpointFile {
            name: filename::manifest(manifest.number()),
            len: manifest.size(),
            immutable: false,
        });
        let plan = CheckpointPlan {
            sequence: self.last_seq,
            files,
            manifest: manifest.number(),
        };
        self.file_pins += 1;
        self.stats.checkpoints += 1;
        Ok(plan)
    }

    /// Step 3 of a checkpoint (also after a failed copy): releases the pin taken by
    /// [`Db::begin_checkpoint`] and, when no checkpoint is running any more, removes the
    /// files that became obsolete meanwhile.
    pub fn end_checkpoint(&mut self) -> Result<()> {
        self.file_pins = self.file_pins.saturating_sub(1);
        if self.file_pins == 0 && self.background_allowed() {
            self.remove_obsolete_files()?;
        }
        Ok(())
    }

    /// Takes a whole checkpoint into `dest` in one call (for single-threaded callers: the
    /// browser, WASI, tests). The native crate runs the copy outside its lock instead.
    pub fn checkpoint_to<D: Vfs>(&mut self, dest: &D) -> Result<CheckpointReport> {
        self.with_pinned_files(|src, plan| copy_checkpoint(src, plan, dest, &mut |_| Ok(false)))
    }

    /// Begins a checkpoint, runs `f` on the source VFS and the plan, and ends the checkpoint
    /// (also when `f` failed): the one-call form of the three steps, for checkpoints and
    /// backups alike.
    pub(crate) fn with_pinned_files<T>(
        &mut self,
        f: impl FnOnce(&V, &CheckpointPlan) -> Result<T>,
    ) -> Result<T> {
        let plan = self.begin_checkpoint()?;
        let src = self.vfs.clone();
        let done = f(&src, &plan);
        let ended = self.end_checkpoint();
        let out = done?;
        ended?;
        Ok(out)
    }
}

/// Step 2 of a checkpoint: copies the files of `plan` from `src` into `dest`, which must hold
/// no file ([`Error::AlreadyExists`] otherwise). For each immutable file, `link(name)` is asked
/// first; when it returns `Ok(true)` it has made the file in `dest` itself (a hard link) and
/// the file is not copied. Every file is synced, the current pointer is written last, and the
/// directory is synced: when this returns `Ok` the copy is durable and opens on every target.
///
/// The source files must stay pinned ([`Db::begin_checkpoint`]) until this returns.
pub fn copy_checkpoint<S: Vfs, D: Vfs>(
    src: &S,
    plan: &CheckpointPlan,
    dest: &D,
    link: &mut dyn FnMut(&str) -> Result<bool>,
) -> Result<CheckpointReport> {
    require_empty(dest, "checkpoint")?;
    let mut report = CheckpointReport {
        sequence: plan.sequence,
        ..CheckpointReport::default()
    };
    let mut buf = Vec::new();
    for f in &plan.files {
        if f.immutable && link(&f.name)? {
            report.files_linked += 1;
            continue;
        }
        let from = src.open_read(&f.name)?;
        let have = from.len()?;
        if have < f.len {
            return Err(Error::corruption(
                &f.name,
                Some(have),
                format!(
                    "is {have} bytes, shorter than the {} bytes the checkpoint began with",
                    f.len
                ),
            ));
        }
        let to = dest.create(&f.name)?;
        let mut off = 0u64;
        while off < f.len {
            let n = (f.len - off).min(COPY_CHUNK as u64) as usize;
            buf.resize(n, 0);
            from.read_exact_at(off, &mut buf)?;
            to.write_at(off, &buf)?;
            off += n as u64;
        }
        to.sync()?;
        report.files_copied += 1;
        report.bytes_copied += f.len;
    }
    dest.sync_dir()?;
    // Last: the pointer that makes the directory a database.
    current::create(dest, plan.manifest)?;
    Ok(report)
}

/// [`Error::AlreadyExists`] unless `dest` holds no file: checkpoints and restores write into
/// an empty directory only. `what` names the operation in the message.
pub(crate) fn require_empty<D: Vfs>(dest: &D, what: &str) -> Result<()> {
    let existing = dest.list()?;
    match existing.first() {
        None => Ok(()),
        Some(first) => Err(Error::AlreadyExists(format!(
            "{what} destination is not empty ({} files, e.g. {first}); a {what} goes into an \
             empty directory",
            existing.len()
        ))),
    }
}
