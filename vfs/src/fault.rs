//! `FaultVfs`: wraps any [`Vfs`], simulates crashes, kills the "process" at a chosen
//! mutation and injects I/O errors. Test-only (feature `fault`), deterministic by seed.
//!
//! # What is tracked
//!
//! Every operation is forwarded to the inner Vfs, which therefore always holds the *live*
//! state: what a running process sees. Next to it `FaultVfs` keeps what is *durable*, at two
//! levels, the way POSIX separates them:
//!
//! - **File data**, per file (per *inode*, not per name: a removed file that is still open
//!   keeps its own data). A file's durable contents are its contents as of the last `sync` of
//!   *that file* that returned `Ok`. Every `write_at` and `truncate` after that is an
//!   *unsynced operation*, kept in order in a per-file list. A `sync` makes all operations
//!   that completed before it durable; it does nothing for any other file and nothing for
//!   the directory.
//! - **Directory entries.** The durable directory is the name → file binding as of the last
//!   `sync_dir` that returned `Ok`. A `create` or `remove` since then is unsynced. In
//!   particular a file that was created, written and synced but whose directory was not
//!   synced afterwards is *not* durable as a name: a crash may make it vanish, data and all.
//!   A file removed since the last `sync_dir` may reappear with its durable contents.
//!
//! Files that already exist in the inner Vfs when they are first touched through the
//! `FaultVfs` (and every file right after a [`FaultVfs::crash`]) are *adopted*: their current
//! contents and their names are durable. Files never touched through the `FaultVfs` are never
//! changed by a crash.
//!
//! # What a crash may keep or lose
//!
//! [`FaultVfs::crash`] rewrites the inner Vfs into one possible post-crash state:
//!
//! - [`CrashMode::KeepUnsynced`]: a process death with the OS surviving. Everything that
//!   reached the inner Vfs is kept (all writes, creates and removes).
//! - [`CrashMode::DropUnsynced`]: every file goes back to its durable contents (all unsynced
//!   writes and truncates are lost); creates and removes are kept as if the directory had
//!   been synced.
//! - [`CrashMode::DropUnsyncedAndDirOps`]: the strictest state. File data as in
//!   `DropUnsynced`, and the directory goes back to its durable state: every name created
//!   since the last `sync_dir` vanishes and every name removed since then reappears with the
//!   durable contents of the file it named.
//! - [`CrashMode::TornPrefix`]`{ seed }`: for each file with `n` unsynced operations, a
//!   `k` in `0..=n` is drawn; operations `1..=k` are applied in order to the durable
//!   contents, and if operation `k + 1` is a write, a prefix of it (possibly empty, never
//!   all of it) is applied as well — a torn write. Nothing after that survives, so the kept
//!   writes are always a prefix of the file's unsynced writes: if write `j` survives (even
//!   partly), every write before `j` survived in full. Independently, each name whose live
//!   binding differs from its durable one (created, removed, or removed and created again
//!   since the last `sync_dir`) keeps either its live or its durable binding, by a coin flip.
//! - [`CrashMode::TornPrefixWithGarbage`]`{ seed }`: as `TornPrefix`, and in addition a torn
//!   write may leave the rest of the page (4096 bytes) it was cut in, up to the end of that
//!   write, filled with zeros or with garbage — a file size or page that reached the disk
//!   before its data did. Bytes outside the range of the torn write are never damaged.
//!
//! The model is ordered per file (prefix) and independent between files and between names:
//! a crash may keep the unsynced writes of one file and lose those of another, and may keep
//! one unsynced create and lose another. It does not model reordering of writes within one
//! file (out-of-order page writeback), lost synced data (a lying disk), or bit rot; the
//! engine's checksums are what handles those, and tests corrupt files directly for that.
//!
//! After a crash every file is adopted afresh (its state is durable, nothing pending), the
//! kill point, injected errors and sync failures are disarmed, locks taken through the
//! `FaultVfs` are released (a dead process holds no lock), and file handles opened before the
//! crash fail with `Io` ("simulated crash: stale handle"): they belong to the dead process.
//!
//! # Kill points
//!
//! Mutations (`create`, `write_at`, `sync`, `truncate`, `remove`, `sync_dir`) are numbered
//! 1, 2, 3, … since construction or [`FaultVfs::reset_counters`]. [`FaultVfs::set_kill_at`]
//! with `Some(n)` makes mutation `n` the process death: it fails with `Io` "simulated
//! crash", and every later operation (reads, opens, listings, lock included) fails the same
//! way until [`FaultVfs::crash`]. Whether the fatal operation itself reached the disk is
//! chosen by [`KillEffect`] (not applied, applied, or by seed; a write then applies a random
//! prefix).
//!
//! # Error injection
//!
//! [`FaultVfs::fail_nth`] fails the `n`-th future operation of one [`OpKind`] once, with any
//! [`ErrorKind`] (`Io`, `NoSpace`, …); [`FaultVfs::fail_all_syncs`] fails every `sync` and
//! `sync_dir` from now on. An injected failure is not forwarded: a failed write applies
//! nothing, a failed sync makes nothing durable (the operations stay unsynced), a failed
//! create or remove changes no name.
//!
//! Concurrent writes to overlapping ranges of one file are recorded in the order the inner
//! writes took place (a per-file lock serializes them). Calling `crash` while other threads
//! are inside operations is allowed: those operations either complete before the crash or
//! fail as stale.

