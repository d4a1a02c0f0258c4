//! A deterministic compaction simulation: one thread, the core step API and a `MemVfs`.
//! Writes N keys in a scrambled order (then overwrites some), emulating a background thread
//! by running steps between writes, and checks the level invariants throughout and after the
//! tree settles: no overlaps at L>=1, L0 runs bounded, levels within their targets, levels
//! above the base level empty, every key readable.

use cairn_core::compaction::{self, level_targets};
use cairn_core::version::Version;
use cairn_core::{Db, Options, WriteOptions, WritePressure};
use cairn_vfs::MemVfs;

fn opts() -> Options {
    Options::default()
        .write_buffer_size(64 << 10)
        .target_table_size(32 << 10)
        .base_level_size(128 << 10)
        .level_size_multiplier(10)
        .block_cache_size(1 << 20)
}

/// A bijection on `0..n` (a bijection on the next power of two, walked until it lands in
/// range), used to write keys in a scrambled but deterministic order.
fn scramble(i: u64, n: u64) -> u64 {
    let mut x = i;
    loop {
        // Both steps are bijections on k-bit values.
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (n.next_power_of_two() - 1);
        x ^= x >> 7;
        if x < n {
            return x;
        }
    }
}

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.to_be_bytes());
    k[8..].copy_from_slice(&(i.wrapping_mul(31)).to_le_bytes());
    k
}

fn value(i: u64, round: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(100);
    let mut x = i ^ (round << 40) ^ 0xDEAD_BEEF;
    while v.len() < 100 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(100);
    v
}

/// Structural invariants that must hold at every point.
fn check_structure(v: &Version) {
    for w in v.l0.windows(2) {
        assert!(w[0].id > w[1].id, "L0 runs out of order");
    }
    for run in &v.l0 {
        for w in run.tables.windows(2) {
            assert!(w[0].largest_user_key() < w[1].smallest_user_key());
        }
    }
    for (i, level) in v.levels.iter().enumerate() {
        for w in level.windows(2) {
            assert!(
                w[0].largest_user_key() < w[1].smallest_user_key(),
                "level {} overlaps",
                i + 1
            );
        }
    }
}

/// Invariants of a settled tree (no background work left).
fn check_settled(v: &Version, o: &Options) {
    check_structure(v);
    assert!(
        v.l0.len() < o.l0_compaction_trigger,
        "L0 runs {}",
        v.l0.len()
    );
    let t = level_targets(v, o);
    let last = v.num_levels() - 1;
    for level in 1..last {
        let size = v.level_size(level);
        if level < t.base_level {
            assert_eq!(size, 0, "level {level} above the base level holds data");
        } else {
            // Settled means every score is below 1.
            assert!(
                size <= t.target(level),
                "level {level}: {size} bytes over target {}",
                t.target(level)
            );
        }
    }
    // Dynamic sizing: everything above the last level is at most ~1/(m-1) of it, plus L0.
    let upper: u64 = (1..last).map(|l| v.level_size(l)).sum();
    let bottom = v.level_size(last);
    assert!(
        upper as f64 <= bottom as f64 / (o.level_size_multiplier - 1) as f64 + 1.0,
        "upper levels {upper} vs last {bottom}"
    );
}

fn simulate(n: u64, overwrite: u64) {
    let o = opts();
    let vfs = MemVfs::new();
    let mut db = Db::open(vfs.clone(), o.clone()).expect("open");
    let mut max_runs = 0;
    let mut stops = 0u64;
    let total = n + overwrite;
    for op in 0..total {
        let (i, round) = if op < n {
            (scramble(op, n), 0)
        } else {
            (scramble(op.wrapping_mul(7919), n), 1)
        };
        db.put(&key(i), &value(i, round), WriteOptions::NO_SYNC)
            .expect("put");
        // The "background thread": flushes at once, one compaction step every few writes,
        // and whatever backpressure asks for.
        if db.immutable_count() > 0 || op % 64 == 0 {
            db.step().expect("step");
        }
        loop {
            match db.write_pressure() {
                WritePressure::None => break,
                WritePressure::Slowdown(_) => {
                    db.step().expect("step");
                    break;
                }
                WritePressure::Stop => {
                    stops += 1;
                    if !db.step().expect("step") {
                        break;
                    }
                }
            }
        }
        max_runs = max_runs.max(db.current_version().l0.len());
        if op % 5_000 == 0 {
            check_structure(&db.current_version());
        }
    }
    db.flush().expect("flush");
    db.run_all_background_work().expect("settle");
    let v = db.current_version();
    check_settled(&v, &o);
    assert!(
        max_runs < o.l0_stop_trigger,
        "L0 reached {max_runs} runs (stop trigger {})",
        o.l0_stop_trigger
    );
    assert_eq!(stops, 0, "writes were stopped");
    let stats = db.stats();
    println!("{stats}");
    assert!(stats.compactions > 0);
    assert!(
        stats.space_amplification() < 1.35,
        "space amplification {}",
        stats.space_amplification()
    );
    assert_eq!(compaction::pick(&v, &o, &[]).map(|p| p.reason), None);
    // Every key readable, with its latest value.
    let overwritten: std::collections::HashSet<u64> = (n..total)
        .map(|op| scramble(op.wrapping_mul(7919), n))
        .collect();
    for i in (0..n).step_by(97) {
        let got = db.get(&key(i)).expect("get").expect("present");
        let want_round = u64::from(overwritten.contains(&i));
        assert_eq!(got, value(i, want_round), "key {i}");
    }
    // And after reopening.
    drop(db);
    let db = Db::open(vfs, o.clone()).expect("reopen");
    check_structure(&db.current_version());
    assert_eq!(
        db.range((std::ops::Bound::Unbounded, std::ops::Bound::Unbounded))
            .expect("iter")
            .count() as u64,
        n
    );
}

#[test]
fn compaction_sim_50k_keys_keeps_level_invariants() {
    simulate(50_000, 10_000);
}

#[test]
#[ignore = "about a minute in debug builds; scripts/soak.sh runs it (release, --ignored)"]
fn compaction_sim_1m_keys_keeps_level_invariants() {
    simulate(1_000_000, 200_000);
}
