//! # Cairn
//!
//! An embedded LSM-tree key-value store. This crate is the native (and WASI) home of the
//! engine in `cairn-core`: it adds POSIX files with real `fsync`, an exclusive lock on the
//! database directory, **group commit** (concurrent synced writers share one WAL append and
//! one fsync), and background threads for flush and compaction.
//!
//! ```no_run
//! use cairn::{Db, WriteOptions};
//! let db = Db::open("/tmp/my-db")?;
//! db.put("hello", "world")?;                       // durable when it returns
//! db.put_with("fast", "write", WriteOptions::NO_SYNC)?; // buffered
//! assert_eq!(db.get("hello")?.as_deref(), Some(&b"world"[..]));
//! for entry in db.prefix("he") {
//!     let (key, value) = entry?;
//!     println!("{} = {}", String::from_utf8_lossy(&key), String::from_utf8_lossy(&value));
//! }
//! db.close()?; // releases the directory lock: the database can be opened again
//! # Ok::<(), cairn::Error>(())
//! ```
//!
//! Keys and values are byte strings; every method takes anything that is `AsRef<[u8]>`
//! (`&str`, `&[u8]`, `b"..."`, `Vec<u8>`, `String`). Ranges are any of Rust's range types over
//! keys (see [`KeyRange`]), and iterators can [`seek`](Iter::seek).
//!
//! `Db` is `Send + Sync` and cheap to clone; every clone is a handle to the same database.
//! Readers never wait for fsyncs or for background work.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use cairn_core::db::{self as core_db, PendingCommit};
use cairn_core::txn::{ConflictSet, PendingWrites};
use cairn_core::WritePressure;
use std::collections::{HashMap, VecDeque};
use std::ops::{Bound, Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

pub use cairn_core::db::Recovered;
pub use cairn_core::{
    BackupReport, CheckpointReport, Direction, Error, LevelStats, Options, RecoveryMode, Result,
    Stats, TableInfo, WriteBatch, WriteOptions,
};
pub use cairn_vfs::{MemVfs, ReadOnlyVfs, StdVfs, Vfs};

mod txn;
pub use txn::{Transaction, DEFAULT_RETRIES};

/// Most entries fetched per page by iterators (they hold no lock between pages).
const PAGE_ENTRIES: usize = 256;
/// Entries in an iterator's first page; each later page doubles, up to `PAGE_ENTRIES`, so a
/// short scan (seek + a few `next`) does not materialize 256 entries it never reads.
const FIRST_PAGE_ENTRIES: usize = 16;
const PAGE_BYTES: usize = 256 << 10;
/// Most bytes of batches committed as one group.
const MAX_GROUP_BYTES: usize = 4 << 20;

struct Queued {
    id: u64,
    batch: WriteBatch,
    sync: bool,
    /// The transaction whose writes `batch` holds: checked for conflicts in the commit, and
    /// ended by the leader under the lock that publishes the group.
    txn: Option<cairn_core::Transaction>,
}

#[derive(Default)]
struct CommitQueue {
    next_id: u64,
    pending: VecDeque<Queued>,
    done: HashMap<u64, Result<()>>,
    leader: bool,
}

/// The engine while the database is open; after [`Db::close`] only what the accessors that
/// cannot fail still report. Closing drops the engine, and with it the directory lock and
/// every open file, so the database can be opened again while old handles still exist.
// One per database, behind an `Arc`: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum State<V: Vfs + Clone> {
    Open(core_db::Db<V>),
    Closed {
        stats: Stats,
        recovered: Recovered,
        tables: Vec<TableInfo>,
        version: Arc<cairn_core::version::Version>,
    },
}

impl<V: Vfs + Clone> State<V> {
    fn open(&self) -> Result<&core_db::Db<V>> {
        match self {
            State::Open(core) => Ok(core),
            State::Closed { .. } => Err(Error::Closed),
        }
    }

    fn open_mut(&mut self) -> Result<&mut core_db::Db<V>> {
        match self {
            State::Open(core) => Ok(core),
            State::Closed { .. } => Err(Error::Closed),
        }
    }

    fn is_open(&self) -> bool {
        matches!(self, State::Open(_))
    }

    fn is_poisoned(&self) -> bool {
        self.open().is_ok_and(|c| c.is_poisoned())
    }

    fn immutable_count(&self) -> usize {
        self.open().map_or(0, |c| c.immutable_count())
    }

    fn has_pending_work(&self) -> bool {
        self.open().is_ok_and(|c| c.has_pending_work())
    }

    fn running_jobs(&self) -> usize {
        self.open().map_or(0, |c| c.running_jobs())
    }
}

struct Shared<V: Vfs + Clone> {
    core: RwLock<State<V>>,
    opts: Options,
    queue: Mutex<CommitQueue>,
    queue_cv: Condvar,
    /// Signalled when background work may be available or has finished.
    bg: Mutex<u64>,
    bg_cv: Condvar,
    shutdown: AtomicBool,
    inline_background: bool,
    /// Set when a commit froze the memtable; the committing writer wakes the background.
    rotated: AtomicBool,
}