use crate::{Error, ErrorKind, File, LockGuard, Result, Vfs};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use spin::Mutex;

/// Page size used by [`CrashMode::TornPrefixWithGarbage`] for the damaged tail of a torn
/// write.
pub const PAGE_SIZE: u64 = 4096;

/// Which post-crash state [`FaultVfs::crash`] produces. See the module docs for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Process death, OS survives: every write, create and remove is kept.
    KeepUnsynced,
    /// Every file goes back to its durable contents; creates and removes are kept.
    DropUnsynced,
    /// Every file goes back to its durable contents and the directory to its state as of the
    /// last `sync_dir`.
    DropUnsyncedAndDirOps,
    /// Each file keeps an ordered prefix of its unsynced operations, the last one possibly a
    /// torn write; each unsynced create or remove is kept or lost by coin flip.
    TornPrefix {
        /// Seed of every random choice.
        seed: u64,
    },
    /// As [`CrashMode::TornPrefix`], and the page in which a write was torn may be left
    /// filled with zeros or garbage up to the end of that write.
    TornPrefixWithGarbage {
        /// Seed of every random choice.
        seed: u64,
    },
}

impl CrashMode {
    /// A mode picked by `seed` among all modes (torn modes seeded by `seed`), for tests that
    /// loop over seeds.
    pub fn from_seed(seed: u64) -> CrashMode {
        let mut rng = Rng::new(seed);
        match rng.below(5) {
            0 => CrashMode::KeepUnsynced,
            1 => CrashMode::DropUnsynced,
            2 => CrashMode::DropUnsyncedAndDirOps,
            3 => CrashMode::TornPrefix { seed },
            _ => CrashMode::TornPrefixWithGarbage { seed },
        }
    }

    fn seed(self) -> u64 {
        match self {
            CrashMode::TornPrefix { seed } | CrashMode::TornPrefixWithGarbage { seed } => seed,
            _ => 0,
        }
    }
}

/// Whether the operation at the kill point reaches the inner Vfs before the process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KillEffect {
    /// The fatal operation is not applied (the default).
    #[default]
    NotApplied,
    /// The fatal operation is applied in full, then fails.
    Applied,
    /// Chosen by seed: a write applies a random prefix (possibly empty or complete); any
    /// other operation is applied or not by coin flip.
    Random {
        /// Seed of the choices; successive kill points draw successive values.
        seed: u64,
    },
}

/// Kinds of operations, for [`FaultVfs::fail_nth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// `Vfs::create`.
    Create,
    /// `Vfs::open`.
    Open,
    /// `Vfs::remove`.
    Remove,
    /// `Vfs::sync_dir`.
    SyncDir,
    /// `File::read_exact_at` (and so `File::read_all`).
    Read,
    /// `File::write_at`.
    Write,
    /// `File::sync`.
    Sync,
    /// `File::truncate`.
    Truncate,
}

impl OpKind {
    const COUNT: usize = 8;

    fn index(self) -> usize {
        match self {
            OpKind::Create => 0,
            OpKind::Open => 1,
            OpKind::Remove => 2,
            OpKind::SyncDir => 3,
            OpKind::Read => 4,
            OpKind::Write => 5,
            OpKind::Sync => 6,
            OpKind::Truncate => 7,
        }
    }

    /// True for the operations counted as mutations (kill points).
    pub fn is_mutation(self) -> bool {
        !matches!(self, OpKind::Open | OpKind::Read)
    }
}

/// Operation counts. Each counts the operations forwarded to the inner Vfs (injected
/// failures and operations refused after a kill are not counted; an operation at a kill point
/// that was applied is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultStats {
    /// Mutations attempted (the kill-point counter; counts injected failures too).
    pub mutations: u64,
    /// `create` calls.
    pub creates: u64,
    /// `open` calls.
    pub opens: u64,
    /// `remove` calls.
    pub removes: u64,
    /// `sync_dir` calls.
    pub sync_dirs: u64,
    /// `read_exact_at` calls.
    pub reads: u64,
    /// `write_at` calls.
    pub writes: u64,
    /// Bytes passed to `write_at` and forwarded.
    pub bytes_written: u64,
    /// File `sync` calls.
    pub syncs: u64,
    /// `truncate` calls.
    pub truncates: u64,
    /// Errors injected by `fail_nth` or `fail_all_syncs`.
    pub injected: u64,
    /// Simulated crashes.
    pub crashes: u64,
}

