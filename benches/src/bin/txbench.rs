//! Optimistic-transaction throughput of Cairn: read-modify-write transactions (one
//! `get_for_update` and one `put` each, retried on conflict by `Db::transact`), unsynced
//! commits through group commit, on a real directory.
//!
//! ```text
//! cargo run --release -p cairn-bench --bin txbench -- [--txns N] [--runs R]
//! cargo run --release -p cairn-bench --features fjall --bin txbench   # and fjall's SSI transactions
//! ```
//!
//! With the `fjall` feature the same workloads run against fjall 2's optimistic transactions
//! (`TxKeyspace::write_tx` with the `ssi_tx` feature, `PersistMode::Buffer` commits: like
//! Cairn's unsynced commits, written to the OS, not fsynced), in the same process, one
//! after the other.
//!
//! Workloads: uncontended (every thread its own keys) at 1 and 4 threads, and contended at
//! 4 threads, where a share of the transactions touch one of a few hot keys and every
//! transaction yields its thread between its read and its write (so that transactions
//! interleave); the hot share and hot-key count are chosen so that about 10% and about 50%
//! of attempts conflict (the measured rate is printed). Each workload runs `--runs` times (default 5) on a fresh database; the median
//! throughput is reported.

use cairn::{Db, Error, Options, WriteOptions};
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const KEYS_PER_THREAD: u64 = 10_000;
/// (hot share, hot keys) for about 10% and about 50% conflicting attempts.
const HOT10: (f64, u64) = (0.35, 4);
const HOT50: (f64, u64) = (1.0, 2);

struct Outcome {
    txns_per_sec: f64,
    conflict_rate: f64,
}

fn key_for(rng: &mut rand::rngs::SmallRng, t: u64, hot_share: f64, hot_keys: u64) -> String {
    if rng.gen_bool(hot_share) {
        format!("hot{:04}", rng.gen_range(0..hot_keys))
    } else {
        format!("t{t:02}k{:06}", rng.gen_range(0..KEYS_PER_THREAD))
    }
}

fn run(threads: u64, txns_per_thread: u64, hot_share: f64, hot_keys: u64) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_with(dir.path(), Options::default()).expect("open");
    let attempts = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let db = db.clone();
            let attempts = attempts.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(t + 1);
                for _ in 0..txns_per_thread {
                    let key = key_for(&mut rng, t, hot_share, hot_keys);
                    db.transact_with(10_000, |tx| {
                        attempts.fetch_add(1, Ordering::Relaxed);
                        let n = match tx.get_for_update(&key)? {
                            Some(v) => u64::from_le_bytes(v.try_into().unwrap_or([0; 8])),
                            None => 0,
                        };
                        if hot_share > 0.0 {
                            // Application work between the read and the write: lets the
                            // other threads' transactions interleave with this one.
                            std::thread::yield_now();
                        }
                        tx.put(&key, (n + 1).to_le_bytes())?;
                        tx.commit_with(WriteOptions::NO_SYNC)
                    })
                    .expect("commit");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    let done = threads * txns_per_thread;
    let tries = attempts.load(Ordering::Relaxed);
    let stats = db.stats();
    assert_eq!(tries - done, stats.txn_conflicts);
    db.close().expect("close");
    Outcome {
        txns_per_sec: done as f64 / secs,
        conflict_rate: (tries - done) as f64 / tries as f64,
    }
}

#[cfg(feature = "fjall")]
fn run_fjall(threads: u64, txns_per_thread: u64, hot_share: f64, hot_keys: u64) -> Outcome {
    use fjall::{Config, PartitionCreateOptions, PersistMode};
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = Config::new(dir.path())
        .open_transactional()
        .expect("open fjall");
    let part = ks
        .open_partition("bench", PartitionCreateOptions::default())
        .expect("partition");
    let attempts = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (ks, part) = (ks.clone(), part.clone());
            let attempts = attempts.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(t + 1);
                for _ in 0..txns_per_thread {
                    let key = key_for(&mut rng, t, hot_share, hot_keys);
                    loop {
                        attempts.fetch_add(1, Ordering::Relaxed);
                        let mut tx = ks
                            .write_tx()
                            .expect("write_tx")
                            .durability(Some(PersistMode::Buffer));
                        let n = match tx.get(&part, &key).expect("get") {
                            Some(v) => u64::from_le_bytes((&*v).try_into().unwrap_or([0; 8])),
                            None => 0,
                        };
                        if hot_share > 0.0 {
                            std::thread::yield_now();
                        }
                        tx.insert(&part, key.as_str(), (n + 1).to_le_bytes());
                        if tx.commit().expect("commit").is_ok() {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    let done = threads * txns_per_thread;
    let tries = attempts.load(Ordering::Relaxed);
    Outcome {
        txns_per_sec: done as f64 / secs,
        conflict_rate: (tries - done) as f64 / tries as f64,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Error> {
    let mut txns: u64 = 50_000;
    let mut runs = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.parse().ok());
        match (a.as_str(), v) {
            ("--txns", Some(n)) => txns = n,
            ("--runs", Some(n)) => runs = n as usize,
            _ => {
                eprintln!("usage: txbench [--txns N] [--runs R]");
                std::process::exit(2);
            }
        }
    }
    println!("engine  workload                          threads  median txn/s  conflict rate  (runs: {runs}, {txns} txns per run)");
    let cases: [(&str, u64, f64, u64); 4] = [
        ("uncontended RMW", 1, 0.0, 1),
        ("uncontended RMW", 4, 0.0, 1),
        ("contended RMW (~10% conflicts)", 4, HOT10.0, HOT10.1),
        ("contended RMW (~50% conflicts)", 4, HOT50.0, HOT50.1),
    ];
    type Runner = fn(u64, u64, f64, u64) -> Outcome;
    let engines: Vec<(&str, Runner)> = vec![
        ("cairn", run),
        #[cfg(feature = "fjall")]
        ("fjall", run_fjall),
    ];
    for (name, threads, hot, hot_keys) in cases {
        for (engine, runner) in &engines {
            let outs: Vec<Outcome> = (0..runs)
                .map(|_| runner(threads, txns / threads, hot, hot_keys))
                .collect();
            let tput = median(outs.iter().map(|o| o.txns_per_sec).collect());
            let rate = median(outs.iter().map(|o| o.conflict_rate).collect());
            println!(
                "{engine:<7} {name:<33} {threads:>7}  {tput:>12.0}  {:>12.1}%",
                rate * 100.0
            );
        }
    }
    Ok(())
}