impl<V: Vfs + Clone> Shared<V> {
    fn read(&self) -> RwLockReadGuard<'_, State<V>> {
        // A panic while holding the lock leaves the engine in a state we do not trust, but the
        // data structures are still memory-safe; recover the guard and let the poisoned-state
        // checks of the engine decide.
        self.core.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State<V>> {
        self.core.write().unwrap_or_else(|e| e.into_inner())
    }

    fn notify_bg(&self) {
        let mut n = self.bg.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        self.bg_cv.notify_all();
    }

    /// Waits until background work changes something (or a timeout passes).
    fn wait_bg(&self, timeout: Duration) {
        let n = self.bg.lock().unwrap_or_else(|e| e.into_inner());
        let start = *n;
        let _ = self
            .bg_cv
            .wait_timeout_while(n, timeout, |n| *n == start)
            .map(|(g, _)| drop(g));
    }

    /// Runs one background job: pick under the write lock, run without it, install under it.
    fn run_one_job(&self) -> Result<bool> {
        let job = self.write().open_mut().ok().and_then(|c| c.pick_job());
        let Some(job) = job else {
            return Ok(false);
        };
        let (ticket, out) = job.run();
        let r = self.write().open_mut().and_then(|c| c.install(ticket, out));
        self.notify_bg();
        r.map(|_| true)
    }

    /// Syncs the WAL in the background once enough of it is unsynced, so that the sync a
    /// memtable rotation needs is short.
    fn sync_wal_in_background(&self) -> bool {
        let point = self.read().open().ok().and_then(|c| c.wal_sync_point());
        let Some((file, number, offset)) = point else {
            return false;
        };
        let r = cairn_vfs::File::sync(&*file).map_err(Error::from);
        if let Ok(core) = self.write().open_mut() {
            let _ = core.note_wal_synced(number, offset, r);
        }
        true
    }

    fn background_loop(self: Arc<Self>) {
        while !self.shutdown.load(Ordering::Acquire) {
            if self.sync_wal_in_background() {
                continue;
            }
            match self.run_one_job() {
                Ok(true) => continue,
                Ok(false) => self.wait_bg(Duration::from_millis(200)),
                // The engine poisoned itself; writers see the error. Keep the thread idle.
                Err(_) => self.wait_bg(Duration::from_millis(200)),
            }
        }
    }

    /// Holds writers back while background work is behind. Returns the error that stops
    /// writes for good (a poisoned engine) if any.
    fn apply_backpressure(&self) -> Result<()> {
        loop {
            // A closed engine holds nobody back: the commit reports `Closed`.
            let pressure = self
                .read()
                .open()
                .map_or(WritePressure::None, |c| c.write_pressure());
            match pressure {
                WritePressure::None => return Ok(()),
                WritePressure::Slowdown(us) => {
                    if let Ok(core) = self.write().open_mut() {
                        core.note_pressure(pressure);
                    }
                    if self.inline_background {
                        self.run_one_job()?;
                    } else {
                        self.notify_bg();
                        std::thread::sleep(Duration::from_micros(us));
                    }
                    return Ok(());
                }
                WritePressure::Stop => {
                    if let Ok(core) = self.write().open_mut() {
                        core.note_pressure(pressure);
                    }
                    if self.inline_background {
                        if !self.run_one_job()? {
                            return Ok(());
                        }
                    } else {
                        if self.read().is_poisoned() {
                            return Ok(()); // commit_begin reports the poison
                        }
                        self.notify_bg();
                        self.wait_bg(Duration::from_millis(50));
                    }
                }
            }
        }
    }