/// The tracked state of one name, for debugging (see [`FaultVfs::files`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    /// The file name.
    pub name: String,
    /// The name exists now.
    pub live: bool,
    /// The name exists in the durable directory (as of the last `sync_dir`).
    pub dir_durable: bool,
    /// The durable name refers to the same file as the live one (false when the name was
    /// removed and created again since the last `sync_dir`, or when one side is missing).
    pub same_file: bool,
    /// Durable length of the file the name refers to (live file if any, else the durable
    /// one); `None` when the file is unchanged since adoption (durable = live).
    pub durable_len: Option<u64>,
    /// Number of unsynced writes and truncates of that file.
    pub pending_ops: usize,
    /// Bytes held by those unsynced writes.
    pub pending_bytes: u64,
}

/// What a crash did, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Names that existed before the crash and are gone after it.
    pub vanished: Vec<String>,
    /// Names that did not exist before the crash and exist after it.
    pub reappeared: Vec<String>,
    /// Names whose contents after the crash differ from what the process saw (lost or torn
    /// unsynced operations, or another file under the same name).
    pub rewritten: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Internals.

/// splitmix64: small, deterministic, good enough for test choices.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (0 when `n == 0`).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

fn crashed() -> Error {
    Error::new(ErrorKind::Io, "simulated crash")
}

fn stale() -> Error {
    Error::new(
        ErrorKind::Io,
        "simulated crash: stale handle from before FaultVfs::crash",
    )
}

fn internal(what: &str) -> Error {
    Error::new(ErrorKind::Io, format!("FaultVfs internal error: {what}"))
}

fn to_usize(n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| Error::new(ErrorKind::NoSpace, "offset beyond address space"))
}

#[derive(Debug, Clone)]
enum Op {
    Write { offset: u64, data: Vec<u8> },
    Truncate { len: u64 },
}

fn write_image(image: &mut Vec<u8>, offset: u64, data: &[u8]) -> Result<()> {
    let start = to_usize(offset)?;
    let end = start
        .checked_add(data.len())
        .ok_or_else(|| Error::new(ErrorKind::NoSpace, "offset beyond address space"))?;
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(data);
    Ok(())
}

fn apply(image: &mut Vec<u8>, op: &Op) -> Result<()> {
    match op {
        Op::Write { offset, data } => write_image(image, *offset, data),
        Op::Truncate { len } => {
            image.resize(to_usize(*len)?, 0);
            Ok(())
        }
    }
}

#[derive(Debug)]
struct Inode {
    /// Unchanged since adoption: the durable contents are the inner file's contents, and
    /// `durable`/`pending` are empty.
    pristine: bool,
    durable: Vec<u8>,
    pending: Vec<Op>,
    /// Set by a crash: the process that used this file is dead.
    stale: bool,
}

impl Inode {
    fn new(pristine: bool) -> Self {
        Inode {
            pristine,
            durable: Vec::new(),
            pending: Vec::new(),
            stale: false,
        }
    }

    fn check(&self) -> Result<()> {
        if self.stale {
            Err(stale())
        } else {
            Ok(())
        }
    }

    /// Before the first mutation of an adopted file, remember its (durable) contents.
    fn snapshot_if_pristine<F: File>(&mut self, file: &F) -> Result<()> {
        if self.pristine {
            self.durable = file.read_all()?;
            self.pending.clear();
            self.pristine = false;
        }
        Ok(())
    }

    fn all_applied(&self) -> Result<Vec<u8>> {
        let mut image = self.durable.clone();
        for op in &self.pending {
            apply(&mut image, op)?;
        }
        Ok(image)
    }

    /// A torn-prefix image; the bool is true when it equals the live contents.
    fn torn(&self, rng: &mut Rng, garbage: bool) -> Result<(Vec<u8>, bool)> {
        let n = self.pending.len();
        let mut image = self.durable.clone();
        let k = usize::try_from(rng.below(n as u64 + 1)).unwrap_or(n).min(n);
        for op in &self.pending[..k] {
            apply(&mut image, op)?;
        }
        if k == n {
            return Ok((image, true));
        }
        if let Some(Op::Write { offset, data }) = self.pending.get(k) {
            if !data.is_empty() {
                let cut = usize::try_from(rng.below(data.len() as u64)).unwrap_or(0);
                if cut > 0 {
                    write_image(&mut image, *offset, &data[..cut])?;
                }
                if garbage && rng.coin() {
                    let from = offset.saturating_add(cut as u64);
                    let page_end = (from / PAGE_SIZE + 1).saturating_mul(PAGE_SIZE);
                    let to = offset.saturating_add(data.len() as u64).min(page_end);
                    let len = to_usize(to.saturating_sub(from))?;
                    let zeros = rng.coin();
                    let fill: Vec<u8> = (0..len)
                        .map(|_| if zeros { 0 } else { rng.next() as u8 })
                        .collect();
                    write_image(&mut image, from, &fill)?;
                }
            }
        }
        Ok((image, false))
    }
}

