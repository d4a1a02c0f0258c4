//! The crash oracle: random workloads against the core [`Db`] over a fault-injecting
//! in-memory VFS, killed at a random mutation, crashed in a random way, reopened (sometimes
//! killed again *during* recovery) and checked against a model.
//!
//! # What is checked after every crash
//!
//! The workload numbers every write (a single put or delete, or a multi-key batch) in the
//! order it was *issued*. After the crash and reopen, the recovered database (read by a full
//! scan and by a `get` of every key of the key space) must equal the model state after some
//! prefix `L` of the issued writes, with `lo <= L <= issued`, where `lo` counts every write
//! acknowledged before the last acknowledged durability point: a synced write (or synced
//! transaction commit; a transaction's writes are one issued write, all or nothing), a successful
//! `flush()`, `compact_range()` or `sync_wal()`. That rules out holes (a later write kept
//! while an earlier one is lost), resurrected deletes, torn batches and lost synced writes.
//! Then the database must accept a synced write, and a second crash + reopen must give
//! exactly the verified state plus that write.
//!
//! Everything is deterministic by seed: `CAIRN_SEED=<seed>` replays a failing run.

use crate::trace::TraceVfs;
use cairn_core::db::Db;
use cairn_core::filename::{self, FileKind};
use cairn_core::txn::DEFAULT_KEYSPACE;
use cairn_core::{Error, Options, WriteBatch, WriteOptions};
use cairn_vfs::fault::{CrashMode, KillEffect};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Bound;

/// Key → value.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// One issued write: (key, `Some(value)` for a put, `None` for a delete), applied in order.
pub type Write = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// What a run did, for coverage reporting and assertions.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Crash points survived (workload kills).
    pub crash_points: u64,
    /// Additional kills during recovery (double crashes).
    pub recovery_kills: u64,
    /// Kills by what the workload was doing: write, sync-write, flush, step, compact, ...
    pub by_phase: BTreeMap<String, u64>,
    /// Kills by the file kind of the fatal mutation: wal, sst, manifest, current, dir.
    pub by_file: BTreeMap<String, u64>,
    /// Kills during a manifest rewrite or current-pointer switch outside recovery.
    pub manifest_rewrite_kills: u64,
    /// Crash modes used.
    pub modes: BTreeMap<&'static str, u64>,
    /// Crashes that lost at least one issued (unsynced or unacknowledged) write.
    pub lost_tail: u64,
    /// Writes issued in total.
    pub writes: u64,
    /// Flushes and compactions completed (from engine stats).
    pub flushes: u64,
    /// Compactions completed (from engine stats).
    pub compactions: u64,
    /// Range deletes (`delete_range` and `delete_prefix` records) issued.
    pub range_deletes: u64,
    /// Kills inside a write whose batch holds a range delete (phases `range-delete` and
    /// `sync-range-delete`).
    pub range_delete_kills: u64,
    /// Kills inside a flush, background step or compaction of a database that holds range
    /// tombstones (a range delete was acknowledged since the run began, and the tombstone
    /// lives in the memtable or in tables until the last level drops it).
    pub range_tombstone_job_kills: u64,
}