    /// Group commit: the first writer to find no leader becomes the leader, takes every queued
    /// batch (up to a size limit), appends them as one WAL record, syncs once if any of them
    /// asked for it, and hands each writer its result.
    fn commit(
        &self,
        batch: WriteBatch,
        sync: bool,
        txn: Option<cairn_core::Transaction>,
    ) -> Result<()> {
        if let Err(e) = core_db::check_batch(&self.opts, &batch) {
            if let Some(mut t) = txn {
                if let Ok(core) = self.write().open_mut() {
                    core.end_transaction(&mut t, false);
                }
            }
            return Err(e);
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let id = q.next_id;
        q.next_id += 1;
        q.pending.push_back(Queued {
            id,
            batch,
            sync,
            txn,
        });
        loop {
            if let Some(r) = q.done.remove(&id) {
                return r;
            }
            if !q.leader {
                break;
            }
            q = self.queue_cv.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.leader = true;
        drop(q);

        let backpressure = self.apply_backpressure();
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut group = Vec::new();
        let mut bytes = 0;
        while let Some(w) = q.pending.front() {
            if !group.is_empty() && bytes + w.batch.encoded_len() > MAX_GROUP_BYTES {
                break;
            }
            bytes += w.batch.encoded_len();
            if let Some(w) = q.pending.pop_front() {
                group.push(w);
            }
        }
        drop(q);

        let result = match backpressure {
            Ok(()) => self.commit_group(&mut group),
            Err(e) => {
                self.end_txns(&mut group, None);
                Err(e)
            }
        };
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        for (i, w) in group.iter().enumerate() {
            let r = match &result {
                Ok(accepted) if accepted.get(i) == Some(&false) => Err(Error::Conflict),
                Ok(_) => Ok(()),
                Err(e) => Err(e.clone()),
            };
            q.done.insert(w.id, r);
        }
        let result = result.map(|_| ());
        q.leader = false;
        let mine = q.done.remove(&id);
        self.queue_cv.notify_all();
        drop(q);
        if self.inline_background {
            while self.read().has_pending_work() {
                if !self.run_one_job()? {
                    break;
                }
            }
        } else if self.rotated.swap(false, Ordering::AcqRel)
            || self
                .read()
                .open()
                .is_ok_and(|c| c.wal_sync_point().is_some())
        {
            // Only a new frozen memtable, or a WAL due for its background sync, needs a
            // wake-up: a running background thread picks the next job itself. (Notifying
            // after every commit while a flush was pending cost a futex wake per write and
            // woke the background threads to contend for the engine lock in `pick_job`.)
            self.notify_bg();
        }
        // The leader's own batch is always in the group it took.
        mine.unwrap_or(result)
    }

    /// Commits a group; returns per batch whether it was committed (a transaction's batch is
    /// left out on a conflict). Ends the group's transactions.
    fn commit_group(&self, group: &mut [Queued]) -> Result<Vec<bool>> {
        let begun = {
            let batches: Vec<&WriteBatch> = group.iter().map(|w| &w.batch).collect();
            let checks: Vec<Option<&ConflictSet>> = group
                .iter()
                .map(|w| {
                    w.txn
                        .as_ref()
                        .map(|t| t.conflict_set())
                        .filter(|c| !c.is_empty())
                })
                .collect();
            let mut state = self.write();
            state.open_mut().and_then(|core| {
                let frozen = core.immutable_count();
                let r = core.commit_begin_checked(&batches, &checks);
                if core.immutable_count() > frozen {
                    // commit_begin froze the memtable: wake the background threads to flush it.
                    self.rotated.store(true, Ordering::Release);
                }
                r
            })
        };
        let (pending, accepted) = match begun {
            Ok((Some(p), accepted)) => (p, accepted),
            Ok((None, accepted)) => {
                self.end_txns(group, Some(&accepted));
                return Ok(accepted);
            }
            Err(e) => {
                self.end_txns(group, None);
                return Err(e);
            }
        };
        let pending: PendingCommit<V::File> = pending;
        let want_sync = group.iter().zip(&accepted).any(|(w, &a)| a && w.sync);
        // The fsync runs without the engine lock: readers and the next group's WAL append
        // proceed meanwhile; the writes become visible only after it succeeded.
        let synced = want_sync.then(|| pending.sync());
        let mut state = self.write();
        let r = state.open_mut().and_then(|core| {
            let r = core.commit_finish(pending, synced);
            // Under the same lock: end every transaction of the group.
            for (w, &a) in group.iter_mut().zip(&accepted) {
                if let Some(t) = w.txn.as_mut() {
                    core.end_transaction(t, a && r.is_ok());
                }
            }
            r
        });
        r.map(|_| accepted)
    }

    /// Ends the transactions of `group` (committed where `accepted` says so).
    fn end_txns(&self, group: &mut [Queued], accepted: Option<&[bool]>) {
        if group.iter().all(|w| w.txn.is_none()) {
            return;
        }
        if let Ok(core) = self.write().open_mut() {
            for (i, w) in group.iter_mut().enumerate() {
                if let Some(t) = w.txn.as_mut() {
                    let a = accepted.is_some_and(|a| a.get(i) == Some(&true));
                    core.end_transaction(t, a);
                }
            }
        }
    }
}

/// Joins the background threads when the last handle goes away.
struct Handle<V: Vfs + Clone> {
    shared: Arc<Shared<V>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl<V: Vfs + Clone> Handle<V> {
    fn stop_threads(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.notify_bg();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl<V: Vfs + Clone> Drop for Handle<V> {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// An open database. Clones are handles to the same database.
pub struct Db<V: Vfs + Clone = StdVfs> {
    h: Arc<Handle<V>>,
}

impl<V: Vfs + Clone> Clone for Db<V> {
    fn clone(&self) -> Self {
        Db { h: self.h.clone() }
    }
}

impl<V: Vfs + Clone> std::fmt::Debug for Db<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db<StdVfs> {
    /// Opens the database in directory `path` with default options, creating it if needed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// Opens the database in directory `path` with `opts`.
    pub fn open_with(path: impl AsRef<Path>, opts: Options) -> Result<Self> {
        let vfs = if opts.create_if_missing {
            StdVfs::new(path)?
        } else {
            StdVfs::existing(path.as_ref()).map_err(|e| {
                if e.kind() == cairn_vfs::ErrorKind::NotFound {
                    Error::NotFound(format!("{}", path.as_ref().display()))
                } else {
                    e.into()
                }
            })?
        };
        Self::open_vfs(vfs, opts)
    }
}

impl Db<StdVfs> {
    /// Takes a checkpoint into directory `dest` (created if missing; it must be empty): a
    /// consistent copy, openable with [`Db::open`] on every target, made while reads and
    /// writes go on. It holds every write committed before the call and none after
    /// ([`CheckpointReport::sequence`]). Tables are hard-linked when `dest` is on the same
    /// file system (they never change once written, and the link keeps them when the source
    /// compacts them away) and copied otherwise; the manifest and the WALs are copied up to
    /// their length at the start. A crash during the checkpoint leaves the source intact and
    /// `dest` without a current pointer, which [`Db::open`] refuses; remove it and retry.
    pub fn checkpoint(&self, dest: impl AsRef<Path>) -> Result<CheckpointReport> {
        let dest = dest.as_ref();
        let vfs = StdVfs::new(dest)?;
        let src_dir = self.shared().read().open()?.vfs().dir().to_path_buf();
        let mut link = |name: &str| -> Result<bool> {
            // Any failure (another file system, no link support) falls back to a copy.
            Ok(std::fs::hard_link(src_dir.join(name), dest.join(name)).is_ok())
        };
        self.checkpoint_into(&vfs, &mut link)
    }
}

/// Restores the backup read from `input` (see [`Db::backup`]) into directory `dir`, which is
/// created if missing and must be empty ([`Error::AlreadyExists`] otherwise: a restore never
/// overwrites a database). Every checksum is checked; a damaged or truncated stream is
/// [`Error::Corruption`] and leaves `dir` as empty as it was. Open the result with
/// [`Db::open`].
pub fn restore(input: impl std::io::Read, dir: impl AsRef<Path>) -> Result<BackupReport> {
    let vfs = StdVfs::new(dir)?;
    cairn_core::restore(&mut IoSource(input), &vfs)
}

fn io_error(e: std::io::Error, what: &str) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::StorageFull => cairn_vfs::ErrorKind::NoSpace,
        std::io::ErrorKind::NotFound => cairn_vfs::ErrorKind::NotFound,
        _ => cairn_vfs::ErrorKind::Io,
    };
    Error::Io(cairn_vfs::Error::new(kind, format!("{what}: {e}")))
}

/// A [`std::io::Write`] as a backup sink.
struct IoSink<W>(W);

impl<W: std::io::Write> cairn_core::BackupSink for IoSink<W> {
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.0
            .write_all(data)
            .map_err(|e| io_error(e, "write the backup stream"))
    }
}

/// A [`std::io::Read`] as a backup source.
struct IoSource<R>(R);

impl<R: std::io::Read> cairn_core::BackupSource for IoSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.0.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(e, "read the backup stream")),
            }
        }
    }
}

