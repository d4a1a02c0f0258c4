//! Injected I/O errors: a failed sync, failing creates, removes and directory syncs poison
//! the database for writes (`Error::Poisoned`), reads keep being served and stay correct, and
//! after a crash + reopen nothing acknowledged is lost. A full disk (`ErrorKind::NoSpace`:
//! one failed write, a disk that stays full for a while, syncs that fail for lack of space)
//! poisons it only until space is back: the next write resumes without a reopen
//! (`Db::resume`), every acknowledged write is still there, and so it is after a crash.
//! Read errors are typed errors, never a panic and never a wrong answer.

use cairn_core::db::Db;
use cairn_core::{Error, Options, WriteBatch, WriteOptions};
use cairn_tests::oracle::{
    apply_write, batch_of, matching_prefixes, read_all, write_options, Model, Write,
};
use cairn_vfs::fault::{CrashMode, FaultVfs, OpKind};
use cairn_vfs::{ErrorKind, MemVfs};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

type V = FaultVfs<MemVfs>;

fn opts() -> Options {
    Options::default()
        .write_buffer_size(16 << 10)
        .block_size(512)
        .block_cache_size(0)
        .max_manifest_size(1024)
        .target_table_size(8 << 10)
        .base_level_size(32 << 10)
        .level_size_multiplier(4)
        .l0_compaction_trigger(2)
        .num_levels(4)
        .background_threads(0)
}

fn keys() -> Vec<Vec<u8>> {
    (0..200)
        .map(|i| format!("key{i:04}").into_bytes())
        .collect()
}

/// Drives random writes and background work until an operation fails; returns the model of
/// acknowledged writes, the issued writes and how many must survive a crash.
struct Driver {
    rng: SmallRng,
    keys: Vec<Vec<u8>>,
    model: Model,
    issued: Vec<Write>,
    lo: usize,
    n: u64,
    /// Whether the last op was a write, and a synced one.
    last: (bool, bool),
}

impl Driver {
    fn new(seed: u64) -> Self {
        Driver {
            rng: SmallRng::seed_from_u64(seed),
            keys: keys(),
            model: Model::new(),
            issued: Vec::new(),
            lo: 0,
            n: 0,
            last: (false, false),
        }
    }

    /// One random operation; `Err` is the engine's error.
    fn op(&mut self, db: &mut Db<V>) -> Result<&'static str, Error> {
        let dice = self.rng.gen_range(0..100);
        self.last = (dice < 75, false);
        if dice < 75 {
            let mut w: Write = Vec::new();
            for _ in 0..self.rng.gen_range(1..=4) {
                let k = self.keys[self.rng.gen_range(0..self.keys.len())].clone();
                if self.rng.gen_bool(0.8) {
                    self.n += 1;
                    let mut v = format!("v{}-", self.n).into_bytes();
                    v.resize(v.len() + self.rng.gen_range(0..200), b'x');
                    w.push((k, Some(v)));
                } else {
                    w.push((k, None));
                }
            }
            let sync = self.rng.gen_bool(0.3);
            self.last.1 = sync;
            let b = batch_of(&w);
            self.issued.push(w);
            db.write(&b, write_options(sync))?;
            apply_write(&mut self.model, self.issued.last().expect("pushed"));
            if sync {
                self.lo = self.issued.len();
            }
            Ok("write")
        } else if dice < 93 {
            db.step()?;
            Ok("step")
        } else if dice < 97 {
            db.flush()?;
            self.lo = self.issued.len();
            Ok("flush")
        } else {
            db.compact_range(None, None)?;
            self.lo = self.issued.len();
            Ok("compact")
        }
    }

    /// The last op was a write that failed before it reached the memtable (its WAL append, or
    /// the rotation before it): it is not in the database, so it leaves the history.
    fn forget_failed_write(&mut self, op_was_write: bool) {
        if op_was_write {
            self.issued.pop();
        }
    }

    /// The last op was a write that failed at a sync: it reached the memtable (its own
    /// sync failed), and then the resume made it durable and visible, or it did not (the sync
    /// of the rotation before it failed). After the resume, reads show exactly one of the two.
    fn settle_failed_write(&mut self, db: &Db<V>, what: &str) {
        let w = self.issued.last().expect("the failed write").clone();
        let got = read_all(db, &self.keys).unwrap_or_else(|e| panic!("{what}: reads fail: {e}"));
        let mut with = self.model.clone();
        apply_write(&mut with, &w);
        if got == with {
            self.model = with;
        } else {
            assert!(got == self.model, "{what}: the failed write is half there");
            self.issued.pop();
        }
    }

    fn check_reads(&self, db: &Db<V>, what: &str) {
        let got = read_all(db, &self.keys).unwrap_or_else(|e| panic!("{what}: reads fail: {e}"));
        assert!(
            got == self.model,
            "{what}: reads after the failure differ from the acknowledged writes"
        );
    }

    fn check_recovered(&self, db: &Db<V>, what: &str) {
        let got = read_all(db, &self.keys).unwrap_or_else(|e| panic!("{what}: {e}"));
        let m = matching_prefixes(&Model::new(), &self.issued, &got);
        assert!(
            m.iter().any(|&l| l >= self.lo),
            "{what}: recovered state is not a prefix including the {} durable writes \
             (matching prefixes {m:?} of {})",
            self.lo,
            self.issued.len()
        );
    }
}

