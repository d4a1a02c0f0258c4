//! Timing of the memtable's operations. No criterion: medians of repeated runs, in thread
//! CPU time. (Commit d621e4a of this example also times the previous skiplist memtable side
//! by side.)
//!
//! ```text
//! cargo run -p cairn-core --release --example memtable_speed [-- REPS [N...]]
//! ```
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

/// This thread's on-CPU time in ns (Linux `schedstat`; updated at scheduler ticks, so only
/// long intervals are precise), or wall time where unavailable: the machine may be shared,
/// and CPU time excludes the time spent descheduled.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            START.get_or_init(Instant::now).elapsed().as_nanos() as u64
        })
}

/// A timer over CPU time (see [`cpu_ns`]).
struct Timer(u64);

impl Timer {
    fn now() -> Self {
        Timer(cpu_ns())
    }
    /// ns per op since `now`.
    fn per(&self, ops: usize) -> f64 {
        (cpu_ns() - self.0) as f64 / ops as f64
    }
}

use cairn_core::iter::InternalIterator;
use cairn_core::key::{self, Kind};
use cairn_core::memtable::{Memtable, MemtableIter};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const VALUE: [u8; 100] = [0xAB; 100];

trait Api: Sized {
    const NAME: &'static str;
    fn new() -> Self;
    fn insert(&mut self, k: &[u8], seq: u64);
    fn get(&self, k: &[u8]) -> bool;
    fn scan(&self) -> usize;
    fn seek_next(&self, target: &[u8], n: usize) -> usize;
    fn memory(&self) -> usize;
}

macro_rules! impl_api {
    ($t:ty, $it:ident, $name:expr) => {
        impl Api for $t {
            const NAME: &'static str = $name;
            fn new() -> Self {
                <$t>::new()
            }
            fn insert(&mut self, k: &[u8], seq: u64) {
                <$t>::insert(self, k, seq, Kind::Put, &VALUE)
            }
            fn get(&self, k: &[u8]) -> bool {
                <$t>::get(self, k, key::MAX_SEQUENCE).is_some()
            }
            fn scan(&self) -> usize {
                let mut it = $it::new(self);
                it.seek_to_first().unwrap();
                let mut n = 0;
                while it.valid() {
                    n += it.key().len() + it.value().len();
                    it.next().unwrap();
                }
                n
            }
            fn seek_next(&self, target: &[u8], n: usize) -> usize {
                let mut it = $it::new(self);
                it.seek(target).unwrap();
                let mut s = 0;
                for _ in 0..n {
                    if !it.valid() {
                        break;
                    }
                    s += it.key().len();
                    it.next().unwrap();
                }
                s
            }
            fn memory(&self) -> usize {
                self.approximate_memory()
            }
        }
    };
}
impl_api!(Memtable, MemtableIter, "btree");

fn random_keys(n: usize, seed: u64) -> Vec<[u8; 16]> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen()).collect()
}

fn seq_keys(n: usize) -> Vec<[u8; 16]> {
    (0..n as u64)
        .map(|i| {
            let mut k = [b'0'; 16];
            k[..8].copy_from_slice(&i.to_be_bytes());
            k
        })
        .collect()
}