impl Db<ReadOnlyVfs<StdVfs>> {
    /// Opens the existing database at `path` for reading only (native and WASI): takes no
    /// lock, writes not one byte (every file is opened without write access, through a
    /// [`ReadOnlyVfs`] that refuses every mutation), and replays the WAL into memory without
    /// truncating a torn tail. It works while another process holds the database open for
    /// writing, and several readers may open it at once; it shows the state as of its open
    /// (reopen to see later writes). Writes, flushes and compactions return
    /// [`Error::ReadOnly`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_read_only_with(path, Options::default())
    }

    /// [`Db::open_read_only`] with options (the recovery mode and cache sizes apply).
    pub fn open_read_only_with(path: impl AsRef<Path>, opts: Options) -> Result<Self> {
        let vfs = StdVfs::existing(path.as_ref()).map_err(|e| {
            if e.kind() == cairn_vfs::ErrorKind::NotFound {
                Error::NotFound(format!("{}", path.as_ref().display()))
            } else {
                e.into()
            }
        })?;
        Db::<StdVfs>::open_read_only_vfs(vfs, opts)
    }
}

impl<V: Vfs + Clone> Db<V> {
    /// Opens the database kept in `vfs` (for example a [`MemVfs`], or a fault-injecting VFS
    /// in tests).
    pub fn open_vfs(vfs: V, opts: Options) -> Result<Self> {
        let core = core_db::Db::open(vfs, opts.clone())?;
        Self::start(core, opts)
    }

    /// Opens the database kept in `vfs` read-only: see [`Db::open_read_only`].
    pub fn open_read_only_vfs(vfs: V, opts: Options) -> Result<Db<ReadOnlyVfs<V>>> {
        let core = core_db::Db::open_read_only(vfs, opts.clone())?;
        Db::start(core, opts)
    }

    fn start(core: core_db::Db<V>, opts: Options) -> Result<Self> {
        // A read-only database has no background work: no threads for it.
        let inline_background =
            cfg!(target_os = "wasi") || opts.background_threads == 0 || core.is_read_only();
        let shared = Arc::new(Shared {
            core: RwLock::new(State::Open(core)),
            queue: Mutex::new(CommitQueue::default()),
            queue_cv: Condvar::new(),
            bg: Mutex::new(0),
            bg_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
            rotated: AtomicBool::new(false),
            inline_background,
            opts: opts.clone(),
        });
        let mut threads = Vec::new();
        if !inline_background {
            for i in 0..opts.background_threads {
                let s = shared.clone();
                let t = std::thread::Builder::new()
                    .name(format!("cairn-bg-{i}"))
                    .spawn(move || s.background_loop())
                    .map_err(|e| {
                        Error::Io(cairn_vfs::Error::new(
                            cairn_vfs::ErrorKind::Io,
                            format!("cannot start a background thread: {e}"),
                        ))
                    })?;
                threads.push(t);
            }
        }
        let db = Db {
            h: Arc::new(Handle {
                shared,
                threads: Mutex::new(threads),
            }),
        };
        // Work left over from the previous run (frozen memtables, compaction debt).
        db.h.shared.notify_bg();
        if inline_background {
            db.run_pending_work()?;
        }
        Ok(db)
    }