/// Arms one injected failure, runs until it fires, then checks poison, reads and recovery.
fn inject_and_check(seed: u64, op: OpKind, nth: u64, kind: ErrorKind) -> bool {
    let what = format!("seed {seed}: {op:?} #{nth} fails with {kind:?}");
    let vfs = FaultVfs::new(MemVfs::new());
    let mut db = Db::open(vfs.clone(), opts()).expect("open");
    let mut d = Driver::new(seed);
    // Warm up without faults so that tables, compactions and manifest rewrites exist.
    for _ in 0..300 {
        d.op(&mut db).expect("warm-up");
    }
    vfs.fail_nth(op, nth, kind);
    let mut fired = false;
    for _ in 0..3000 {
        match d.op(&mut db) {
            Ok(_) => {}
            Err(e) => {
                assert!(
                    matches!(e, Error::Io(_) | Error::Poisoned(_)),
                    "{what}: untyped error {e:?}"
                );
                fired = true;
                break;
            }
        }
    }
    if !fired {
        assert_eq!(vfs.stats().injected, 0, "{what}: injected error swallowed");
        return false;
    }
    // Poisoned for writes, typed.
    assert!(db.is_poisoned(), "{what}: not poisoned");
    match db.put(b"after", b"failure", WriteOptions::SYNC) {
        Err(Error::Poisoned(_)) => {}
        other => panic!("{what}: write after failure gave {other:?}"),
    }
    match db.flush() {
        Err(Error::Poisoned(_)) => {}
        other => panic!("{what}: flush after failure gave {other:?}"),
    }
    // Reads still served, and they show exactly the acknowledged writes.
    d.check_reads(&db, &what);
    drop(db);
    for mode in [
        CrashMode::DropUnsyncedAndDirOps,
        CrashMode::TornPrefixWithGarbage { seed },
    ] {
        vfs.crash(mode);
        let db = Db::open(vfs.clone(), opts()).unwrap_or_else(|e| panic!("{what}: reopen {e}"));
        d.check_recovered(&db, &what);
        assert!(!db.is_poisoned());
    }
    true
}

#[test]
fn failed_wal_sync_poisons_and_loses_nothing_acknowledged() {
    let mut fired = 0;
    for seed in 0..12 {
        for nth in [1, 2, 5] {
            fired += inject_and_check(seed, OpKind::Sync, nth, ErrorKind::Io) as u32;
        }
    }
    assert!(fired >= 30, "only {fired} injections fired");
}

/// Runs ops until one fails with a full disk; returns false when none did.
fn run_until_no_space(db: &mut Db<V>, d: &mut Driver, what: &str) -> bool {
    for _ in 0..3000 {
        match d.op(db) {
            Ok(_) => {}
            Err(Error::Io(e)) if e.kind() == ErrorKind::NoSpace => return true,
            Err(e) => panic!("{what}: {e:?}"),
        }
    }
    false
}

