//! Crash points over fixed seeds: kill at a random mutation (inside writes, flushes,
//! compactions, manifest rewrites and recovery itself), crash in a random mode, reopen and
//! check the recovered state against the model. `CAIRN_SEED=<seed>` replays one seed;
//! `CAIRN_CRASH_POINTS=<n>` changes the number of crash points per seed.

use cairn_tests::oracle::{crash_points_from_env, run_seed, seeds_from_env, Outcome};

fn run(seeds: &[u64], points: usize) -> Outcome {
    let mut total = Outcome::default();
    for seed in seeds_from_env(seeds) {
        match run_seed(seed, crash_points_from_env(points)) {
            Ok(o) => total.merge(&o),
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!("{total:#?}");
    total
}

#[test]
fn crash_points_a() {
    run(&[1, 2, 3, 4, 5], 10);
}