    fn shared(&self) -> &Shared<V> {
        &self.h.shared
    }

    fn run_pending_work(&self) -> Result<()> {
        while self.shared().run_one_job()? {}
        Ok(())
    }

    /// Sets `key` to `value`, durably (synced) when it returns.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.put_with(key, value, WriteOptions::SYNC)
    }

    /// Sets `key` to `value` with explicit write options.
    pub fn put_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: WriteOptions,
    ) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(b, opts)
    }

    /// Deletes `key`, durably when it returns.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.delete_with(key, WriteOptions::SYNC)
    }

    /// Deletes `key` with explicit write options.
    pub fn delete_with(&self, key: impl AsRef<[u8]>, opts: WriteOptions) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b, opts)
    }

    /// Deletes every key `k` with `start <= k < end`, durably when it returns. One record
    /// (a range tombstone) whatever the range holds; snapshots taken before still see the
    /// keys. An empty range (`start >= end`) deletes nothing.
    pub fn delete_range(&self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<()> {
        self.delete_range_with(start, end, WriteOptions::SYNC)
    }

    /// [`Db::delete_range`] with explicit write options.
    pub fn delete_range_with(
        &self,
        start: impl AsRef<[u8]>,
        end: impl AsRef<[u8]>,
        opts: WriteOptions,
    ) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_range(start.as_ref(), end.as_ref());
        self.write(b, opts)
    }

    /// Deletes every key starting with `prefix` (one range tombstone), durably when it
    /// returns.
    pub fn delete_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.delete_prefix_with(prefix, WriteOptions::SYNC)
    }

    /// [`Db::delete_prefix`] with explicit write options.
    pub fn delete_prefix_with(&self, prefix: impl AsRef<[u8]>, opts: WriteOptions) -> Result<()> {
        let max = self.shared().read().open()?.options().max_key_size;
        let mut b = WriteBatch::new();
        b.delete_prefix(prefix.as_ref(), max);
        self.write(b, opts)
    }

    /// Applies `batch` atomically. Concurrent writers are committed together (one WAL append,
    /// one fsync for all that asked for sync). `WriteOptions::default()` is synced, like
    /// [`Db::put`].
    pub fn write(&self, batch: WriteBatch, opts: WriteOptions) -> Result<()> {
        if batch.is_empty() {
            return self.shared().read().open()?.validate_batch(&batch);
        }
        self.shared().commit(batch, opts.sync, None)
    }

    /// Makes every write so far durable.
    pub fn sync(&self) -> Result<()> {
        self.shared().write().open_mut()?.sync_wal()
    }

    /// The current value of `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.shared().read().open()?.get(key.as_ref())
    }

    /// True if `key` has a value.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Pins the current state; reads through the snapshot see exactly it.
    pub fn snapshot(&self) -> Snapshot<V> {
        let inner = self.shared().write().open_mut().ok().map(|c| c.snapshot());
        Snapshot {
            db: self.clone(),
            // A closed database pins nothing; reads through the snapshot fail with `Closed`.
            seq: inner.as_ref().map_or(0, |s| s.sequence()),
            inner,
        }
    }

    /// Iterates every key, ascending (`.rev()` for descending).
    pub fn iter(&self) -> Iter<V> {
        self.range(..)
    }

    /// Iterates the keys in `range`, ascending (`.rev()` for descending): `db.range("a".."m")`,
    /// `db.range(start..)`, `db.range(..=end)`, `db.range((Bound::Excluded(k), Bound::Unbounded))`
    /// (see [`KeyRange`]).
    pub fn range(&self, range: impl KeyRange) -> Iter<V> {
        let (lo, hi) = range.into_bounds();
        Iter::new(self.snapshot(), lo, hi, None)
    }

    /// Iterates the keys starting with `prefix`, ascending (`.rev()` for descending).
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter<V> {
        Iter::new(
            self.snapshot(),
            Bound::Unbounded,
            Bound::Unbounded,
            Some(prefix.as_ref().to_vec()),
        )
    }

    /// Freezes the memtable and waits until every frozen memtable is written as a table.
    pub fn flush(&self) -> Result<()> {
        self.shared().write().open_mut()?.rotate()?;
        if self.shared().inline_background {
            while self.shared().read().immutable_count() > 0 {
                if !self.shared().run_one_job()? {
                    break;
                }
            }
            return Ok(());
        }
        self.shared().notify_bg();
        loop {
            {
                let state = self.shared().read();
                let core = state.open()?;
                if core.immutable_count() == 0 {
                    return Ok(());
                }
                if core.is_poisoned() {
                    return Err(Error::Poisoned(String::from("background flush failed")));
                }
            }
            self.shared().wait_bg(Duration::from_millis(100));
        }
    }

    /// Compacts every table overlapping `[start, end]` (`None` = unbounded) down the levels,
    /// in the calling thread. Readers and writers go on meanwhile.
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.flush()?;
        let levels = self.shared().read().open()?.current_version().num_levels();
        for level in 0..levels {
            loop {
                let job = self
                    .shared()
                    .write()
                    .open_mut()?
                    .pick_manual(start, end, level);
                match job {
                    Some(job) => {
                        let (ticket, out) = job.run();
                        self.shared().write().open_mut()?.install(ticket, out)?;
                        self.shared().notify_bg();
                    }
                    // Inputs held by a background job: wait for it and look again.
                    None if self.shared().read().running_jobs() > 0 => {
                        self.shared().wait_bg(Duration::from_millis(50));
                    }
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Waits until no background work is pending or running (for tests and benchmarks that
    /// measure a settled database).
    pub fn wait_for_background_work(&self) -> Result<()> {
        if self.shared().inline_background {
            return self.run_pending_work();
        }
        loop {
            {
                let state = self.shared().read();
                let core = state.open()?;
                if core.is_poisoned() {
                    return Err(Error::Poisoned(String::from("background work failed")));
                }
                if !core.has_pending_work() && core.running_jobs() == 0 {
                    return Ok(());
                }
            }
            self.shared().notify_bg();
            self.shared().wait_bg(Duration::from_millis(20));
        }
    }

    /// Takes a checkpoint of the database into `dest`, a VFS holding no file (see
    /// [`Db::checkpoint`] for directories): a consistent, openable copy made while reads and
    /// writes go on. The engine's lock is held only to record and pin the files (no obsolete
    /// file is removed until the copy ends); the copy itself runs without it. `link` is asked
    /// for each table (tables never change once written) whether it made the file in `dest`
    /// itself, e.g. as a hard link; `|_| Ok(false)` copies everything.
    pub fn checkpoint_into<D: Vfs>(
        &self,
        dest: &D,
        link: &mut dyn FnMut(&str) -> Result<bool>,
    ) -> Result<CheckpointReport> {
        self.with_pinned_files(|src, plan| cairn_core::copy_checkpoint(src, plan, dest, link))
    }

    /// Records and pins the files of a checkpoint under the engine's lock, runs `f` on them
    /// without the lock, then releases the pin (also when `f` failed; after a close there is
    /// nothing to unpin). Checkpoints and backups both copy through this.
    fn with_pinned_files<T>(
        &self,
        f: impl FnOnce(&V, &cairn_core::CheckpointPlan) -> Result<T>,
    ) -> Result<T> {
        let (plan, src) = {
            let mut state = self.shared().write();
            let core = state.open_mut()?;
            (core.begin_checkpoint()?, core.vfs().clone())
        };
        let done = f(&src, &plan);
        let ended = match self.shared().write().open_mut() {
            Ok(core) => core.end_checkpoint(),
            Err(_) => Ok(()),
        };
        let out = done?;
        ended?;
        Ok(out)
    }

    /// Writes a backup of the database into `out`: one checksummed stream (format in
    /// `docs/FORMAT.md`) holding a consistent copy as of the call, made while reads and writes
    /// go on (the engine's lock is held only to record and pin the files). It restores with
    /// [`restore`] natively and under WASI (the browser package has no backup import or
    /// export yet).
    pub fn backup(&self, out: impl std::io::Write) -> Result<BackupReport> {
        let mut sink = IoSink(out);
        let report =
            self.with_pinned_files(|src, plan| cairn_core::write_backup(src, plan, &mut sink))?;
        sink.0
            .flush()
            .map_err(|e| io_error(e, "flush the backup stream"))?;
        Ok(report)
    }

    /// Counters, sizes per level, cache figures. After [`Db::close`], the figures as of the
    /// close.
    pub fn stats(&self) -> Stats {
        match &*self.shared().read() {
            State::Open(core) => core.stats(),
            State::Closed { stats, .. } => stats.clone(),
        }
    }

    /// What opening the database found and repaired.
    pub fn recovery_report(&self) -> Recovered {
        match &*self.shared().read() {
            State::Open(core) => core.recovery_report().clone(),
            State::Closed { recovered, .. } => recovered.clone(),
        }
    }

    /// Every live table, level 0 first (newest run first), then each level in key order;
    /// after [`Db::close`], those as of the close.
    pub fn tables(&self) -> Vec<TableInfo> {
        match &*self.shared().read() {
            State::Open(core) => core.tables(),
            State::Closed { tables, .. } => tables.clone(),
        }
    }

    /// The current version, an internal structure (for the CLI's inspection commands and for
    /// tests); [`Db::tables`] is the stable view. After [`Db::close`], the last one.
    #[doc(hidden)]
    pub fn current_version(&self) -> Arc<cairn_core::version::Version> {
        match &*self.shared().read() {
            State::Open(core) => core.current_version(),
            State::Closed { version, .. } => version.clone(),
        }
    }

    /// Stops the background threads, syncs the WAL and closes the database. When it returns
    /// the directory lock is released and every file is closed, so the database can be opened
    /// again (in this process or another) even while old handles, iterators and snapshots
    /// still exist; every later call through them returns [`Error::Closed`] (except
    /// [`Db::stats`], [`Db::recovery_report`] and [`Db::tables`], which report the state as
    /// of the close). A write racing with `close` either completes before it or fails with
    /// `Closed`. Closing twice is fine. Dropping the last handle without `close` also
    /// releases everything, without the final sync.
    pub fn close(&self) -> Result<()> {
        self.h.stop_threads();
        let mut state = self.shared().write();
        let State::Open(core) = &mut *state else {
            return Ok(());
        };
        let r = core.close();
        let closed = State::Closed {
            stats: core.stats(),
            recovered: core.recovery_report().clone(),
            tables: core.tables(),
            version: core.current_version(),
        };
        // Dropping the engine closes its files and releases the directory lock (also when the
        // final sync failed: the handle is unusable either way).
        drop(std::mem::replace(&mut *state, closed));
        r
    }

    /// True until [`Db::close`] was called on any handle.
    pub fn is_open(&self) -> bool {
        self.shared().read().is_open()
    }
}

/// A range of keys, as taken by [`Db::range`] and [`Snapshot::range`]: any of Rust's range
/// types over keys (`..`, `a..`, `a..b`, `a..=b`, `..b`, `..=b`) or a pair
/// `(Bound<K>, Bound<K>)`, where the key type `K` is anything `AsRef<[u8]>` (`&str`, `&[u8]`,
/// `b"..."`, `Vec<u8>`, ...). Both ends of one range have the same key type.
pub trait KeyRange {
    /// The start and end bound, owned.
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>);
}

fn owned(k: impl AsRef<[u8]>) -> Vec<u8> {
    k.as_ref().to_vec()
}

impl KeyRange for RangeFull {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (Bound::Unbounded, Bound::Unbounded)
    }
}

impl<K: AsRef<[u8]>> KeyRange for Range<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (
            Bound::Included(owned(self.start)),
            Bound::Excluded(owned(self.end)),
        )
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeInclusive<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let (start, end) = self.into_inner();
        (Bound::Included(owned(start)), Bound::Included(owned(end)))
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeFrom<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (Bound::Included(owned(self.start)), Bound::Unbounded)
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeTo<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (Bound::Unbounded, Bound::Excluded(owned(self.end)))
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeToInclusive<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (Bound::Unbounded, Bound::Included(owned(self.end)))
    }
}