impl Outcome {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Outcome) {
        self.crash_points += other.crash_points;
        self.recovery_kills += other.recovery_kills;
        for (k, v) in &other.by_phase {
            *self.by_phase.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.by_file {
            *self.by_file.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.modes {
            *self.modes.entry(k).or_default() += v;
        }
        self.manifest_rewrite_kills += other.manifest_rewrite_kills;
        self.range_deletes += other.range_deletes;
        self.range_delete_kills += other.range_delete_kills;
        self.range_tombstone_job_kills += other.range_tombstone_job_kills;
        self.lost_tail += other.lost_tail;
        self.writes += other.writes;
        self.flushes += other.flushes;
        self.compactions += other.compactions;
    }
}

/// The seeds to run: `CAIRN_SEED` (one seed, decimal or 0x-hex) if set, else `default`.
pub fn seeds_from_env(default: &[u64]) -> Vec<u64> {
    match std::env::var("CAIRN_SEED") {
        Ok(s) => vec![parse_seed(&s).expect("CAIRN_SEED must be a u64 (decimal or 0x-hex)")],
        Err(_) => default.to_vec(),
    }
}

fn verbose() -> bool {
    std::env::var_os("CAIRN_VERBOSE").is_some()
}

/// Parses a decimal or `0x` hexadecimal seed.
pub fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `CAIRN_CRASH_POINTS` if set, else `default`.
pub fn crash_points_from_env(default: usize) -> usize {
    std::env::var("CAIRN_CRASH_POINTS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// Small sizes so that flushes, compactions and manifest rewrites all happen within a few
/// hundred writes. Drawn from the seed.
pub fn small_options(rng: &mut SmallRng) -> Options {
    Options::default()
        .write_buffer_size([16 << 10, 32 << 10, 64 << 10][rng.gen_range(0..3)])
        .max_immutable_memtables(2)
        .block_size([256, 512, 1024][rng.gen_range(0..3)])
        .block_restart_interval(rng.gen_range(1..=16))
        .bloom_bits_per_key([0, 10][rng.gen_range(0..2)])
        .compression(rng.gen_bool(0.5))
        .block_cache_size([0, 64 << 10][rng.gen_range(0..2)])
        .max_open_tables(16)
        .max_manifest_size([512, 1024, 4096][rng.gen_range(0..3)])
        .target_table_size([4 << 10, 16 << 10][rng.gen_range(0..2)])
        .l0_compaction_trigger(rng.gen_range(2..=4))
        .l0_slowdown_trigger(12)
        .l0_stop_trigger(36)
        .level_size_multiplier(4)
        .base_level_size([16 << 10, 64 << 10][rng.gen_range(0..2)])
        .num_levels(4)
        .background_threads(0)
}

/// Reads the whole database: a full forward scan, cross-checked by a `get` of every key in
/// `keys` (a key absent from the scan must be absent for `get` too).
pub fn read_all<V: cairn_vfs::Vfs + Clone>(db: &Db<V>, keys: &[Vec<u8>]) -> Result<Model, String> {
    let mut m = Model::new();
    let it = db
        .range((Bound::Unbounded, Bound::Unbounded))
        .map_err(|e| format!("range: {e}"))?;
    for r in it {
        let (k, v) = r.map_err(|e| format!("scan: {e}"))?;
        if let Some((last, _)) = m.last_key_value() {
            if *last >= k {
                return Err(format!("scan out of order at {}", show(&k)));
            }
        }
        m.insert(k, v);
    }
    for k in keys {
        let got = db.get(k).map_err(|e| format!("get {}: {e}", show(k)))?;
        if got.as_ref() != m.get(k) {
            return Err(format!(
                "get {} = {:?} but the scan says {:?}",
                show(k),
                got.as_deref().map(show),
                m.get(k).map(|v| show(v))
            ));
        }
    }
    Ok(m)
}

/// Printable form of a key or value (first 40 bytes).
pub fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned();
    if b.len() > 40 {
        format!("{s}…({} bytes)", b.len())
    } else {
        s
    }
}

/// Every `L` in `0..=issued.len()` such that `base` plus the first `L` issued writes equals
/// `recovered`. Linear: tracks the number of differing keys while applying the writes.
pub fn matching_prefixes(base: &Model, issued: &[Write], recovered: &Model) -> Vec<usize> {
    let mut state = base.clone();
    let mut diff = 0usize;
    for (k, v) in &state {
        if recovered.get(k) != Some(v) {
            diff += 1;
        }
    }
    for k in recovered.keys() {
        if !state.contains_key(k) {
            diff += 1;
        }
    }
    let mut out = Vec::new();
    if diff == 0 {
        out.push(0);
    }
    for (i, w) in issued.iter().enumerate() {
        for (k, v) in w {
            let before = state.get(k) == recovered.get(k);
            match v {
                Some(v) => {
                    state.insert(k.clone(), v.clone());
                }
                None => {
                    state.remove(k);
                }
            }
            let after = state.get(k) == recovered.get(k);
            match (before, after) {
                (true, false) => diff += 1,
                (false, true) => diff -= 1,
                _ => {}
            }
        }
        if diff == 0 {
            out.push(i + 1);
        }
    }
    out
}

/// Model state after the first `n` writes.
pub fn apply_prefix(base: &Model, issued: &[Write], n: usize) -> Model {
    let mut m = base.clone();
    for w in &issued[..n] {
        apply_write(&mut m, w);
    }
    m
}

/// Applies one issued write to the model.
pub fn apply_write(m: &mut Model, w: &Write) {
    for (k, v) in w {
        match v {
            Some(v) => {
                m.insert(k.clone(), v.clone());
            }
            None => {
                m.remove(k);
            }
        }
    }
}

/// The batch that performs write `w` (puts and deletes, in order).
pub fn batch_of(w: &[(Vec<u8>, Option<Vec<u8>>)]) -> WriteBatch {
    let mut b = WriteBatch::new();
    for (k, v) in w {
        match v {
            Some(v) => b.put(k, v),
            None => b.delete(k),
        }
    }
    b
}

/// [`WriteOptions::SYNC`] or [`WriteOptions::NO_SYNC`].
pub fn write_options(sync: bool) -> WriteOptions {
    if sync {
        WriteOptions::SYNC
    } else {
        WriteOptions::NO_SYNC
    }
}

/// What kind of database file `name` is, as the tests count them: `wal`, `sst`, `manifest`,
/// `current` or `other` (read by `cairn_core::filename`, the engine's own naming).
pub fn file_kind_of(name: &str) -> &'static str {
    match filename::parse(name) {
        FileKind::Wal(_) => "wal",
        FileKind::Table(_) => "sst",
        FileKind::Manifest(_) => "manifest",
        FileKind::Current => "current",
        FileKind::Other => "other",
    }
}

/// Describes up to 8 differences between two states.
pub fn describe_diff(want: &Model, got: &Model) -> String {
    let mut s = String::new();
    let mut n = 0;
    for (k, v) in want {
        if got.get(k) != Some(v) && n < 8 {
            let _ = write!(
                s,
                "\n    {}: want {} got {:?}",
                show(k),
                show(v),
                got.get(k).map(|g| show(g))
            );
            n += 1;
        }
    }
    for (k, v) in got {
        if !want.contains_key(k) && n < 8 {
            let _ = write!(s, "\n    {}: want absent got {}", show(k), show(v));
            n += 1;
        }
    }
    s
}

fn mode_name(m: CrashMode) -> &'static str {
    match m {
        CrashMode::KeepUnsynced => "KeepUnsynced",
        CrashMode::DropUnsynced => "DropUnsynced",
        CrashMode::DropUnsyncedAndDirOps => "DropUnsyncedAndDirOps",
        CrashMode::TornPrefix { .. } => "TornPrefix",
        CrashMode::TornPrefixWithGarbage { .. } => "TornPrefixWithGarbage",
    }
}