/// After a full disk: poisoned but resumable, reads exact; then (space back) `ops` more ops
/// succeed without a reopen, reads are exact, and a crash + reopen keeps every acknowledged
/// write.
fn check_resumes(vfs: &V, mut db: Db<V>, d: &mut Driver, what: &str, seed: u64, sync: bool) {
    assert!(db.is_poisoned() && db.is_resumable(), "{what}");
    d.check_reads(&db, what);
    let resumes = db.stats().resumes;
    if sync || seed.is_multiple_of(2) {
        // Resume explicitly (else the next op does): to see what became of the write whose
        // sync failed, and to check that a resume makes every acknowledged write durable,
        // unsynced ones included (it flushes them).
        db.resume()
            .unwrap_or_else(|e| panic!("{what}: resume: {e:?}"));
        assert!(!db.is_poisoned(), "{what}");
        if sync {
            d.settle_failed_write(&db, what);
        }
        d.lo = d.issued.len();
    }
    // Even seeds crash right after the resume: it alone must have made every acknowledged
    // write durable. Odd seeds go on writing first.
    if !seed.is_multiple_of(2) {
        for i in 0..300 {
            d.op(&mut db)
                .unwrap_or_else(|e| panic!("{what}: op {i} after space came back: {e:?}"));
        }
    }
    assert!(!db.is_poisoned(), "{what}");
    assert_eq!(db.stats().resumes, resumes + 1, "{what}: resumed once");
    d.check_reads(&db, &format!("{what}, resumed"));
    drop(db);
    for mode in [
        CrashMode::DropUnsyncedAndDirOps,
        CrashMode::TornPrefixWithGarbage { seed },
    ] {
        vfs.crash(mode);
        let db = Db::open(vfs.clone(), opts()).unwrap_or_else(|e| panic!("{what}: reopen {e}"));
        d.check_recovered(&db, &format!("{what}, crashed after resuming"));
    }
}

/// One write fails for lack of space (a WAL append, a table, a manifest edit, a new WAL):
/// the database resumes at the next op, nothing acknowledged is lost.
#[test]
fn full_disk_on_one_write_resumes_without_reopen() {
    let mut fired = 0;
    for seed in 0..12 {
        for nth in [1, 7, 40, 150] {
            let what = format!("seed {seed}: write #{nth} fails with NoSpace");
            let vfs = FaultVfs::new(MemVfs::new());
            let mut db = Db::open(vfs.clone(), opts()).expect("open");
            let mut d = Driver::new(seed);
            for _ in 0..300 {
                d.op(&mut db).expect("warm-up");
            }
            vfs.fail_nth(OpKind::Write, nth, ErrorKind::NoSpace);
            if !run_until_no_space(&mut db, &mut d, &what) {
                continue;
            }
            fired += 1;
            // A failed write never reached the memtable.
            let (was_write, _) = d.last;
            d.forget_failed_write(was_write);
            check_resumes(&vfs, db, &mut d, &what, seed, false);
        }
    }
    assert!(fired >= 40, "only {fired} injections fired");
}

/// The disk stays full for a while: every write and flush fails (with `NoSpace`, typed),
/// reads go on; once space is freed the next op resumes.
#[test]
fn a_disk_full_for_a_while_resumes_once_space_is_freed() {
    for seed in 0..8 {
        let what = format!("seed {seed}: disk full");
        let vfs = FaultVfs::new(MemVfs::new());
        let mut db = Db::open(vfs.clone(), opts()).expect("open");
        let mut d = Driver::new(seed);
        for _ in 0..200 + 40 * seed {
            d.op(&mut db).expect("warm-up");
        }
        vfs.set_disk_full(true);
        assert!(
            run_until_no_space(&mut db, &mut d, &what),
            "{what}: nothing failed"
        );
        let (was_write, _) = d.last;
        d.forget_failed_write(was_write);
        // While the disk is full, every retry fails the same way and changes nothing.
        for _ in 0..20 {
            let before = d.issued.len();
            match d.op(&mut db) {
                Err(Error::Io(e)) if e.kind() == ErrorKind::NoSpace => {
                    let (was_write, _) = d.last;
                    d.forget_failed_write(was_write && d.issued.len() > before);
                }
                Ok("step") => {} // a poisoned database runs no background work
                other => panic!("{what}: while full: {other:?}"),
            }
        }
        d.check_reads(&db, &what);
        vfs.set_disk_full(false);
        check_resumes(&vfs, db, &mut d, &what, seed, false);
    }
}