impl<K: AsRef<[u8]>> KeyRange for (Bound<K>, Bound<K>) {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (self.0.map(owned), self.1.map(owned))
    }
}

fn borrow_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The tighter of lower bound `lo` and `Included(key)`.
fn raise_lower(lo: &Bound<Vec<u8>>, key: &[u8]) -> Bound<Vec<u8>> {
    let key_is_tighter = match lo {
        Bound::Unbounded => true,
        Bound::Included(l) | Bound::Excluded(l) => key > l.as_slice(),
    };
    if key_is_tighter {
        Bound::Included(key.to_vec())
    } else {
        lo.clone()
    }
}

/// The tighter of upper bound `hi` and `Included(key)`.
fn lower_upper(hi: &Bound<Vec<u8>>, key: &[u8]) -> Bound<Vec<u8>> {
    let key_is_tighter = match hi {
        Bound::Unbounded => true,
        Bound::Included(h) | Bound::Excluded(h) => key < h.as_slice(),
    };
    if key_is_tighter {
        Bound::Included(key.to_vec())
    } else {
        hi.clone()
    }
}

/// A pinned read point. Released when dropped.
pub struct Snapshot<V: Vfs + Clone = StdVfs> {
    db: Db<V>,
    seq: u64,
    inner: Option<core_db::Snapshot>,
}