/// The file kind of a traced mutation (`"<op> <name> ..."`), or `dir` for a directory sync.
fn file_kind(last: &str) -> &'static str {
    match file_kind_of(last.split(' ').nth(1).unwrap_or("")) {
        "other" if last.starts_with("sync_dir") => "dir",
        kind => kind,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Flush,
    Step,
    Compact,
    RotatingWrite,
    RangeDelete,
}

type TDb = Db<TraceVfs>;

/// One seeded crash run.
pub struct Run {
    seed: u64,
    rng: SmallRng,
    vfs: TraceVfs,
    opts: Options,
    keys: Vec<Vec<u8>>,
    next_write: u64,
    out: Outcome,
    /// A range delete was acknowledged at some point of the run.
    range_tombstones: bool,
}

impl Run {
    /// A run for `seed` (options and key space drawn from it).
    pub fn new(seed: u64) -> Run {
        let mut rng = SmallRng::seed_from_u64(seed);
        let opts = small_options(&mut rng);
        let nkeys = [48, 200, 600][rng.gen_range(0..3)];
        let keys = (0..nkeys)
            .map(|i| format!("k{i:05}").into_bytes())
            .collect();
        Run {
            seed,
            rng,
            vfs: TraceVfs::new(),
            opts,
            keys,
            next_write: 0,
            out: Outcome::default(),
            range_tombstones: false,
        }
    }

