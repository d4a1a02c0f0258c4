//! Model test: the engine against a `BTreeMap`, with flushes and compactions interleaved
//! (background ones through `step()`, forced ones through `compact_range`), reopens at random
//! points, and snapshots held across compactions (each modelled as a cloned map). Tiny
//! memtables, tables and levels make many levels and compactions happen. Zero divergence is
//! allowed over every operation of every seed.

use cairn_core::db::Db;
use cairn_core::{Options, Snapshot, WriteOptions};
use cairn_vfs::MemVfs;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::ops::Bound;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn opts(rng: &mut SmallRng) -> Options {
    Options::default()
        .write_buffer_size([32 << 10, 48 << 10, 64 << 10][rng.gen_range(0..3)])
        .target_table_size([4 << 10, 8 << 10, 16 << 10][rng.gen_range(0..3)])
        .base_level_size([16 << 10, 32 << 10][rng.gen_range(0..2)])
        .level_size_multiplier(rng.gen_range(3..=5))
        .l0_compaction_trigger(rng.gen_range(2..=4))
        .l0_slowdown_trigger(6)
        .l0_stop_trigger(12)
        .block_size(1024)
        .block_cache_size(256 << 10)
        .max_manifest_size(64 << 10)
        .background_threads(3)
}

fn key(rng: &mut SmallRng, space: u32) -> Vec<u8> {
    format!("key{:06}", rng.gen_range(0..space)).into_bytes()
}

fn value(rng: &mut SmallRng) -> Vec<u8> {
    let len = rng.gen_range(0..120);
    (0..len).map(|_| rng.gen_range(b'a'..=b'z')).collect()
}