impl<V: Vfs + Clone> Snapshot<V> {
    /// The value of `key` at the snapshot.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.db
            .shared()
            .read()
            .open()?
            .get_at(key.as_ref(), self.seq)
    }

    /// Iterates `range` at the snapshot (see [`Db::range`]).
    pub fn range(&self, range: impl KeyRange) -> Iter<V> {
        let (lo, hi) = range.into_bounds();
        Iter::new(self.db.snapshot_at(self.seq), lo, hi, None)
    }

    /// Iterates the keys starting with `prefix` at the snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter<V> {
        Iter::new(
            self.db.snapshot_at(self.seq),
            Bound::Unbounded,
            Bound::Unbounded,
            Some(prefix.as_ref().to_vec()),
        )
    }

    /// Iterates every key at the snapshot.
    pub fn iter(&self) -> Iter<V> {
        self.range(..)
    }

    /// The sequence number the snapshot reads at.
    pub fn sequence(&self) -> u64 {
        self.seq
    }
}

impl<V: Vfs + Clone> Db<V> {
    fn snapshot_at(&self, seq: u64) -> Snapshot<V> {
        // Registers another hold on the same sequence number.
        let inner = self
            .shared()
            .write()
            .open_mut()
            .ok()
            .map(|c| c.snapshot_at(seq));
        Snapshot {
            db: self.clone(),
            seq,
            inner,
        }
    }
}

impl<V: Vfs + Clone> Drop for Snapshot<V> {
    fn drop(&mut self) {
        if let Some(s) = self.inner.take() {
            if let Ok(core) = self.db.shared().write().open_mut() {
                core.release_snapshot(s);
            }
        }
    }
}