type InodeRef = Arc<Mutex<Inode>>;

#[derive(Debug)]
struct Injection {
    op: OpKind,
    at: u64,
    error: ErrorKind,
}

/// What `begin` decided for an operation that may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Go {
    /// Proceed normally.
    Run,
    /// This is the kill point: apply (a write applies `len` bytes), then fail.
    DieAfter { len: usize },
    /// A write to a full disk: the first `len` bytes fit, then it fails with `NoSpace` (the
    /// process lives on).
    FullAfter { len: usize },
}

struct State {
    epoch: u64,
    next_id: u64,
    inodes: BTreeMap<u64, InodeRef>,
    live: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
    killed: bool,
    kill_at: Option<u64>,
    kill_effect: KillEffect,
    kill_rng: Rng,
    seen: [u64; OpKind::COUNT],
    injections: Vec<Injection>,
    fail_syncs: Option<ErrorKind>,
    /// Every `create` and `write_at` fails with `NoSpace` (a full disk).
    disk_full: bool,
    stats: FaultStats,
    locks: BTreeMap<u64, LockGuard>,
    next_lock: u64,
}

impl State {
    fn new() -> Self {
        State {
            epoch: 0,
            next_id: 0,
            inodes: BTreeMap::new(),
            live: BTreeMap::new(),
            durable: BTreeMap::new(),
            killed: false,
            kill_at: None,
            kill_effect: KillEffect::NotApplied,
            kill_rng: Rng::new(0),
            seen: [0; OpKind::COUNT],
            injections: Vec::new(),
            fail_syncs: None,
            disk_full: false,
            stats: FaultStats::default(),
            locks: BTreeMap::new(),
            next_lock: 0,
        }
    }

    fn check_alive(&self, epoch: Option<u64>) -> Result<()> {
        if epoch.is_some_and(|e| e != self.epoch) {
            return Err(stale());
        }
        if self.killed {
            return Err(crashed());
        }
        Ok(())
    }

    /// Decides the fate of one operation: refused (dead, stale, injected error), run, or run
    /// as the fatal operation of a kill point. `write_len` is the length of a write. Counts
    /// the operation in the stats when it goes ahead.
    fn begin(&mut self, op: OpKind, epoch: Option<u64>, write_len: usize) -> Result<Go> {
        self.check_alive(epoch)?;
        let mut go = Go::Run;
        if op.is_mutation() {
            self.stats.mutations += 1;
            if self.kill_at.is_some_and(|k| self.stats.mutations >= k) {
                self.killed = true;
                self.kill_at = None;
                match self.kill_effect {
                    KillEffect::NotApplied => return Err(crashed()),
                    KillEffect::Applied => go = Go::DieAfter { len: write_len },
                    KillEffect::Random { .. } => {
                        let r = self.kill_rng.next();
                        if op == OpKind::Write {
                            let len = if r & 1 == 1 {
                                write_len
                            } else {
                                usize::try_from((r >> 1) % (write_len as u64 + 1)).unwrap_or(0)
                            };
                            go = Go::DieAfter { len };
                        } else if r & 1 == 1 {
                            go = Go::DieAfter { len: 0 };
                        } else {
                            return Err(crashed());
                        }
                    }
                }
            }
        }
        if go == Go::Run {
            let i = op.index();
            self.seen[i] += 1;
            let seen = self.seen[i];
            if let Some(pos) = self
                .injections
                .iter()
                .position(|inj| inj.op == op && inj.at == seen)
            {
                let inj = self.injections.remove(pos);
                self.stats.injected += 1;
                return Err(Error::new(
                    inj.error,
                    format!("injected failure of {op:?} #{seen}"),
                ));
            }
            if self.disk_full && op == OpKind::Create {
                self.stats.injected += 1;
                return Err(Error::new(
                    ErrorKind::NoSpace,
                    format!("injected full disk: {op:?} #{seen}"),
                ));
            }
            if self.disk_full && op == OpKind::Write {
                // What fits is written (a short write), the rest fails.
                self.stats.injected += 1;
                go = Go::FullAfter { len: write_len / 2 };
            }
            if let (Some(kind), OpKind::Sync | OpKind::SyncDir) = (self.fail_syncs, op) {
                self.stats.injected += 1;
                return Err(Error::new(
                    kind,
                    format!("injected failure of every {op:?}"),
                ));
            }
        }
        let s = &mut self.stats;
        match op {
            OpKind::Create => s.creates += 1,
            OpKind::Open => s.opens += 1,
            OpKind::Remove => s.removes += 1,
            OpKind::SyncDir => s.sync_dirs += 1,
            OpKind::Read => s.reads += 1,
            OpKind::Write => {
                s.writes += 1;
                let len = match go {
                    Go::Run => write_len,
                    Go::DieAfter { len } | Go::FullAfter { len } => len,
                };
                s.bytes_written += len as u64;
            }
            OpKind::Sync => s.syncs += 1,
            OpKind::Truncate => s.truncates += 1,
        }
        Ok(go)
    }

