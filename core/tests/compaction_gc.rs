//! Garbage collection by compaction: tombstones and overwritten versions go away when nothing
//! needs them, and never earlier; deleted keys never come back, also when flushes and
//! compactions run at the same time.

use cairn_core::db::{Db, JobOutput};
use cairn_core::{Options, WriteOptions};
use cairn_vfs::MemVfs;
use std::ops::Bound;

fn opts() -> Options {
    Options::default()
        .write_buffer_size(32 << 10)
        .target_table_size(8 << 10)
        .base_level_size(32 << 10)
        .level_size_multiplier(4)
        .l0_compaction_trigger(2)
        .block_size(1024)
}

fn k(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn v(i: u32, round: u32) -> Vec<u8> {
    format!("value-{i}-{round}-{}", "x".repeat(40)).into_bytes()
}

fn count(db: &Db<MemVfs>) -> usize {
    db.range((Bound::Unbounded, Bound::Unbounded))
        .expect("iter")
        .inspect(|r| assert!(r.is_ok(), "iteration failed"))
        .count()
}

fn last_level_tombstones(db: &Db<MemVfs>) -> u64 {
    let v = db.current_version();
    v.levels
        .last()
        .map_or(0, |l| l.iter().map(|t| t.tombstones).sum())
}

fn all_tombstones(db: &Db<MemVfs>) -> u64 {
    db.current_version()
        .all_tables()
        .map(|(_, t)| t.tombstones)
        .sum()
}

#[test]
fn compaction_drops_tombstones_and_deleted_keys_never_return() {
    let vfs = MemVfs::new();
    let mut db = Db::open(vfs.clone(), opts()).expect("open");
    let n = 4_000;
    for i in 0..n {
        db.put(&k(i), &v(i, 0), WriteOptions::NO_SYNC).expect("put");
        if i % 500 == 0 {
            db.run_all_background_work().expect("bg");
        }
    }
    db.flush().expect("flush");
    db.run_all_background_work().expect("bg");
    for i in (0..n).step_by(2) {
        db.delete(&k(i), WriteOptions::NO_SYNC).expect("delete");
        if i % 700 == 0 {
            db.step().expect("step");
        }
    }
    db.flush().expect("flush");
    assert!(all_tombstones(&db) > 0);
    // Background compactions alone: deleted keys stay deleted at every step.
    while db.step().expect("step") {
        for i in (0..n).step_by(97) {
            let want = (i % 2 == 1).then(|| v(i, 0));
            assert_eq!(db.get(&k(i)).expect("get"), want, "key {i}");
        }
    }
    db.compact_range(None, None).expect("compact");
    assert_eq!(count(&db), (n / 2) as usize);
    for i in 0..n {
        let want = (i % 2 == 1).then(|| v(i, 0));
        assert_eq!(db.get(&k(i)).expect("get"), want, "key {i}");
    }
    let ver = db.current_version();
    assert!(ver.l0.is_empty());
    assert!(ver.levels[..ver.levels.len() - 1]
        .iter()
        .all(|l| l.is_empty()));
    assert_eq!(
        last_level_tombstones(&db),
        0,
        "tombstones left after full compaction"
    );
    // Overwritten versions are gone too: one entry per live key.
    let entries: u64 = ver.all_tables().map(|(_, t)| t.entries).sum();
    assert_eq!(entries, u64::from(n / 2));
    // And after reopening.
    drop(db);
    let db = Db::open(vfs, opts()).expect("reopen");
    assert_eq!(count(&db), (n / 2) as usize);
    assert_eq!(db.get(&k(0)).expect("get"), None);
}

#[test]
fn compaction_keeps_what_a_snapshot_reads() {
    let mut db = Db::open(MemVfs::new(), opts()).expect("open");
    let n = 3_000;
    for i in 0..n {
        db.put(&k(i), &v(i, 0), WriteOptions::NO_SYNC).expect("put");
    }
    db.flush().expect("flush");
    db.run_all_background_work().expect("bg");
    let snap = db.snapshot();
    for i in 0..n {
        if i % 3 == 0 {
            db.delete(&k(i), WriteOptions::NO_SYNC).expect("delete");
        } else {
            db.put(&k(i), &v(i, 1), WriteOptions::NO_SYNC).expect("put");
        }
    }
    db.flush().expect("flush");
    db.run_all_background_work().expect("bg");
    db.compact_range(None, None).expect("compact");
    // The snapshot still reads every old version, the present the new ones.
    for i in 0..n {
        assert_eq!(db.get_snapshot(&k(i), &snap).expect("get"), Some(v(i, 0)));
        let now = (i % 3 != 0).then(|| v(i, 1));
        assert_eq!(db.get(&k(i)).expect("get"), now);
    }
    let at_snap = db
        .iter_at(
            (Bound::Unbounded, Bound::Unbounded),
            None,
            snap.sequence(),
            cairn_core::Direction::Forward,
        )
        .expect("iter")
        .count();
    assert_eq!(at_snap, n as usize);
    // The tombstones the snapshot needs survived the full compaction...
    assert!(all_tombstones(&db) > 0);
    // ...and go once it is released.
    db.release_snapshot(snap);
    db.compact_range(None, None).expect("compact");
    assert_eq!(all_tombstones(&db), 0);
    let entries: u64 = db
        .current_version()
        .all_tables()
        .map(|(_, t)| t.entries)
        .sum();
    assert_eq!(entries, u64::from(n - n.div_ceil(3)));
}

/// A compaction of the oldest L0 runs into the base level runs while new runs are flushed
/// (and, with them, deletes of keys the compaction is rewriting, and a size-tiered merge of
/// the new runs): nothing deleted comes back, before or after each install, and after the
/// tombstones are finally dropped.
#[test]
fn compaction_races_with_flush_and_l0_merge_without_resurrection() {
    let o = opts()
        .l0_compaction_trigger(2)
        .l0_slowdown_trigger(20)
        .l0_stop_trigger(40)
        .background_threads(2);
    let mut db = Db::open(MemVfs::new(), o).expect("open");
    let n = 2_000u32;
    // Two flushed runs holding every key.
    for round in 0..2 {
        for i in 0..n {
            db.put(&k(i), &v(i, round), WriteOptions::NO_SYNC)
                .expect("put");
        }
        db.rotate().expect("rotate");
        while db.immutable_count() > 0 {
            db.step().expect("flush");
        }
    }
    assert!(db.current_version().l0.len() >= 2);
    // Pick the L0 -> base compaction, but do not run it yet.
    let down = db.pick_job().expect("a compaction is due");
    assert!(!down.is_flush());
    // Meanwhile: delete every third key and overwrite others, in several new runs.
    for round in 0..3u32 {
        for i in (0..n).filter(|i| i % 3 == 0) {
            if round == 0 {
                db.delete(&k(i), WriteOptions::NO_SYNC).expect("delete");
            }
        }
        for i in (0..n).filter(|i| i % 3 == 1) {
            db.put(&k(i), &v(i, 10 + round), WriteOptions::NO_SYNC)
                .expect("put");
        }
        db.rotate().expect("rotate");
        while db.immutable_count() > 0 {
            let flush = db.pick_job().expect("flush");
            assert!(flush.is_flush());
            let (t, out) = flush.run();
            db.install(t, out).expect("install flush");
        }
    }
    let check = |db: &Db<MemVfs>, what: &str| {
        for i in 0..n {
            let want = match i % 3 {
                0 => None,
                1 => Some(v(i, 12)),
                _ => Some(v(i, 1)),
            };
            assert_eq!(db.get(&k(i)).expect("get"), want, "{what}: key {i}");
        }
        assert_eq!(count(db), (n - n.div_ceil(3)) as usize, "{what}");
    };
    check(&db, "before installs");
    // The base level is busy, so the new runs are merged among themselves (size-tiered).
    let merge = db.pick_job().expect("an L0 merge");
    assert!(format!("{merge:?}").contains("-> L0"), "{merge:?}");
    let (mt, mout) = merge.run();
    let (dt, dout) = down.run();
    // Install the older job last.
    db.install(mt, mout).expect("install merge");
    check(&db, "after the L0 merge");
    let runs = db.current_version().l0.len();
    db.install(dt, dout).expect("install compaction");
    check(&db, "after the L0 -> base compaction");
    assert!(db.current_version().l0.len() < runs);
    if let Some(j) = db.pick_job() {
        let (t, out) = j.run();
        if let Ok(JobOutput::Compaction(c)) = &out {
            assert!(!c.edit.added.is_empty() || !c.edit.removed.is_empty());
        }
        db.install(t, out).expect("install");
    }
    db.run_all_background_work().expect("bg");
    check(&db, "after settling");
    db.compact_range(None, None).expect("compact");
    check(&db, "after full compaction");
    assert_eq!(all_tombstones(&db), 0);
}
