//! Machine crashes under the native wrapper: `cairn::Db` (group commit, 1–4 writer threads,
//! background work inline or on a thread) over `FaultVfs<MemVfs>`, killed at a random
//! mutation, crashed in a random mode and reopened. Checks, per thread, that the state is a
//! prefix of its writes covering every synced acknowledgement and every acknowledgement
//! (of any thread) made before a synced write was issued — i.e. that group commit only
//! acknowledges a synced writer after the sync covering its record, and never publishes a
//! later group over a lost earlier one.
//!
//! Choices are deterministic by seed (`CAIRN_SEED`); thread interleavings are not, and the
//! checks hold for every interleaving.

use cairn::{Db, Options};
use cairn_tests::oracle::{batch_of, write_options};
use cairn_tests::oracle::{parse_seed, seeds_from_env};
use cairn_tests::proc_model::{batch_ops, bounds, check_threads, key_last, Line};
use cairn_vfs::fault::{CrashMode, FaultVfs, KillEffect};
use cairn_vfs::MemVfs;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type V = FaultVfs<MemVfs>;

fn options(rng: &mut SmallRng) -> Options {
    Options::default()
        .write_buffer_size(16 << 10)
        .target_table_size(8 << 10)
        .base_level_size(32 << 10)
        .max_manifest_size(1 << 10)
        .l0_compaction_trigger(2)
        .level_size_multiplier(4)
        .num_levels(4)
        .block_size(512)
        .background_threads(rng.gen_range(0..=1))
}

fn run_seed(seed: u64, points: usize) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let opts = options(&mut rng);
    let vfs: V = FaultVfs::new(MemVfs::new());
    let mut recovered: BTreeMap<u32, u64> = BTreeMap::new();
    for point in 0..points {
        let threads: u32 = rng.gen_range(1..=4);
        let db = Db::open_vfs(vfs.clone(), opts.clone())
            .unwrap_or_else(|e| panic!("seed {seed} point {point}: open: {e}"));
        let lines: Arc<Mutex<Vec<Line>>> = Arc::default();
        vfs.set_kill_effect(KillEffect::Random { seed: rng.gen() });
        vfs.set_kill_at(Some(vfs.mutation_count() + rng.gen_range(1..=600)));
        let mut handles = Vec::new();
        for t in 0..threads {
            let db = db.clone();
            let lines = lines.clone();
            let tseed: u64 = rng.gen();
            handles.push(std::thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(tseed);
                let start = match db.get(key_last(t)) {
                    Ok(Some(v)) => String::from_utf8_lossy(&v).parse::<u64>().expect("last"),
                    Ok(None) => 0,
                    Err(_) => return, // killed before this thread started
                };
                lines.lock().expect("lines").push(Line::Start(t, start));
                for c in start + 1..start + 5000 {
                    let b = batch_of(&batch_ops(t, c));
                    let sync = rng.gen_bool(0.25);
                    lines.lock().expect("lines").push(Line::Issue(t, c));
                    let o = write_options(sync);
                    if db.write(b, o).is_err() {
                        return;
                    }
                    lines.lock().expect("lines").push(Line::Ack(t, c, sync));
                }
            }));
        }
        for h in handles {
            h.join().expect("writer thread");
        }
        if !vfs.killed() {
            vfs.kill_now();
        }
        drop(db);
        let mode = CrashMode::from_seed(rng.gen());
        vfs.crash(mode);
        let lines = lines.lock().expect("lines").clone();
        let b = bounds(&lines, &recovered);
        // Reopen with the core engine: no background thread races the check.
        let core = cairn_core::db::Db::open(vfs.clone(), opts.clone())
            .unwrap_or_else(|e| panic!("seed {seed} point {point}: reopen after {mode:?}: {e}"));
        let mut all = BTreeMap::new();
        for r in core
            .range((std::ops::Bound::Unbounded, std::ops::Bound::Unbounded))
            .expect("range")
        {
            let (k, v) = r.expect("scan");
            all.insert(k, v);
        }
        recovered = check_threads(&all, 4, &b).unwrap_or_else(|e| {
            panic!("seed {seed} point {point} (replay: CAIRN_SEED={seed}), {mode:?}: {e}")
        });
        drop(core);
    }
}

#[test]
fn group_commit_survives_machine_crashes() {
    let points = std::env::var("CAIRN_CRASH_POINTS")
        .ok()
        .and_then(|s| parse_seed(&s))
        .unwrap_or(25) as usize;
    for seed in seeds_from_env(&[101, 102, 103, 104]) {
        run_seed(seed, points);
    }
}
