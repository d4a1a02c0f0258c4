//! Crash points over fixed seeds: kill at a random mutation (inside writes, flushes,
//! compactions, manifest rewrites and recovery itself), crash in a random mode, reopen and
//! check the recovered state against the model (see `cairn_tests::oracle`). About 5% of the
//! operations are batches holding a range delete or prefix delete, with kill points armed
//! inside them; coverage requires kills inside such writes and in flushes and compactions of a
//! database holding range tombstones.
//!
//! 4 tests × 5 seeds × 100 crash points = 2,000 crash points per run, plus the recovery
//! kills (double crashes) on top. `CAIRN_SEED=<seed>` replays one seed in every test (and
//! `replay` runs just it); `CAIRN_CRASH_POINTS=<n>` changes the crash points per seed.

use cairn_tests::oracle::{crash_points_from_env, run_seed, seeds_from_env, Outcome};

fn run(seeds: &[u64], points: usize) -> Outcome {
    let mut total = Outcome::default();
    for seed in seeds_from_env(seeds) {
        match run_seed(seed, crash_points_from_env(points)) {
            Ok(o) => total.merge(&o),
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!(
        "crash points {}, recovery kills {}, manifest-rewrite kills {}, lost unsynced tails {}, \
         writes {}, flushes {}, compactions {}, range deletes {} (kills inside them {}, kills in \
         jobs over range tombstones {})\n  by phase {:?}\n  by file {:?}\n  modes {:?}",
        total.crash_points,
        total.recovery_kills,
        total.manifest_rewrite_kills,
        total.lost_tail,
        total.writes,
        total.flushes,
        total.compactions,
        total.range_deletes,
        total.range_delete_kills,
        total.range_tombstone_job_kills,
        total.by_phase,
        total.by_file,
        total.modes
    );
    total
}

/// The kill points must reach every part of the engine.
fn assert_coverage(o: &Outcome) {
    if std::env::var_os("CAIRN_SEED").is_some() {
        return;
    }
    for phase in [
        "write",
        "sync-write",
        "range-delete",
        "sync-range-delete",
        "txn",
        "flush",
        "compact",
        "recovery",
    ] {
        assert!(
            o.by_phase.get(phase).copied().unwrap_or(0) > 0,
            "no kill in {phase}"
        );
    }
    for file in ["wal", "sst", "manifest", "current", "dir"] {
        assert!(
            o.by_file.get(file).copied().unwrap_or(0) > 0,
            "no kill at a {file} mutation"
        );
    }
    assert!(
        o.manifest_rewrite_kills > 0,
        "no kill during a manifest rewrite"
    );
    assert!(o.lost_tail > 0, "no crash ever lost an unsynced write");
    assert!(
        o.range_tombstone_job_kills > 0,
        "no kill in a flush or compaction over range tombstones"
    );
}

#[test]
fn crash_points_1() {
    assert_coverage(&run(&[1, 2, 3, 4, 5], 100));
}

#[test]
fn crash_points_2() {
    assert_coverage(&run(&[6, 7, 8, 9, 10], 100));
}

#[test]
fn crash_points_3() {
    assert_coverage(&run(&[11, 12, 13, 14, 15], 100));
}

#[test]
fn crash_points_4() {
    assert_coverage(&run(&[16, 17, 18, 19, 20], 100));
}

/// Seeds that found bugs (see the commit log): a WAL whose header never became durable made
/// the next-but-one open fail.
#[test]
fn regressions() {
    run(&[2, 0x60de_b6f7_e3ae_983f], 30);
}

/// `CAIRN_SEED=<seed> cargo test -p cairn-tests --test crash_oracle replay -- --nocapture`
/// (`CAIRN_VERBOSE=1` prints every crash).
#[test]
fn replay() {
    run(&[0xC0FFEE], 10);
}
