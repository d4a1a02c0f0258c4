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
//! db.put(b"hello", b"world")?;                       // durable when it returns
//! db.put_with(b"fast", b"write", WriteOptions::NO_SYNC)?; // buffered
//! assert_eq!(db.get(b"hello")?.as_deref(), Some(&b"world"[..]));
//! for entry in db.prefix(b"he") {
//!     let (key, value) = entry?;
//!     println!("{key:?} = {value:?}");
//! }
//! db.close()?;
//! # Ok::<(), cairn::Error>(())
//! ```
//!
//! `Db` is `Send + Sync` and cheap to clone; every clone is a handle to the same database.
//! Readers never wait for fsyncs or for background work.

use cairn_core::db::{self as core_db, PendingCommit};
use cairn_core::WritePressure;
use std::collections::{HashMap, VecDeque};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

pub use cairn_core::db::Recovered;
pub use cairn_core::{
    Direction, Error, LevelStats, Options, RecoveryMode, Result, Stats, TableInfo, WriteBatch,
    WriteOptions,
};
pub use cairn_vfs::{MemVfs, StdVfs, Vfs};

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
}

#[derive(Default)]
struct CommitQueue {
    next_id: u64,
    pending: VecDeque<Queued>,
    done: HashMap<u64, Result<()>>,
    leader: bool,
}

struct Shared<V: Vfs + Clone> {
    core: RwLock<core_db::Db<V>>,
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
    fn read(&self) -> RwLockReadGuard<'_, core_db::Db<V>> {
        // A panic while holding the lock leaves the engine in a state we do not trust, but the
        // data structures are still memory-safe; recover the guard and let the poisoned-state
        // checks of the engine decide.
        self.core.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, core_db::Db<V>> {
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
        let job = self.write().pick_job();
        let Some(job) = job else {
            return Ok(false);
        };
        let (ticket, out) = job.run();
        let r = self.write().install(ticket, out);
        self.notify_bg();
        r.map(|_| true)
    }