/// Syncs fail for lack of space (a disk whose delayed allocation ran out): every write
/// acknowledged before is kept, and the failed write is either wholly there or not at all.
#[test]
fn syncs_failing_for_lack_of_space_resume_and_settle_the_failed_write() {
    for seed in 0..8 {
        let what = format!("seed {seed}: syncs fail with NoSpace");
        let vfs = FaultVfs::new(MemVfs::new());
        let mut db = Db::open(vfs.clone(), opts()).expect("open");
        let mut d = Driver::new(seed);
        for _ in 0..200 {
            d.op(&mut db).expect("warm-up");
        }
        vfs.fail_all_syncs(Some(ErrorKind::NoSpace));
        assert!(run_until_no_space(&mut db, &mut d, &what), "{what}");
        let (was_write, synced) = d.last;
        if was_write && !synced {
            // An unsynced write fails at a sync only when it rotated the memtable first and
            // the old WAL's sync failed: it never reached the memtable.
            d.forget_failed_write(true);
        }
        vfs.fail_all_syncs(None);
        check_resumes(&vfs, db, &mut d, &what, seed, was_write && synced);
    }
}

#[test]
fn failed_create_remove_truncate_and_dir_sync_poison() {
    let mut fired = 0;
    for seed in 0..6 {
        for op in [OpKind::Create, OpKind::Remove, OpKind::SyncDir] {
            for nth in [1, 3] {
                fired += inject_and_check(seed, op, nth, ErrorKind::Io) as u32;
            }
        }
    }
    assert!(fired >= 24, "only {fired} injections fired");
}

#[test]
fn every_sync_failing_poisons_background_work_too() {
    for seed in 0..4 {
        let vfs = FaultVfs::new(MemVfs::new());
        let mut db = Db::open(vfs.clone(), opts()).expect("open");
        let mut d = Driver::new(seed);
        for _ in 0..200 {
            d.op(&mut db).expect("warm-up");
        }
        vfs.fail_all_syncs(Some(ErrorKind::Io));
        // Unsynced writes still succeed until something needs a sync.
        let mut poisoned = false;
        for _ in 0..2000 {
            if let Err(e) = d.op(&mut db) {
                assert!(matches!(e, Error::Io(_)), "seed {seed}: {e:?}");
                poisoned = true;
                break;
            }
        }
        assert!(poisoned && db.is_poisoned(), "seed {seed}");
        assert!(matches!(
            db.write(&WriteBatch::new(), WriteOptions::NO_SYNC),
            Err(Error::Poisoned(_))
        ));
        assert!(!db.step().expect("step on a poisoned db is a no-op"));
        d.check_reads(&db, "all syncs failing");
        drop(db);
        vfs.crash(CrashMode::DropUnsyncedAndDirOps);
        let db = Db::open(vfs.clone(), opts()).expect("reopen");
        d.check_recovered(&db, "all syncs failing");
    }
}

/// Builds a database whose data lives in tables (block cache off, so reads hit the VFS).
fn build_tables(seed: u64) -> (V, Driver) {
    let vfs = FaultVfs::new(MemVfs::new());
    let mut db = Db::open(vfs.clone(), opts()).expect("open");
    let mut d = Driver::new(seed);
    for _ in 0..600 {
        d.op(&mut db).expect("build");
    }
    db.flush().expect("flush");
    d.lo = d.issued.len();
    drop(db);
    (vfs, d)
}