    fn new_inode(&mut self, pristine: bool) -> (u64, InodeRef) {
        let id = self.next_id;
        self.next_id += 1;
        let inode = Arc::new(Mutex::new(Inode::new(pristine)));
        self.inodes.insert(id, inode.clone());
        (id, inode)
    }

    /// The live inode of `name`, adopting a file that exists in the inner Vfs but was never
    /// seen (its contents and name are durable).
    fn resolve<V: Vfs>(&mut self, inner: &V, name: &str) -> Result<Option<(u64, InodeRef)>> {
        if let Some(&id) = self.live.get(name) {
            let inode = self
                .inodes
                .get(&id)
                .cloned()
                .ok_or_else(|| internal("live name without inode"))?;
            return Ok(Some((id, inode)));
        }
        if !inner.exists(name)? {
            return Ok(None);
        }
        let (id, inode) = self.new_inode(true);
        self.live.insert(String::from(name), id);
        if !self.durable.contains_key(name) {
            self.durable.insert(String::from(name), id);
        }
        Ok(Some((id, inode)))
    }

    /// Forgets inodes that no name (live or durable) refers to; open handles keep theirs.
    fn gc(&mut self) {
        let used: BTreeSet<u64> = self
            .live
            .values()
            .chain(self.durable.values())
            .copied()
            .collect();
        self.inodes.retain(|id, _| used.contains(id));
    }

    fn disarm(&mut self) {
        self.kill_at = None;
        self.injections.clear();
        self.fail_syncs = None;
        self.disk_full = false;
    }
}

struct Control {
    state: Mutex<State>,
}

struct Shared<V> {
    inner: V,
    ctl: Arc<Control>,
}

/// A Vfs wrapper that tracks durability, simulates crashes, kills and injected errors.
/// Clones share the same state. See the [module docs](self) for the model.
pub struct FaultVfs<V: Vfs> {
    shared: Arc<Shared<V>>,
}

impl<V: Vfs> Clone for FaultVfs<V> {
    fn clone(&self) -> Self {
        FaultVfs {
            shared: self.shared.clone(),
        }
    }
}

impl<V: Vfs> fmt::Debug for FaultVfs<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.ctl.state.lock();
        f.debug_struct("FaultVfs")
            .field("killed", &st.killed)
            .field("kill_at", &st.kill_at)
            .field("live_files", &st.live.len())
            .field("stats", &st.stats)
            .finish()
    }
}

/// Contents a crash gives a name.
enum Contents {
    /// Keep what the inner Vfs holds.
    Unchanged,
    /// Replace with these bytes.
    Bytes(Vec<u8>),
}

impl<V: Vfs> FaultVfs<V> {
    /// Wraps `inner`. Files already in it are durable as they are.
    pub fn new(inner: V) -> Self {
        FaultVfs {
            shared: Arc::new(Shared {
                inner,
                ctl: Arc::new(Control {
                    state: Mutex::new(State::new()),
                }),
            }),
        }
    }

    /// The wrapped Vfs. Changing its files directly is only coherent while they are adopted
    /// unchanged, e.g. right after [`FaultVfs::crash`].
    pub fn inner(&self) -> &V {
        &self.shared.inner
    }