    /// Syncs the WAL in the background once enough of it is unsynced, so that the sync a
    /// memtable rotation needs is short.
    fn sync_wal_in_background(&self) -> bool {
        let point = self.read().wal_sync_point();
        let Some((file, number, offset)) = point else {
            return false;
        };
        let r = cairn_vfs::File::sync(&*file).map_err(Error::from);
        let _ = self.write().note_wal_synced(number, offset, r);
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
            let pressure = self.read().write_pressure();
            match pressure {
                WritePressure::None => return Ok(()),
                WritePressure::Slowdown(us) => {
                    self.write().note_pressure(pressure);
                    if self.inline_background {
                        self.run_one_job()?;
                    } else {
                        self.notify_bg();
                        std::thread::sleep(Duration::from_micros(us));
                    }
                    return Ok(());
                }
                WritePressure::Stop => {
                    self.write().note_pressure(pressure);
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
    fn commit(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        core_db::check_batch(&self.opts, &batch)?;
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let id = q.next_id;
        q.next_id += 1;
        q.pending.push_back(Queued { id, batch, sync });
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

        let result = backpressure.and_then(|_| self.commit_group(&group));
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        for w in &group {
            q.done.insert(w.id, result.clone());
        }
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
            || self.read().wal_sync_point().is_some()
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

    fn commit_group(&self, group: &[Queued]) -> Result<()> {
        let batches: Vec<&WriteBatch> = group.iter().map(|w| &w.batch).collect();
        let want_sync = group.iter().any(|w| w.sync);
        let pending: PendingCommit<V::File> = {
            let mut core = self.write();
            let frozen = core.immutable_count();
            let pending = core.commit_begin(&batches)?;
            if core.immutable_count() > frozen {
                // commit_begin froze the memtable: wake the background threads to flush it.
                self.rotated.store(true, Ordering::Release);
            }
            pending
        };
        // The fsync runs without the engine lock: readers and the next group's WAL append
        // proceed meanwhile; the writes become visible only after it succeeded.
        let synced = want_sync.then(|| pending.sync());
        self.write().commit_finish(pending, synced)
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

impl<V: Vfs + Clone> Db<V> {
    /// Opens the database kept in `vfs` (for example a [`MemVfs`], or a fault-injecting VFS
    /// in tests).
    pub fn open_vfs(vfs: V, opts: Options) -> Result<Self> {
        let inline_background = cfg!(target_os = "wasi") || opts.background_threads == 0;
        let core = core_db::Db::open(vfs, opts.clone())?;
        let shared = Arc::new(Shared {
            core: RwLock::new(core),
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
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_with(key, value, WriteOptions::SYNC)
    }

    /// Sets `key` to `value` with explicit write options.
    pub fn put_with(&self, key: &[u8], value: &[u8], opts: WriteOptions) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(b, opts)
    }

    /// Deletes `key`, durably when it returns.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.delete_with(key, WriteOptions::SYNC)
    }

    /// Deletes `key` with explicit write options.
    pub fn delete_with(&self, key: &[u8], opts: WriteOptions) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b, opts)
    }

    /// Applies `batch` atomically. Concurrent writers are committed together (one WAL append,
    /// one fsync for all that asked for sync).
    pub fn write(&self, batch: WriteBatch, opts: WriteOptions) -> Result<()> {
        if batch.is_empty() {
            return self.shared().read().validate_batch(&batch);
        }
        self.shared().commit(batch, opts.sync)
    }

    /// Makes every write so far durable.
    pub fn sync(&self) -> Result<()> {
        self.shared().write().sync_wal()
    }

    /// The current value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.shared().read().get(key)
    }

    /// True if `key` has a value.
    pub fn contains_key(&self, key: &[u8]) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Pins the current state; reads through the snapshot see exactly it.
    pub fn snapshot(&self) -> Snapshot<V> {
        let snap = self.shared().write().snapshot();
        Snapshot {
            db: self.clone(),
            seq: snap.sequence(),
            inner: Some(snap),
        }
    }

    /// Iterates every key, ascending (`.rev()` for descending).
    pub fn iter(&self) -> Iter<V> {
        self.range::<&[u8], _>(..)
    }

    /// Iterates the keys in `range`, ascending (`.rev()` for descending).
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> Iter<V> {
        let snap = self.snapshot();
        Iter::new(
            snap,
            owned_bound(range.start_bound()),
            owned_bound(range.end_bound()),
            None,
        )
    }

    /// Iterates the keys starting with `prefix`, ascending (`.rev()` for descending).
    pub fn prefix(&self, prefix: &[u8]) -> Iter<V> {
        let snap = self.snapshot();
        Iter::new(
            snap,
            Bound::Unbounded,
            Bound::Unbounded,
            Some(prefix.to_vec()),
        )
    }

    /// Freezes the memtable and waits until every frozen memtable is written as a table.
    pub fn flush(&self) -> Result<()> {
        self.shared().write().rotate()?;
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
                let core = self.shared().read();
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
        let levels = self.shared().read().current_version().num_levels();
        for level in 0..levels {
            loop {
                let job = self.shared().write().pick_manual(start, end, level);
                match job {
                    Some(job) => {
                        let (ticket, out) = job.run();
                        self.shared().write().install(ticket, out)?;
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
                let core = self.shared().read();
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

    /// Counters, sizes per level, cache figures.
    pub fn stats(&self) -> Stats {
        self.shared().read().stats()
    }

    /// What opening the database found and repaired.
    pub fn recovery_report(&self) -> Recovered {
        self.shared().read().recovery_report().clone()
    }

    /// Every live table, level 0 first (newest run first), then each level in key order.
    pub fn tables(&self) -> Vec<TableInfo> {
        self.shared().read().tables()
    }

    /// The current version, an internal structure (for the CLI's inspection commands and for
    /// tests); [`Db::tables`] is the stable view.
    #[doc(hidden)]
    pub fn current_version(&self) -> Arc<cairn_core::version::Version> {
        self.shared().read().current_version()
    }

    /// Stops the background threads, syncs the WAL and closes the database. Every later call
    /// on any handle returns [`Error::Closed`]. The directory lock is released when the last
    /// handle (including iterators and snapshots) is dropped.
    pub fn close(&self) -> Result<()> {
        self.h.stop_threads();
        self.shared().write().close()
    }
}

fn owned_bound<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn borrow_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
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
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.shared().read().get_at(key, self.seq)
    }

    /// Iterates `range` at the snapshot.
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> Iter<V> {
        let snap = self.db.snapshot_at(self.seq);
        Iter::new(
            snap,
            owned_bound(range.start_bound()),
            owned_bound(range.end_bound()),
            None,
        )
    }

    /// Iterates every key at the snapshot.
    pub fn iter(&self) -> Iter<V> {
        self.range::<&[u8], _>(..)
    }

    /// The sequence number the snapshot reads at.
    pub fn sequence(&self) -> u64 {
        self.seq
    }
}

impl<V: Vfs + Clone> Db<V> {
    fn snapshot_at(&self, seq: u64) -> Snapshot<V> {
        // Registers another hold on the same sequence number.
        let mut core = self.shared().write();
        let snap = core.snapshot_at(seq);
        Snapshot {
            db: self.clone(),
            seq,
            inner: Some(snap),
        }
    }
}

impl<V: Vfs + Clone> Drop for Snapshot<V> {
    fn drop(&mut self) {
        if let Some(s) = self.inner.take() {
            self.db.shared().write().release_snapshot(s);
        }
    }
}

/// Iterates a range at a snapshot, in pages, holding no lock between pages. Double-ended:
/// `next` walks up from the start, `next_back` down from the end, and they stop where they
/// meet.
pub struct Iter<V: Vfs + Clone = StdVfs> {
    snap: Snapshot<V>,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
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
        }
    }

    fn page(&self, direction: Direction, limit: usize) -> Result<(Vec<core_db::Entry>, bool)> {
        let after = match direction {
            Direction::Forward => self.front_last.as_deref(),
            Direction::Reverse => self.back_last.as_deref(),
        };
        self.snap.db.shared().read().scan_page(
            (borrow_bound(&self.lo), borrow_bound(&self.hi)),
            self.prefix.as_deref(),
            self.snap.seq,
            direction,
            after,
            limit,
            PAGE_BYTES,
        )
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