fn check_scan(db: &Db<MemVfs>, model: &Model, seq: u64, lo: &[u8], hi: &[u8], what: &str) {
    let got: Vec<(Vec<u8>, Vec<u8>)> = db
        .iter_at(
            (Bound::Included(lo), Bound::Excluded(hi)),
            None,
            seq,
            cairn_core::Direction::Forward,
        )
        .expect("iter")
        .map(|r| r.expect("entry"))
        .collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = model
        .range::<[u8], _>((Bound::Included(lo), Bound::Excluded(hi)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(got, want, "{what}: scan [{lo:?}, {hi:?}) diverged");
}

struct Held {
    snap: Snapshot,
    model: Model,
}

/// Runs `ops` random operations; returns how many were done.
fn run_seed(seed: u64, ops: u64) -> u64 {
    let mut rng = SmallRng::seed_from_u64(seed);
    let o = opts(&mut rng);
    let space: u32 = [500, 2_000, 5_000][rng.gen_range(0..3)];
    let vfs = MemVfs::new();
    let mut db = Db::open(vfs.clone(), o.clone()).expect("open");
    let mut model = Model::new();
    let mut held: Vec<Held> = Vec::new();
    // A job picked but not yet run: runs "concurrently" with the writes after it.
    let mut in_flight: Vec<cairn_core::db::Job<MemVfs>> = Vec::new();
    let mut compactions_seen = 0u64;
    let mut totals = Totals::default();
    let mut done = 0u64;
    while done < ops {
        done += 1;
        let what = format!("seed {seed} op {done}");
        let r = rng.gen_range(0..1000);
        match r {
            0..=499 => {
                let k = key(&mut rng, space);
                let v = value(&mut rng);
                db.put(&k, &v, WriteOptions::NO_SYNC).expect("put");
                model.insert(k, v);
            }
            500..=649 => {
                let k = key(&mut rng, space);
                db.delete(&k, WriteOptions::NO_SYNC).expect("delete");
                model.remove(&k);
            }
            650..=669 => {
                // A batch of writes with a range of deletes (tombstone runs).
                let start = rng.gen_range(0..space);
                let n = rng.gen_range(1..40);
                let mut b = cairn_core::WriteBatch::new();
                for i in start..(start + n).min(space) {
                    let k = format!("key{i:06}").into_bytes();
                    if rng.gen_bool(0.5) {
                        b.delete(&k);
                        model.remove(&k);
                    } else {
                        let v = value(&mut rng);
                        b.put(&k, &v);
                        model.insert(k, v);
                    }
                }
                db.write(&b, WriteOptions::NO_SYNC).expect("batch");
            }
            670..=829 => {
                let k = key(&mut rng, space);
                assert_eq!(
                    db.get(&k).expect("get"),
                    model.get(&k).cloned(),
                    "{what}: get"
                );
            }
            830..=929 => {
                if !db.step().expect("step") {
                    db.rotate().expect("rotate");
                } else {
                    compactions_seen += 1;
                }
            }
            930..=944 => {
                // Pick a job now, run it after more writes (flush or compaction racing with
                // new flushes and other compactions).
                if in_flight.len() < 3 {
                    if let Some(j) = db.pick_job() {
                        in_flight.push(j);
                    }
                } else {
                    let j = in_flight.remove(rng.gen_range(0..in_flight.len()));
                    let (t, out) = j.run();
                    db.install(t, out).expect("install");
                }
            }
            945..=954 => {
                if !in_flight.is_empty() {
                    let j = in_flight.remove(rng.gen_range(0..in_flight.len()));
                    let (t, out) = j.run();
                    db.install(t, out).expect("install");
                }
            }
            955..=964 => {
                if held.len() < 4 {
                    held.push(Held {
                        snap: db.snapshot(),
                        model: model.clone(),
                    });
                } else {
                    let h = held.remove(rng.gen_range(0..held.len()));
                    db.release_snapshot(h.snap);
                }
            }
            965..=979 => {
                if !held.is_empty() {
                    let i = rng.gen_range(0..held.len());
                    let k = key(&mut rng, space);
                    let h = &held[i];
                    assert_eq!(
                        db.get_snapshot(&k, &h.snap).expect("get"),
                        h.model.get(&k).cloned(),
                        "{what}: snapshot get"
                    );
                    let a = key(&mut rng, space);
                    let mut b = a.clone();
                    b.extend_from_slice(b"~~~~");
                    b[5] = b'9';
                    check_scan(&db, &h.model, h.snap.sequence(), &a, &b, &what);
                }
            }
            980..=989 => {
                let a = key(&mut rng, space);
                let b = key(&mut rng, space);
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                check_scan(&db, &model, db.visible_sequence(), &a, &b, &what);
            }
            990..=994 => {
                // Forced compaction of a random range (or everything); needs no job in flight.
                for j in in_flight.drain(..) {
                    let (t, out) = j.run();
                    db.install(t, out).expect("install");
                }
                if rng.gen_bool(0.3) {
                    db.compact_range(None, None).expect("compact all");
                } else {
                    let a = key(&mut rng, space);
                    let b = key(&mut rng, space);
                    let (a, b) = if a <= b { (a, b) } else { (b, a) };
                    db.compact_range(Some(&a), Some(&b)).expect("compact range");
                }
            }
            _ => {
                // Reopen: drop the jobs in flight (their outputs become garbage) and the
                // snapshots, sometimes closing cleanly, sometimes as a crash.
                in_flight.clear();
                held.clear();
                totals.add(&db);
                if rng.gen_bool(0.5) {
                    db.close().expect("close");
                }
                drop(db);
                db = Db::open(vfs.clone(), o.clone()).expect("reopen");
                check_scan(&db, &model, db.visible_sequence(), b"", b"\xff", &what);
            }
        }
        let v = db.current_version();
        let deepest_levels = v.levels.iter().filter(|l| !l.is_empty()).count();
        totals.max_levels = totals.max_levels.max(deepest_levels);
        totals.max_runs = totals.max_runs.max(v.l0.len());
        // Keep memory bounded like the native background threads would.
        while db.immutable_count() > 2 {
            if !db.step().expect("step") {
                break;
            }
        }
    }
    for j in in_flight.drain(..) {
        let (t, out) = j.run();
        db.install(t, out).expect("install");
    }
    check_scan(&db, &model, db.visible_sequence(), b"", b"\xff", "final");
    for h in &held {
        check_scan(
            &db,
            &h.model,
            h.snap.sequence(),
            b"",
            b"\xff",
            "final snapshot",
        );
    }
    for h in held.drain(..) {
        db.release_snapshot(h.snap);
    }
    db.compact_range(None, None).expect("final compaction");
    check_scan(
        &db,
        &model,
        db.visible_sequence(),
        b"",
        b"\xff",
        "after full compaction",
    );
    let v = db.current_version();
    let last = v.num_levels() - 1;
    assert!(v.l0.is_empty());
    for level in 1..last {
        assert!(v.levels[level - 1].is_empty(), "level {level} not empty");
    }
    for t in &v.levels[last - 1] {
        assert_eq!(t.tombstones, 0, "tombstones left in the last level");
    }
    totals.add(&db);
    assert!(compactions_seen > 0);
    println!(
        "seed {seed}: {done} ops, {} compactions ({} trivial moves, {} L0 merges), \
         up to {} non-empty levels below L0 and {} L0 runs",
        totals.compactions,
        totals.trivial_moves,
        totals.l0_merges,
        totals.max_levels,
        totals.max_runs
    );
    assert!(totals.compactions >= 50, "too few compactions");
    assert!(totals.max_levels >= 2, "too few levels");
    done
}

#[derive(Default)]
struct Totals {
    compactions: u64,
    trivial_moves: u64,
    l0_merges: u64,
    max_levels: usize,
    max_runs: usize,
}

impl Totals {
    fn add(&mut self, db: &Db<MemVfs>) {
        let s = db.stats();
        self.compactions += s.compactions;
        self.trivial_moves += s.trivial_moves;
        self.l0_merges += s.l0_merges;
    }
}

#[test]
fn compaction_model_matches_btreemap() {
    let mut total = 0;
    for seed in 1..=8 {
        total += run_seed(seed, 13_000);
    }
    println!("{total} operations, zero divergence");
    assert!(total >= 100_000);
}