    fn state(&self) -> spin::MutexGuard<'_, State> {
        self.shared.ctl.state.lock()
    }

    /// Simulates a crash and reboot: rewrites the inner Vfs into a post-crash state chosen by
    /// `mode`, re-adopts every file, disarms every fault, releases locks and invalidates open
    /// handles. Panics if the inner Vfs fails while being rewritten (see
    /// [`FaultVfs::try_crash`]).
    pub fn crash(&self, mode: CrashMode) {
        if let Err(e) = self.try_crash(mode) {
            panic!("FaultVfs::crash: the inner Vfs failed: {e:?}");
        }
    }

    /// [`FaultVfs::crash`] that reports an inner failure instead of panicking (after which
    /// the state of the inner Vfs is unspecified), and says what the crash did.
    pub fn try_crash(&self, mode: CrashMode) -> Result<CrashReport> {
        let inner = &self.shared.inner;
        let mut st = self.state();
        // The dying process's handles must not write any more.
        for inode in st.inodes.values() {
            inode.lock().stale = true;
        }
        let mut rng = Rng::new(mode.seed());
        let names: BTreeSet<String> = st.live.keys().chain(st.durable.keys()).cloned().collect();
        let mut report = CrashReport::default();
        let mut plan: Vec<(String, Option<Contents>)> = Vec::new();
        for name in names {
            let live = st.live.get(&name).copied();
            let durable = st.durable.get(&name).copied();
            let keep_live = live == durable
                || match mode {
                    CrashMode::KeepUnsynced | CrashMode::DropUnsynced => true,
                    CrashMode::DropUnsyncedAndDirOps => false,
                    CrashMode::TornPrefix { .. } | CrashMode::TornPrefixWithGarbage { .. } => {
                        rng.coin()
                    }
                };
            let bound = if keep_live { live } else { durable };
            let Some(id) = bound else {
                if live.is_some() {
                    report.vanished.push(name.clone());
                }
                plan.push((name, None));
                continue;
            };
            if live.is_none() {
                report.reappeared.push(name.clone());
            }
            let same = live == Some(id);
            let inode_ref = st
                .inodes
                .get(&id)
                .cloned()
                .ok_or_else(|| internal("bound name without inode"))?;
            let inode = inode_ref.lock();
            let contents = if inode.pristine {
                if !same {
                    return Err(internal("unchanged file not under its own name"));
                }
                Contents::Unchanged
            } else {
                match mode {
                    CrashMode::KeepUnsynced if same => Contents::Unchanged,
                    CrashMode::KeepUnsynced => Contents::Bytes(inode.all_applied()?),
                    CrashMode::DropUnsynced | CrashMode::DropUnsyncedAndDirOps => {
                        if same && inode.pending.is_empty() {
                            Contents::Unchanged
                        } else {
                            Contents::Bytes(inode.durable.clone())
                        }
                    }
                    CrashMode::TornPrefix { .. } | CrashMode::TornPrefixWithGarbage { .. } => {
                        let garbage = matches!(mode, CrashMode::TornPrefixWithGarbage { .. });
                        let (image, complete) = inode.torn(&mut rng, garbage)?;
                        if same && complete {
                            Contents::Unchanged
                        } else {
                            Contents::Bytes(image)
                        }
                    }
                }
            };
            drop(inode);
            if matches!(contents, Contents::Bytes(_)) {
                report.rewritten.push(name.clone());
            }
            plan.push((name, Some(contents)));
        }

        // Rewrite the inner Vfs.
        for (name, contents) in &plan {
            match contents {
                None => match inner.remove(name) {
                    Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                    _ => {}
                },
                Some(Contents::Unchanged) => {}
                Some(Contents::Bytes(bytes)) => {
                    let file = match inner.open(name) {
                        Ok(f) => f,
                        Err(e) if e.kind() == ErrorKind::NotFound => inner.create(name)?,
                        Err(e) => return Err(e),
                    };
                    file.truncate(0)?;
                    if !bytes.is_empty() {
                        file.write_at(0, bytes)?;
                    }
                    file.sync()?;
                }
            }
        }
        inner.sync_dir()?;

        // Reboot: everything that survived is adopted as durable.
        st.inodes.clear();
        st.live.clear();
        st.durable.clear();
        for (name, contents) in plan {
            if contents.is_some() {
                let (id, _) = st.new_inode(true);
                st.live.insert(name.clone(), id);
                st.durable.insert(name, id);
            }
        }
        st.epoch += 1;
        st.killed = false;
        st.disarm();
        st.stats.crashes += 1;
        let locks = core::mem::take(&mut st.locks);
        drop(st);
        drop(locks);
        Ok(report)
    }

    /// Arms (`Some(n)`) or disarms (`None`) the kill point: mutation number `n` (counting
    /// from 1 since construction or [`FaultVfs::reset_counters`]; if already past, the next
    /// mutation) kills the process.
    pub fn set_kill_at(&self, n: Option<u64>) {
        self.state().kill_at = n;
    }

    /// Chooses whether the operation at a kill point is applied (default: not applied).
    pub fn set_kill_effect(&self, effect: KillEffect) {
        let mut st = self.state();
        st.kill_effect = effect;
        if let KillEffect::Random { seed } = effect {
            st.kill_rng = Rng::new(seed);
        }
    }

    /// Kills the process now: every later operation fails until [`FaultVfs::crash`].
    pub fn kill_now(&self) {
        let mut st = self.state();
        st.killed = true;
        st.kill_at = None;
    }

    /// True once the kill point was reached (until the next crash).
    pub fn killed(&self) -> bool {
        self.state().killed
    }

    /// Mutations attempted since construction or [`FaultVfs::reset_counters`].
    pub fn mutation_count(&self) -> u64 {
        self.state().stats.mutations
    }

    /// Makes the `n`-th future operation of kind `op` (`n` counts from 1; 0 means 1) fail
    /// once with `kind`, without being forwarded. Several injections may be armed at once.
    pub fn fail_nth(&self, op: OpKind, n: u64, kind: ErrorKind) {
        let mut st = self.state();
        let at = st.seen[op.index()] + n.max(1);
        st.injections.push(Injection {
            op,
            at,
            error: kind,
        });
    }

    /// `Some(kind)`: every `sync` and `sync_dir` from now on fails with `kind` (and makes
    /// nothing durable); `None` turns this off.
    pub fn fail_all_syncs(&self, kind: Option<ErrorKind>) {
        self.state().fail_syncs = kind;
    }

    /// `true`: the disk is full from now on — every `create` fails with
    /// [`ErrorKind::NoSpace`], and every `write_at` writes the first half of its data (a short
    /// write: what fits) and then fails with `NoSpace` (reads, removes, truncates and syncs go
    /// on; combine with [`FaultVfs::fail_all_syncs`] for a disk whose syncs fail too).
    /// `false`: space was freed.
    pub fn set_disk_full(&self, full: bool) {
        self.state().disk_full = full;
    }

    /// Disarms the kill point, pending injections, `fail_all_syncs` and `set_disk_full` (a crash does this
    /// too). Does not revive a killed process: only [`FaultVfs::crash`] does.
    pub fn clear_faults(&self) {
        self.state().disarm();
    }

    /// Operation counts so far.
    pub fn stats(&self) -> FaultStats {
        self.state().stats
    }

    /// File syncs forwarded to the inner Vfs.
    pub fn sync_count(&self) -> u64 {
        self.state().stats.syncs
    }

    /// Directory syncs forwarded to the inner Vfs.
    pub fn sync_dir_count(&self) -> u64 {
        self.state().stats.sync_dirs
    }

    /// Writes forwarded to the inner Vfs.
    pub fn write_count(&self) -> u64 {
        self.state().stats.writes
    }

    /// Bytes written through the inner Vfs.
    pub fn bytes_written(&self) -> u64 {
        self.state().stats.bytes_written
    }

    /// Resets every counter, the mutation counter included (an armed kill point keeps its
    /// absolute number).
    pub fn reset_counters(&self) {
        self.state().stats = FaultStats::default();
    }

    /// The tracked state of every name that is live or durable, sorted by name. Names never
    /// touched through this `FaultVfs` are not listed.
    pub fn files(&self) -> Vec<FileState> {
        let st = self.state();
        let names: BTreeSet<&String> = st.live.keys().chain(st.durable.keys()).collect();
        let mut out = Vec::new();
        for name in names {
            let live = st.live.get(name).copied();
            let durable = st.durable.get(name).copied();
            let mut fs = FileState {
                name: name.clone(),
                live: live.is_some(),
                dir_durable: durable.is_some(),
                same_file: live.is_some() && live == durable,
                durable_len: None,
                pending_ops: 0,
                pending_bytes: 0,
            };
            if let Some(inode) = live.or(durable).and_then(|id| st.inodes.get(&id)) {
                let inode = inode.lock();
                if !inode.pristine {
                    fs.durable_len = Some(inode.durable.len() as u64);
                }
                fs.pending_ops = inode.pending.len();
                fs.pending_bytes = inode
                    .pending
                    .iter()
                    .map(|op| match op {
                        Op::Write { data, .. } => data.len() as u64,
                        Op::Truncate { .. } => 0,
                    })
                    .sum();
            }
            out.push(fs);
        }
        out
    }

    /// A human-readable dump of [`FaultVfs::files`] and the counters.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for f in self.files() {
            out.push_str(&format!(
                "{:<24} live={} dir_durable={} same_file={} durable_len={:?} pending_ops={} \
                 pending_bytes={}\n",
                f.name,
                f.live,
                f.dir_durable,
                f.same_file,
                f.durable_len,
                f.pending_ops,
                f.pending_bytes
            ));
        }
        out.push_str(&format!("{:?}\n", self.stats()));
        out
    }
}