/// Iterates a range at a snapshot, in pages, holding no lock between pages. Double-ended:
/// `next` walks up from the start, `next_back` down from the end, and they stop where they
/// meet.
///
/// Both ends can be repositioned: [`Iter::seek`] moves the front end (the next `next`
/// returns the first key at or after the target), [`Iter::seek_for_prev`] moves the back end
/// (the next `next_back` returns the last key at or before the target). Seeks stay within
/// the iterator's range and prefix, may move in either direction, and see the same snapshot.
///
/// ```no_run
/// # let db = cairn::Db::open("/tmp/my-db")?;
/// let mut it = db.iter();
/// it.seek("m");
/// let first_from_m = it.next();      // the first entry with key >= "m"
/// it.seek_for_prev("f");
/// let last_up_to_f = it.next_back(); // the last entry with key <= "f"
/// # Ok::<(), cairn::Error>(())
/// ```
pub struct Iter<V: Vfs + Clone = StdVfs> {
    snap: Snapshot<V>,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    /// Lower bound of the forward pages before the first one returned an entry: `lo`, or a
    /// seek target.
    front_from: Bound<Vec<u8>>,
    /// Upper bound of the backward pages before the first one: `hi`, or a seek target.
    back_to: Bound<Vec<u8>>,
    prefix: Option<Vec<u8>>,
    front: VecDeque<(Vec<u8>, Vec<u8>)>,
    back: VecDeque<(Vec<u8>, Vec<u8>)>,
    front_last: Option<Vec<u8>>,
    back_last: Option<Vec<u8>>,
    front_done: bool,
    back_done: bool,
    /// Entries the next forward / backward page asks for.
    front_want: usize,
    back_want: usize,
    failed: bool,
    /// A transaction's buffered writes of the range, merged into every page.
    pending: Option<Arc<PendingWrites>>,
}

impl<V: Vfs + Clone> Iter<V> {
    fn new(
        snap: Snapshot<V>,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        prefix: Option<Vec<u8>>,
    ) -> Self {
        Iter {
            snap,
            front_from: lo.clone(),
            back_to: hi.clone(),
            lo,
            hi,
            prefix,
            front: VecDeque::new(),
            back: VecDeque::new(),
            front_last: None,
            back_last: None,
            front_done: false,
            back_done: false,
            front_want: FIRST_PAGE_ENTRIES,
            back_want: FIRST_PAGE_ENTRIES,
            failed: false,
            pending: None,
        }
    }

    /// Moves the front end: the next call to `next` returns the first entry whose key is
    /// `>= key` (and within the iterator's range and prefix). Entries that `next_back` already
    /// returned are not returned again: the ends still stop where they meet. Clears an
    /// earlier error, so the next page is read again.
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        self.front_from = raise_lower(&self.lo, key.as_ref());
        self.front.clear();
        self.front_last = None;
        self.front_done = false;
        self.front_want = FIRST_PAGE_ENTRIES;
        self.failed = false;
    }

    /// Moves the back end (RocksDB's `SeekForPrev`): the next call to `next_back` returns the
    /// last entry whose key is `<= key` (and within the iterator's range and prefix). Entries
    /// that `next` already returned are not returned again. Clears an earlier error.
    pub fn seek_for_prev(&mut self, key: impl AsRef<[u8]>) {
        self.back_to = lower_upper(&self.hi, key.as_ref());
        self.back.clear();
        self.back_last = None;
        self.back_done = false;
        self.back_want = FIRST_PAGE_ENTRIES;
        self.failed = false;
    }

    fn page(&self, direction: Direction, limit: usize) -> Result<(Vec<core_db::Entry>, bool)> {
        let (range, after) = match direction {
            Direction::Forward => (
                (borrow_bound(&self.front_from), borrow_bound(&self.hi)),
                self.front_last.as_deref(),
            ),
            Direction::Reverse => (
                (borrow_bound(&self.lo), borrow_bound(&self.back_to)),
                self.back_last.as_deref(),
            ),
        };
        let state = self.snap.db.shared().read();
        let core = state.open()?;
        match &self.pending {
            Some(p) => core.scan_page_merged(
                p,
                range,
                self.prefix.as_deref(),
                self.snap.seq,
                direction,
                after,
                limit,
                PAGE_BYTES,
            ),
            None => core.scan_page(
                range,
                self.prefix.as_deref(),
                self.snap.seq,
                direction,
                after,
                limit,
                PAGE_BYTES,
            ),
        }
    }
}

impl<V: Vfs + Clone> Iterator for Iter<V> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.front.is_empty() && !self.front_done {
            let want = self.front_want;
            self.front_want = (want * 2).min(PAGE_ENTRIES);
            match self.page(Direction::Forward, want) {
                Ok((p, exhausted)) => {
                    self.front_done = exhausted;
                    self.front.extend(p);
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let (k, v) = self.front.pop_front()?;
        if self.back_last.as_ref().is_some_and(|b| &k >= b) {
            self.front.clear();
            self.front_done = true;
            return None;
        }
        self.front_last = Some(k.clone());
        Some(Ok((k, v)))
    }
}

impl<V: Vfs + Clone> DoubleEndedIterator for Iter<V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.back.is_empty() && !self.back_done {
            let want = self.back_want;
            self.back_want = (want * 2).min(PAGE_ENTRIES);
            match self.page(Direction::Reverse, want) {
                Ok((p, exhausted)) => {
                    self.back_done = exhausted;
                    self.back.extend(p);
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let (k, v) = self.back.pop_front()?;
        if self.front_last.as_ref().is_some_and(|f| &k <= f) {
            self.back.clear();
            self.back_done = true;
            return None;
        }
        self.back_last = Some(k.clone());
        Some(Ok((k, v)))
    }
}
