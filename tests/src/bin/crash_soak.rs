//! `crash_soak N [POINTS]`: runs the crash oracle for N random seeds (POINTS crash points
//! each, default 25) and prints the seed of every failure, replayable with
//! `CAIRN_SEED=<seed> cargo test -p cairn-tests --test crash_oracle replay`.
//! `CAIRN_SEED=<seed>` runs just that seed.

use cairn_tests::oracle::{parse_seed, run_seed, Outcome};
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let points: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(25);
    let fixed = std::env::var("CAIRN_SEED")
        .ok()
        .and_then(|s| parse_seed(&s));
    let mut base = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5EED);
    let mut total = Outcome::default();
    let mut failures = Vec::new();
    let iterations = if fixed.is_some() { 1 } else { n };
    for i in 0..iterations {
        // splitmix64 step for the next seed
        base = base.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = base;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let seed = fixed.unwrap_or(z ^ (z >> 31));
        match std::panic::catch_unwind(|| run_seed(seed, points)) {
            Ok(Ok(o)) => total.merge(&o),
            Ok(Err(e)) => {
                println!("FAIL seed {seed:#x}: {e}");
                failures.push(seed);
            }
            Err(_) => {
                println!("FAIL seed {seed:#x}: panicked (see above)");
                failures.push(seed);
            }
        }
        if (i + 1) % 10 == 0 {
            eprintln!(
                "{} / {iterations} seeds, {} failures",
                i + 1,
                failures.len()
            );
        }
    }
    println!(
        "crash soak: {iterations} seeds, {} crash points, {} recovery kills, {} failures",
        total.crash_points,
        total.recovery_kills,
        failures.len()
    );
    println!("kills by phase: {:?}", total.by_phase);
    println!("kills by file:  {:?}", total.by_file);
    for s in &failures {
        println!("replay: CAIRN_SEED={s:#x} cargo test -p cairn-tests --test crash_oracle replay");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