impl<V: Vfs> Vfs for FaultVfs<V> {
    type File = FaultFile<V::File>;

    fn create(&self, name: &str) -> Result<Arc<Self::File>> {
        let mut st = self.state();
        let go = st.begin(OpKind::Create, None, 0)?;
        let file = self.shared.inner.create(name)?;
        let (id, inode) = st.new_inode(false);
        st.live.insert(String::from(name), id);
        if let Go::DieAfter { .. } = go {
            return Err(crashed());
        }
        Ok(Arc::new(FaultFile {
            inner: file,
            inode,
            ctl: self.shared.ctl.clone(),
            epoch: st.epoch,
        }))
    }

    fn open(&self, name: &str) -> Result<Arc<Self::File>> {
        let mut st = self.state();
        st.begin(OpKind::Open, None, 0)?;
        let file = self.shared.inner.open(name)?;
        let (_, inode) = st
            .resolve(&self.shared.inner, name)?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, name))?;
        Ok(Arc::new(FaultFile {
            inner: file,
            inode,
            ctl: self.shared.ctl.clone(),
            epoch: st.epoch,
        }))
    }

    fn remove(&self, name: &str) -> Result<()> {
        let mut st = self.state();
        let go = st.begin(OpKind::Remove, None, 0)?;
        let inner = &self.shared.inner;
        match st.resolve(inner, name)? {
            None => inner.remove(name)?,
            Some((id, inode)) => {
                if st.durable.get(name) == Some(&id) {
                    // The durable name may come back: keep the durable contents.
                    let mut inode = inode.lock();
                    if inode.pristine {
                        let file = inner.open(name)?;
                        inode.snapshot_if_pristine(&*file)?;
                    }
                }
                inner.remove(name)?;
                st.live.remove(name);
                st.gc();
            }
        }
        if let Go::DieAfter { .. } = go {
            return Err(crashed());
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<String>> {
        self.state().check_alive(None)?;
        self.shared.inner.list()
    }

    fn exists(&self, name: &str) -> Result<bool> {
        self.state().check_alive(None)?;
        self.shared.inner.exists(name)
    }

    fn sync_dir(&self) -> Result<()> {
        let mut st = self.state();
        let go = st.begin(OpKind::SyncDir, None, 0)?;
        self.shared.inner.sync_dir()?;
        st.durable = st.live.clone();
        st.gc();
        if let Go::DieAfter { .. } = go {
            return Err(crashed());
        }
        Ok(())
    }

    fn lock(&self) -> Result<LockGuard> {
        let mut st = self.state();
        st.check_alive(None)?;
        let guard = self.shared.inner.lock()?;
        let token = st.next_lock;
        st.next_lock += 1;
        st.locks.insert(token, guard);
        let ctl = self.shared.ctl.clone();
        Ok(LockGuard::new(move || {
            // Take the inner guard out, then release it with our lock no longer held.
            let inner_guard = ctl.state.lock().locks.remove(&token);
            drop(inner_guard);
        }))
    }
}

/// A file of a [`FaultVfs`]: forwards to the inner file and records its mutations.
pub struct FaultFile<F: File> {
    inner: Arc<F>,
    inode: InodeRef,
    ctl: Arc<Control>,
    epoch: u64,
}

impl<F: File> fmt::Debug for FaultFile<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultFile")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl<F: File> FaultFile<F> {
    fn begin(&self, op: OpKind, write_len: usize) -> Result<Go> {
        self.ctl.state.lock().begin(op, Some(self.epoch), write_len)
    }

    fn finish(go: Go) -> Result<()> {
        match go {
            Go::Run => Ok(()),
            Go::DieAfter { .. } => Err(crashed()),
            Go::FullAfter { .. } => Err(Error::new(
                ErrorKind::NoSpace,
                String::from("injected full disk: a short write"),
            )),
        }
    }
}

