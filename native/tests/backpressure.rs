//! Smooth backpressure: once L0 holds `l0_slowdown_trigger` runs, every write group is held
//! back (counted in `Stats::write_slowdowns`) until compaction catches up; below the trigger
//! no write is.

use cairn::{Db, MemVfs, Options, WriteOptions};

/// L0 runs of the database (level-0 tables grouped by run).
fn l0_runs(db: &Db<MemVfs>) -> usize {
    let mut runs: Vec<u64> = db
        .tables()
        .iter()
        .filter(|t| t.level == 0)
        .map(|t| t.run)
        .collect();
    runs.dedup();
    runs.len()
}

#[test]
fn writes_are_slowed_down_once_l0_reaches_the_slowdown_trigger() {
    // Inline background work (no threads): `flush()` writes a run and runs no compaction, so
    // L0 grows by one run per flush until a write's own background step merges it.
    let opts = Options::default()
        .background_threads(0)
        .l0_compaction_trigger(3)
        .l0_slowdown_trigger(3)
        .l0_stop_trigger(10)
        .l0_max_space_percent(0);
    let db = Db::open_vfs(MemVfs::new(), opts).expect("open");
    let mut slowdowns = Vec::new();
    for i in 0..3u32 {
        db.put_with(format!("k{i}"), "v", WriteOptions::NO_SYNC)
            .expect("put");
        db.flush().expect("flush");
        slowdowns.push((l0_runs(&db), db.stats().write_slowdowns));
    }
    // Below the trigger no write was held back; the flushes built 3 runs.
    assert_eq!(slowdowns, [(1, 0), (2, 0), (3, 0)]);
    // At the trigger the next write is slowed down (and, inline, runs the compaction).
    db.put_with("after", "v", WriteOptions::NO_SYNC)
        .expect("put");
    assert_eq!(db.stats().write_slowdowns, 1, "{}", db.stats());
    assert!(l0_runs(&db) < 3, "the write's background step merged L0");
    // Caught up: the next write goes through undelayed.
    db.put_with("later", "v", WriteOptions::NO_SYNC)
        .expect("put");
    assert_eq!(db.stats().write_slowdowns, 1);
    for k in ["k0", "k1", "k2", "after", "later"] {
        assert!(db.contains_key(k).expect("get"), "{k}");
    }
}