    fn fail(&self, epoch: usize, msg: impl AsRef<str>) -> String {
        format!(
            "crash oracle failure: seed {seed} (replay: CAIRN_SEED={seed}), crash point {epoch}: {}",
            msg.as_ref(),
            seed = self.seed
        )
    }

    fn value(&mut self, key: &[u8]) -> Vec<u8> {
        self.next_write += 1;
        let pad = self.rng.gen_range(0..160);
        let mut v = format!("{}@{}:", show(key), self.next_write).into_bytes();
        v.resize(v.len() + pad, b'a' + (self.next_write % 26) as u8);
        v
    }

    fn key(&mut self) -> Vec<u8> {
        let i = self.rng.gen_range(0..self.keys.len());
        self.keys[i].clone()
    }

    /// Adds a random range delete or prefix delete to `b`; returns the range of user keys it
    /// deletes, `[lo, hi)`.
    fn range_delete(&mut self, b: &mut WriteBatch) -> (Vec<u8>, Vec<u8>) {
        match self.rng.gen_range(0..10) {
            // delete_prefix of "k000", "k001", ... (10 or 100 keys of the key space).
            0..=2 => {
                let k = self.key();
                let p = k[..self.rng.gen_range(3..=4)].to_vec();
                b.delete_prefix(&p, self.opts.max_key_size);
                let end = cairn_core::batch::prefix_range_end(&p, self.opts.max_key_size);
                (p, end)
            }
            // Bounds between keys of the key space, or past its end.
            3 => {
                let k = self.key();
                let mut lo = k.clone();
                lo.push(b'!');
                b.delete_range(&lo, b"z");
                (lo, b"z".to_vec())
            }
            // Between two keys of the key space (possibly empty or reversed: deletes nothing).
            _ => {
                let a = self.key();
                let c = self.key();
                let (a, c) = if self.rng.gen_bool(0.9) && a > c {
                    (c, a)
                } else {
                    (a, c)
                };
                b.delete_range(&a, &c);
                if a < c {
                    (a, c)
                } else {
                    (a.clone(), a)
                }
            }
        }
    }

    fn crash(&mut self) {
        let mode = CrashMode::from_seed(self.rng.gen());
        *self.out.modes.entry(mode_name(mode)).or_default() += 1;
        if verbose() {
            eprintln!(
                "[seed {}] crash {mode:?} after `{}`; files before:\n{}",
                self.seed,
                self.vfs.last_mutation(),
                self.vfs.fault().describe()
            );
        }
        self.vfs.fault().crash(mode);
    }

    /// Opens after a crash; with some probability arms a kill point inside recovery, and on
    /// a kill crashes again and retries (up to three nested kills).
    fn reopen(&mut self, epoch: usize) -> Result<TDb, String> {
        let fault = self.vfs.fault().clone();
        let mut depth = 0;
        loop {
            let arm = depth < 3 && self.rng.gen_bool(0.35);
            if arm {
                let at = fault.mutation_count() + self.rng.gen_range(1..=30);
                fault.set_kill_effect(KillEffect::Random {
                    seed: self.rng.gen(),
                });
                fault.set_kill_at(Some(at));
            }
            self.vfs.clear_trace();
            match Db::open(self.vfs.clone(), self.opts.clone()) {
                Ok(db) => {
                    if fault.killed() {
                        return Err(self.fail(
                            epoch,
                            format!(
                                "open succeeded although the process was killed at `{}` \
                                 (an I/O error was swallowed)",
                                self.vfs.last_mutation()
                            ),
                        ));
                    }
                    fault.set_kill_at(None);
                    return Ok(db);
                }
                Err(e) if fault.killed() => {
                    self.out.recovery_kills += 1;
                    *self.out.by_phase.entry("recovery".into()).or_default() += 1;
                    let kind = file_kind(&self.vfs.last_mutation());
                    *self.out.by_file.entry(kind.into()).or_default() += 1;
                    let _ = e;
                    self.crash();
                    depth += 1;
                }
                Err(e) => {
                    return Err(self.fail(epoch, format!("reopen failed: {e}")));
                }
            }
        }
    }