impl<F: File> File for FaultFile<F> {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.begin(OpKind::Read, 0)?;
        self.inner.read_exact_at(offset, buf)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let go = self.begin(OpKind::Write, data.len())?;
        let data = match go {
            Go::Run => data,
            Go::DieAfter { len } | Go::FullAfter { len } => &data[..len.min(data.len())],
        };
        // A kill that applies nothing leaves no trace (but a full write of 0 bytes still
        // goes through, as it may extend the file).
        if !(data.is_empty() && go != Go::Run) {
            let mut inode = self.inode.lock();
            inode.check()?;
            inode.snapshot_if_pristine(&*self.inner)?;
            self.inner.write_at(offset, data)?;
            inode.pending.push(Op::Write {
                offset,
                data: data.to_vec(),
            });
        }
        Self::finish(go)
    }

    fn sync(&self) -> Result<()> {
        let go = self.begin(OpKind::Sync, 0)?;
        {
            let mut inode = self.inode.lock();
            inode.check()?;
            self.inner.sync()?;
            if !inode.pristine {
                let pending = core::mem::take(&mut inode.pending);
                for op in &pending {
                    apply(&mut inode.durable, op)?;
                }
            }
        }
        Self::finish(go)
    }

    fn truncate(&self, len: u64) -> Result<()> {
        let go = self.begin(OpKind::Truncate, 0)?;
        {
            let mut inode = self.inode.lock();
            inode.check()?;
            inode.snapshot_if_pristine(&*self.inner)?;
            self.inner.truncate(len)?;
            inode.pending.push(Op::Truncate { len });
        }
        Self::finish(go)
    }

    fn len(&self) -> Result<u64> {
        self.ctl.state.lock().check_alive(Some(self.epoch))?;
        self.inner.len()
    }
}
