//! Reads past many range tombstones (issue 13): a database of `--num` keys (default
//! 1,000,000), then `--tombstones` range deletes (default 10,000) spread evenly over its key
//! space, each deleting `--width` keys (default 2). Random `get`s of existing keys and 100-key
//! scans from random existing keys are timed one by one, before the range deletes, with the
//! tombstones still in the memtable, and after they are flushed to a table. Prints the median
//! and p99 latency of each and the ratio to the baseline; the goal is a ratio below 2.
//!
//! ```text
//! cargo run --release -p cairn-bench --bin range_tombstones -- [--num N] [--tombstones T]
//!     [--width W] [--gets G] [--scans S] [--dir PATH]
//! ```
//!
//! Keys are 16 ASCII digits, values 100 pseudo-random bytes (incompressible, so the tables
//! are as many as the data needs); the fill is unsynced batches of 1,000 puts, then a flush and
//! a full compaction, so the baseline reads a settled LSM tree.

use cairn::{Db, Options, WriteBatch, WriteOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    num: u64,
    tombstones: u64,
    width: u64,
    gets: usize,
    scans: usize,
    dir: PathBuf,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        num: 1_000_000,
        tombstones: 10_000,
        width: 2,
        gets: 100_000,
        scans: 10_000,
        dir: PathBuf::from("target/bench/range-tombstones"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--num" => a.num = num(val()?)?,
            "--tombstones" => a.tombstones = num(val()?)?,
            "--width" => a.width = num(val()?)?,
            "--gets" => a.gets = num(val()?)? as usize,
            "--scans" => a.scans = num(val()?)? as usize,
            "--dir" => a.dir = PathBuf::from(val()?),
            "--help" | "-h" => {
                return Err(
                    "usage: range_tombstones [--num N] [--tombstones T] [--width W] \
                            [--gets G] [--scans S] [--dir PATH]"
                        .into(),
                )
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.num == 0 || a.tombstones == 0 || a.width == 0 || a.tombstones * a.width > a.num {
        return Err("need num > 0, tombstones > 0, width > 0 and tombstones * width <= num".into());
    }
    Ok(a)
}

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k.copy_from_slice(format!("{i:016}").as_bytes());
    k
}

/// Median and 99th percentile, in microseconds.
fn percentiles(mut ns: Vec<u64>) -> (f64, f64) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    (at(0.5), at(0.99))
}

struct Sample {
    get: (f64, f64),
    scan: (f64, f64),
    found: usize,
    scanned: usize,
}

fn measure(db: &Db, a: &Args, seed: u64) -> Result<Sample, cairn::Error> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut found = 0;
    let mut ns = Vec::with_capacity(a.gets);
    for _ in 0..a.gets {
        let k = key(rng.gen_range(0..a.num));
        let t = Instant::now();
        let v = db.get(k)?;
        ns.push(t.elapsed().as_nanos() as u64);
        found += usize::from(v.is_some());
    }
    let get = percentiles(ns);
    let mut scanned = 0;
    let mut ns = Vec::with_capacity(a.scans);
    for _ in 0..a.scans {
        let k = key(rng.gen_range(0..a.num));
        let t = Instant::now();
        let mut n = 0;
        for r in db.range(k..).take(100) {
            r?;
            n += 1;
        }
        ns.push(t.elapsed().as_nanos() as u64);
        scanned += n;
    }
    let scan = percentiles(ns);
    Ok(Sample {
        get,
        scan,
        found,
        scanned,
    })
}

fn print(label: &str, s: &Sample, base: Option<&Sample>) {
    let ratio = |x: f64, b: Option<f64>| b.map_or(String::new(), |b| format!(" ({:.2}x)", x / b));
    println!(
        "{label:<34} get median {:>7.2} us{} p99 {:>7.2} us | scan-100 median {:>8.2} us{} p99 \
         {:>8.2} us | found {} scanned {}",
        s.get.0,
        ratio(s.get.0, base.map(|b| b.get.0)),
        s.get.1,
        s.scan.0,
        ratio(s.scan.0, base.map(|b| b.scan.0)),
        s.scan.1,
        s.found,
        s.scanned
    );
}

fn run(a: &Args) -> Result<(), cairn::Error> {
    let _ = std::fs::remove_dir_all(&a.dir);
    let opts = Options::default().background_threads(1);
    let db = Db::open_with(&a.dir, opts)?;
    let t = Instant::now();
    let mut rng = SmallRng::seed_from_u64(42);
    let mut value = [0u8; 100];
    let mut i = 0;
    while i < a.num {
        let mut b = WriteBatch::new();
        for j in i..(i + 1000).min(a.num) {
            rng.fill(&mut value[..]);
            b.put(key(j), value);
        }
        db.write(b, WriteOptions::NO_SYNC)?;
        i += 1000;
    }
    db.flush()?;
    db.compact_range(None, None)?;
    db.wait_for_background_work()?;
    println!(
        "filled {} keys in {:.1} s; {} tables",
        a.num,
        t.elapsed().as_secs_f64(),
        db.tables().len()
    );
    let base = measure(&db, a, 1)?;
    print("no range tombstones", &base, None);

    // The range deletes, evenly spread: tombstone t deletes [key(t * stride), + width).
    let stride = a.num / a.tombstones;
    let t = Instant::now();
    for n in 0..a.tombstones {
        let s = n * stride;
        db.delete_range_with(key(s), key(s + a.width), WriteOptions::NO_SYNC)?;
    }
    println!(
        "{} range deletes (width {}, stride {stride}) in {:.2} s",
        a.tombstones,
        a.width,
        t.elapsed().as_secs_f64()
    );
    let mem = measure(&db, a, 1)?;
    print("tombstones in the memtable", &mem, Some(&base));
    db.flush()?;
    db.wait_for_background_work()?;
    let table = measure(&db, a, 1)?;
    print("tombstones flushed to a table", &table, Some(&base));
    db.close()?;
    drop(db);
    let _ = std::fs::remove_dir_all(&a.dir);
    Ok(())
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