    /// Runs `crash_points` kill/crash/recover/verify cycles.
    pub fn run(mut self, crash_points: usize) -> Result<Outcome, String> {
        let mut db = Db::open(self.vfs.clone(), self.opts.clone())
            .map_err(|e| self.fail(0, format!("first open: {e}")))?;
        let mut base = Model::new();
        for epoch in 0..crash_points {
            let (issued, lo, phase) = self.workload(&mut db, &base, epoch)?;
            let stats = db.stats();
            self.out.flushes += stats.flushes;
            self.out.compactions += stats.compactions;
            drop(db);
            let last = self.vfs.last_mutation();
            let kind = file_kind(&last);
            *self.out.by_phase.entry(phase.clone()).or_default() += 1;
            *self.out.by_file.entry(kind.into()).or_default() += 1;
            if matches!(phase.as_str(), "flush" | "step" | "compact")
                && (kind == "current" || last.starts_with("create MANIFEST-"))
            {
                self.out.manifest_rewrite_kills += 1;
            }
            if phase.ends_with("range-delete") {
                self.out.range_delete_kills += 1;
            }
            if self.range_tombstones && matches!(phase.as_str(), "flush" | "step" | "compact") {
                self.out.range_tombstone_job_kills += 1;
            }
            self.crash();
            db = self.reopen(epoch)?;
            let recovered = read_all(&db, &self.keys).map_err(|e| self.fail(epoch, e))?;
            let matches = matching_prefixes(&base, &issued, &recovered);
            if !matches.iter().any(|&l| l >= lo) {
                let best = apply_prefix(&base, &issued, issued.len());
                let must = apply_prefix(&base, &issued, lo);
                return Err(self.fail(
                    epoch,
                    format!(
                        "recovered state is not a prefix of the issued writes covering every \
                         durable one: killed in {phase} at `{last}`, {} writes issued, the first \
                         {lo} must survive; matching prefixes: {matches:?}\n  vs all issued:{}\n  \
                         vs the durable prefix:{}",
                        issued.len(),
                        describe_diff(&best, &recovered),
                        describe_diff(&must, &recovered)
                    ),
                ));
            }
            if matches.iter().all(|&l| l < issued.len()) {
                self.out.lost_tail += 1;
            }
            self.out.crash_points += 1;
            base = recovered;

            // The database accepts writes, and a second crash + reopen gives the same state.
            let k = self.key();
            let v = self.value(&k);
            db.put(&k, &v, WriteOptions::SYNC)
                .map_err(|e| self.fail(epoch, format!("put after recovery: {e}")))?;
            base.insert(k, v);
            drop(db);
            self.crash();
            db = Db::open(self.vfs.clone(), self.opts.clone())
                .map_err(|e| self.fail(epoch, format!("second reopen: {e}")))?;
            let again = read_all(&db, &self.keys).map_err(|e| self.fail(epoch, e))?;
            if again != base {
                return Err(self.fail(
                    epoch,
                    format!(
                        "second reopen differs from the verified state:{}",
                        describe_diff(&base, &again)
                    ),
                ));
            }
        }
        Ok(self.out)
    }