#[test]
fn read_errors_are_typed_and_never_wrong() {
    let mut injected = 0;
    for seed in 0..3 {
        let (vfs, d) = build_tables(seed);
        let db = Db::open(vfs.clone(), opts()).expect("open");
        for nth in 1..=60u64 {
            vfs.fail_nth(OpKind::Read, nth, ErrorKind::Io);
            // Gets: correct or a typed I/O error.
            for k in d.keys.iter().step_by(3) {
                match db.get(k) {
                    Ok(v) => assert_eq!(v.as_ref(), d.model.get(k), "seed {seed} read #{nth}"),
                    Err(Error::Io(e)) => assert_eq!(e.kind(), ErrorKind::Io),
                    Err(e) => panic!("seed {seed} read #{nth}: untyped {e:?}"),
                }
            }
            // A scan: a prefix of the right answer, then possibly a typed error.
            vfs.fail_nth(OpKind::Read, nth, ErrorKind::Io);
            let mut want = d.model.iter();
            match db.range((std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)) {
                Ok(it) => {
                    for r in it {
                        match r {
                            Ok((k, v)) => {
                                let (wk, wv) = want.next().expect("scan returned extra entries");
                                assert_eq!((&k, &v), (wk, wv), "seed {seed} scan read #{nth}");
                            }
                            Err(Error::Io(_)) => break,
                            Err(e) => panic!("seed {seed} scan: untyped {e:?}"),
                        }
                    }
                }
                Err(Error::Io(_)) => {}
                Err(e) => panic!("seed {seed} scan: untyped {e:?}"),
            }
            vfs.clear_faults();
            injected = vfs.stats().injected;
            // Without faults everything is right again (no damaged cache entry).
            d.check_reads(&db, &format!("seed {seed} after read error #{nth}"));
        }
        // Read errors during recovery: a typed error, and the next open works.
        drop(db);
        for nth in 1..=40u64 {
            vfs.fail_nth(OpKind::Read, nth, ErrorKind::Io);
            match Db::open(vfs.clone(), opts()) {
                Ok(db) => {
                    vfs.clear_faults();
                    d.check_reads(&db, "open with a read error");
                }
                Err(Error::Io(_)) => {}
                Err(e) => panic!("seed {seed}: open with read error #{nth}: {e:?}"),
            }
            vfs.clear_faults();
            let db = Db::open(vfs.clone(), opts()).expect("clean reopen");
            d.check_reads(&db, "clean reopen after a failed one");
        }
    }
    assert!(injected > 0);
}

/// Regression: a poisoned engine reported pending work that `pick_job` would never hand
/// out, so the native wrapper's inline-background loop (`background_threads: 0`, always on
/// WASI) spun forever after a failed write with a frozen memtable waiting for flush.
#[test]
fn poisoned_engine_reports_no_pending_work() {
    let vfs = FaultVfs::new(MemVfs::new());
    let mut db = Db::open(vfs.clone(), opts()).expect("open");
    let mut i = 0u32;
    while db.immutable_count() == 0 {
        db.put(
            format!("k{i:06}").as_bytes(),
            &[7u8; 100],
            WriteOptions::NO_SYNC,
        )
        .expect("put");
        i += 1;
    }
    vfs.fail_nth(OpKind::Sync, 1, ErrorKind::Io);
    assert!(db.put(b"x", b"y", WriteOptions::SYNC).is_err());
    assert!(db.is_poisoned());
    assert!(
        !db.has_pending_work() || db.pick_job().is_some(),
        "has_pending_work() is true but pick_job() gives nothing: an inline loop never ends"
    );
}

/// A crash at any point of a resume (after short writes to a full disk left partial records
/// in the WAL): the database opens, with every write acknowledged before the disk filled.
#[test]
fn a_crash_during_a_resume_loses_nothing_acknowledged() {
    let mut crashed = 0;
    for seed in 0..6 {
        for kill_after in 1..12u64 {
            let what = format!("seed {seed}: killed at mutation {kill_after} of the resume");
            let vfs = FaultVfs::new(MemVfs::new());
            let mut db = Db::open(vfs.clone(), opts()).expect("open");
            let mut d = Driver::new(seed);
            for _ in 0..250 {
                d.op(&mut db).expect("warm-up");
            }
            vfs.set_disk_full(true);
            assert!(run_until_no_space(&mut db, &mut d, &what), "{what}");
            let (was_write, _) = d.last;
            d.forget_failed_write(was_write);
            vfs.set_disk_full(false);
            vfs.set_kill_at(Some(vfs.mutation_count() + kill_after));
            match db.resume() {
                Ok(()) => {
                    // The resume needed fewer mutations: it made everything durable.
                    vfs.set_kill_at(None);
                    d.lo = d.issued.len();
                }
                Err(_) => crashed += 1,
            }
            drop(db);
            vfs.crash(CrashMode::TornPrefixWithGarbage { seed: kill_after });
            let db = Db::open(vfs.clone(), opts()).unwrap_or_else(|e| panic!("{what}: reopen {e}"));
            d.check_recovered(&db, &what);
        }
    }
    assert!(crashed >= 30, "only {crashed} resumes were killed");
}