/// ns/op of each operation, for one memtable type, one repetition.
fn run<T: Api>(
    n: usize,
    keys: &[[u8; 16]],
    probes: &[[u8; 16]],
    misses: &[[u8; 16]],
    sk: &[[u8; 16]],
) -> [f64; 6] {
    let mut r = [0f64; 6];
    // Every phase is repeated at small sizes so that it runs for long enough: the CPU time
    // read from `schedstat` is only updated at scheduler ticks.
    let reps = (1_000_000 / n).max(1);
    // Random insert (the memtables are dropped after the timing).
    let t = Timer::now();
    let mut built: Vec<T> = (0..reps)
        .map(|_| {
            let mut m = T::new();
            for (i, k) in keys.iter().enumerate() {
                m.insert(k, i as u64 + 1);
            }
            m
        })
        .collect();
    r[0] = t.per(n * reps);
    let m = built.pop().unwrap();
    drop(built);
    // Sequential insert.
    let t = Timer::now();
    let built: Vec<T> = (0..reps)
        .map(|_| {
            let mut s = T::new();
            for (i, k) in sk.iter().enumerate() {
                s.insert(k, i as u64 + 1);
            }
            s
        })
        .collect();
    r[1] = t.per(n * reps);
    black_box(built.iter().map(T::memory).sum::<usize>());
    drop(built);
    // Random get, hit.
    let t = Timer::now();
    let mut hits = 0;
    for _ in 0..reps {
        for k in probes {
            hits += usize::from(m.get(k));
        }
    }
    r[2] = t.per(probes.len() * reps);
    assert_eq!(hits, probes.len() * reps);
    // Random get, miss.
    let t = Timer::now();
    let mut hits = 0;
    for _ in 0..reps {
        for k in misses {
            hits += usize::from(m.get(k));
        }
    }
    r[3] = t.per(misses.len() * reps);
    assert_eq!(hits, 0);
    // Full iteration.
    let t = Timer::now();
    for _ in 0..reps {
        black_box(m.scan());
    }
    r[4] = t.per(n * reps);
    // Seek + next 100.
    let seeks = 50_000.min(misses.len());
    let t = Timer::now();
    for k in &misses[..seeks] {
        black_box(m.seek_next(&key::seek_key(k, key::MAX_SEQUENCE), 100));
    }
    r[5] = t.per(seeks);
    black_box(m.memory());
    r
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let reps: usize = args.first().map_or(5, |a| a.parse().unwrap());
    let sizes: Vec<usize> = if args.len() > 1 {
        args[1..].iter().map(|a| a.parse().unwrap()).collect()
    } else {
        vec![100_000, 1_000_000]
    };
    let ops = [
        "random insert",
        "sequential insert",
        "random get (hit)",
        "random get (miss)",
        "full iteration (/entry)",
        "seek + next 100",
    ];
    if let Some(n) = std::env::var("ONLY_SEQ")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        // Profiling aid: sequential inserts only, new memtable.
        let sk = seq_keys(n);
        for _ in 0..reps {
            let t = Timer::now();
            let mut s = Memtable::new();
            for (i, k) in sk.iter().enumerate() {
                Api::insert(&mut s, k, i as u64 + 1);
            }
            println!("sequential insert: {:.1} ns/op", t.per(n));
        }
        return;
    }
    for &n in &sizes {
        let keys = random_keys(n, 1);
        let mut probes = keys.clone();
        {
            use rand::seq::SliceRandom;
            probes.shuffle(&mut SmallRng::seed_from_u64(2));
        }
        probes.truncate(n.min(500_000));
        let misses = random_keys(n.min(500_000), 3);
        let sk = seq_keys(n);
        let mut new_r: Vec<[f64; 6]> = Vec::new();
        for _ in 0..reps {
            new_r.push(run::<Memtable>(n, &keys, &probes, &misses, &sk));
        }
        let mut m = Memtable::new();
        keys.iter()
            .enumerate()
            .for_each(|(i, k)| Api::insert(&mut m, k, i as u64 + 1));
        let new_mem = Api::memory(&m) as f64 / n as f64;
        println!("\nN = {n} (16-byte random keys, 100-byte values; medians of {reps} reps, ns/op of thread CPU time)");
        println!("| operation | {} |", <Memtable as Api>::NAME);
        println!("|---|---:|");
        for (i, op) in ops.iter().enumerate() {
            let b = median(new_r.iter().map(|r| r[i]).collect());
            println!("| {op} | {b:.1} |");
        }
        println!("| approximate_memory (B/entry, random) | {new_mem:.1} |");
    }
}