    /// Runs random operations until the kill point is hit. Returns the issued writes, how
    /// many of them must survive, and what was running when the process died.
    fn workload(
        &mut self,
        db: &mut TDb,
        base: &Model,
        epoch: usize,
    ) -> Result<(Vec<Write>, usize, String), String> {
        let fault = self.vfs.fault().clone();
        let mut model = base.clone();
        let mut issued: Vec<Write> = Vec::new();
        let mut lo = 0usize;
        let mut snaps: Vec<(cairn_core::Snapshot, Model)> = Vec::new();
        fault.set_kill_effect(KillEffect::Random {
            seed: self.rng.gen(),
        });
        let mut target = if self.rng.gen_bool(0.5) {
            let at = fault.mutation_count() + self.rng.gen_range(1..=400);
            fault.set_kill_at(Some(at));
            None
        } else {
            Some(
                [
                    Target::Flush,
                    Target::Step,
                    Target::Compact,
                    Target::RotatingWrite,
                    Target::RangeDelete,
                ][self.rng.gen_range(0..5)],
            )
        };
        let mut misses = 0;
        let max_ops = 2000;
        for _ in 0..max_ops {
            let dice = self.rng.gen_range(0..100);
            let class = match dice {
                62..=66 => Target::RangeDelete,
                0..=61 => Target::RotatingWrite, // any other write
                67..=80 => Target::Step,
                81..=84 => Target::Flush,
                85..=86 => Target::Compact,
                _ => Target::Step, // reads and snapshots: never armed
            };
            let mut armed_now = false;
            if let Some(t) = target {
                let rotating = t == Target::RotatingWrite
                    && class == Target::RotatingWrite
                    && db.stats().memtable_bytes >= self.opts.write_buffer_size as u64;
                if (t == class && t != Target::RotatingWrite && dice < 87) || rotating {
                    let span = match t {
                        Target::Flush => 30,
                        Target::Step => 40,
                        Target::Compact => 80,
                        Target::RotatingWrite => 8,
                        // The WAL append of the batch, or the flush it triggers.
                        Target::RangeDelete => 4,
                    };
                    fault.set_kill_at(Some(fault.mutation_count() + self.rng.gen_range(1..=span)));
                    armed_now = true;
                }
            }
            let (phase, result): (&str, Result<(), Error>) = match dice {
                56..=61 => {
                    // A transaction: a read for update, a few buffered writes, a commit; now
                    // and then a plain write of the key it read lands in between, and the
                    // commit must fail with `Conflict` and write nothing.
                    let mut tx = match db.begin_transaction() {
                        Ok(tx) => tx,
                        Err(e) => {
                            return Err(self.fail(epoch, format!("begin_transaction: {e}")));
                        }
                    };
                    let read = self.key();
                    match db.transaction_get_for_update(&mut tx, DEFAULT_KEYSPACE, &read) {
                        Ok(got) if got.as_ref() == model.get(&read) => {}
                        Ok(got) => {
                            return Err(self.fail(
                                epoch,
                                format!(
                                    "transaction get {} = {:?}, the model says {:?}",
                                    show(&read),
                                    got.as_deref().map(show),
                                    model.get(&read).map(|v| show(v))
                                ),
                            ));
                        }
                        Err(e) => return Err(self.fail(epoch, format!("transaction get: {e}"))),
                    }
                    let mut w = BTreeMap::new();
                    for _ in 0..self.rng.gen_range(1..=6) {
                        let k = self.key();
                        let r = if self.rng.gen_bool(0.7) {
                            let v = self.value(&k);
                            let r = tx.put(DEFAULT_KEYSPACE, &k, &v);
                            w.insert(k, Some(v));
                            r
                        } else {
                            let r = tx.delete(DEFAULT_KEYSPACE, &k);
                            w.insert(k, None);
                            r
                        };
                        if let Err(e) = r {
                            return Err(self.fail(epoch, format!("transaction write: {e}")));
                        }
                    }
                    let interfere = self.rng.gen_bool(0.2);
                    let mut failed = None;
                    if interfere {
                        let v = self.value(&read);
                        let pw: Write = vec![(read.clone(), Some(v))];
                        issued.push(pw.clone());
                        match db.write(&batch_of(&pw), WriteOptions::NO_SYNC) {
                            Ok(()) => apply_write(&mut model, &pw),
                            Err(e) => failed = Some(e),
                        }
                    }
                    match failed {
                        Some(e) => {
                            db.end_transaction(&mut tx, false);
                            ("write", Err(e))
                        }
                        None => {
                            let sync = self.rng.gen_bool(0.15);
                            let tw: Write = w.into_iter().collect();
                            if !interfere {
                                issued.push(tw.clone());
                            }
                            match db.commit_transaction(&mut tx, write_options(sync)) {
                                Ok(()) if interfere => {
                                    return Err(self.fail(
                                        epoch,
                                        "a transaction committed although a plain write \
                                         changed the key it read for update",
                                    ));
                                }
                                Err(Error::Conflict) if !interfere => {
                                    return Err(self.fail(
                                        epoch,
                                        "a transaction conflicted with nothing concurrent",
                                    ));
                                }
                                Err(Error::Conflict) => ("txn", Ok(())),
                                Ok(()) => {
                                    apply_write(&mut model, &tw);
                                    if sync {
                                        lo = issued.len();
                                    }
                                    ("txn", Ok(()))
                                }
                                Err(e) => ("txn", Err(e)),
                            }
                        }
                    }
                }
                62..=66 => {
                    // A batch with a range delete (or a prefix delete) among puts and
                    // deletes. The model sees the range delete as a delete of every key of
                    // the key space it covers, at its place in the batch.
                    let mut w: Write = Vec::new();
                    let mut b = WriteBatch::new();
                    let n = self.rng.gen_range(0..=4);
                    let at = self.rng.gen_range(0..=n);
                    for i in 0..=n {
                        if i == at {
                            let (lo, hi) = self.range_delete(&mut b);
                            for k in &self.keys {
                                if *k >= lo && *k < hi {
                                    w.push((k.clone(), None));
                                }
                            }
                            continue;
                        }
                        let k = self.key();
                        if self.rng.gen_bool(0.7) {
                            let v = self.value(&k);
                            b.put(&k, &v);
                            w.push((k, Some(v)));
                        } else {
                            b.delete(&k);
                            w.push((k, None));
                        }
                    }
                    self.out.range_deletes += 1;
                    let sync = self.rng.gen_bool(0.3);
                    issued.push(w);
                    let r = db.write(&b, write_options(sync));
                    if r.is_ok() {
                        self.range_tombstones = true;
                        apply_write(&mut model, issued.last().expect("just pushed"));
                        if sync {
                            lo = issued.len();
                        }
                    }
                    (
                        if sync {
                            "sync-range-delete"
                        } else {
                            "range-delete"
                        },
                        r,
                    )
                }
                0..=55 => {
                    let mut w: Write = Vec::new();
                    let n = if dice < 40 {
                        1
                    } else {
                        self.rng.gen_range(1..=8)
                    };
                    for _ in 0..n {
                        let k = self.key();
                        if dice < 30 || (dice >= 40 && self.rng.gen_bool(0.7)) {
                            let v = self.value(&k);
                            w.push((k, Some(v)));
                        } else {
                            w.push((k, None));
                        }
                    }
                    let sync = self.rng.gen_bool(0.15);
                    let b = batch_of(&w);
                    issued.push(w);
                    let r = db.write(&b, write_options(sync));
                    if r.is_ok() {
                        apply_write(&mut model, issued.last().expect("just pushed"));
                        if sync {
                            lo = issued.len();
                        }
                    }
                    (if sync { "sync-write" } else { "write" }, r)
                }
                67..=80 => ("step", db.step().map(|_| ())),
                81..=84 => {
                    let r = db.flush();
                    if r.is_ok() {
                        lo = issued.len();
                    }
                    ("flush", r)
                }
                85..=86 => {
                    let a = self.key();
                    let b = self.key();
                    let (a, b) = if a <= b { (a, b) } else { (b, a) };
                    let whole = self.rng.gen_bool(0.3);
                    let r = if whole {
                        db.compact_range(None, None)
                    } else {
                        db.compact_range(Some(&a), Some(&b))
                    };
                    if r.is_ok() {
                        lo = issued.len();
                    }
                    ("compact", r)
                }
                87..=88 => {
                    let r = db.sync_wal();
                    if r.is_ok() {
                        lo = issued.len();
                    }
                    ("sync_wal", r)
                }
                89..=94 => {
                    let k = self.key();
                    match db.get(&k) {
                        Ok(got) => {
                            if got.as_ref() != model.get(&k) {
                                return Err(self.fail(
                                    epoch,
                                    format!(
                                        "live get {} = {:?}, the model says {:?}",
                                        show(&k),
                                        got.as_deref().map(show),
                                        model.get(&k).map(|v| show(v))
                                    ),
                                ));
                            }
                            ("get", Ok(()))
                        }
                        Err(e) => ("get", Err(e)),
                    }
                }
                95..=97 => {
                    if snaps.len() < 3 && self.rng.gen_bool(0.6) {
                        snaps.push((db.snapshot(), model.clone()));
                        ("snapshot", Ok(()))
                    } else if !snaps.is_empty() {
                        let i = self.rng.gen_range(0..snaps.len());
                        let (snap, m) = snaps.swap_remove(i);
                        let mut r = Ok(());
                        for _ in 0..8 {
                            let k = self.key();
                            match db.get_snapshot(&k, &snap) {
                                Ok(got) => {
                                    if got.as_ref() != m.get(&k) {
                                        return Err(self.fail(
                                            epoch,
                                            format!(
                                                "snapshot get {} = {:?}, the model at the \
                                                 snapshot says {:?}",
                                                show(&k),
                                                got.as_deref().map(show),
                                                m.get(&k).map(|v| show(v))
                                            ),
                                        ));
                                    }
                                }
                                Err(e) => {
                                    r = Err(e);
                                    break;
                                }
                            }
                        }
                        db.release_snapshot(snap);
                        ("snapshot-read", r)
                    } else {
                        ("snapshot", Ok(()))
                    }
                }
                _ => {
                    // A short range scan against the model.
                    let a = self.key();
                    let want: Vec<_> = model
                        .range(a.clone()..)
                        .take(20)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let r = db
                        .range((Bound::Included(&a[..]), Bound::Unbounded))
                        .and_then(|it| it.take(20).collect::<Result<Vec<_>, Error>>());
                    match r {
                        Ok(got) => {
                            if got != want {
                                return Err(self.fail(
                                    epoch,
                                    format!("live scan from {} differs from the model", show(&a)),
                                ));
                            }
                            ("scan", Ok(()))
                        }
                        Err(e) => ("scan", Err(e)),
                    }
                }
            };
            if let Err(e) = result {
                if fault.killed() {
                    for (s, _) in snaps.drain(..) {
                        db.release_snapshot(s);
                    }
                    self.out.writes += issued.len() as u64;
                    return Ok((issued, lo, phase.to_string()));
                }
                return Err(self.fail(
                    epoch,
                    format!(
                        "unexpected error in {phase} without an injected fault: {e}\n{}",
                        fault.describe()
                    ),
                ));
            }
            if fault.killed() {
                return Err(self.fail(
                    epoch,
                    format!(
                        "{phase} returned Ok although the process was killed at `{}` \
                         (an I/O error was swallowed)",
                        self.vfs.last_mutation()
                    ),
                ));
            }
            if armed_now {
                fault.set_kill_at(None);
                misses += 1;
                if misses > 6 {
                    // Fall back to a random kill point.
                    let at = fault.mutation_count() + self.rng.gen_range(1..=200);
                    fault.set_kill_at(Some(at));
                    target = None;
                }
            }
        }
        // No kill point was reached: kill between operations.
        self.vfs.clear_trace();
        fault.kill_now();
        for (s, _) in snaps.drain(..) {
            db.release_snapshot(s);
        }
        self.out.writes += issued.len() as u64;
        Ok((issued, lo, "between-ops".to_string()))
    }
}

/// Runs one seed for `crash_points` crash points.
pub fn run_seed(seed: u64, crash_points: usize) -> Result<Outcome, String> {
    Run::new(seed).run(crash_points)
}
