//! `cairn bench`: a quick fill / read / scan run printing throughput and latency percentiles.

use super::codec::human_bytes;
use super::error::{CliError, DbContext, Result};
use super::ops::{close, open_or_create};
use super::progress::{bar, spinner, Unit};
use super::{Ctx, Order};
use cairn::{Db, WriteBatch, WriteOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Database directory (created if missing; existing keys are overwritten).
    pub db: PathBuf,
    /// Keys to write.
    #[arg(long, short, default_value_t = 100_000)]
    pub num: u64,
    /// Random reads after the fill (default: --num).
    #[arg(long)]
    pub reads: Option<u64>,
    /// Key size in bytes (decimal digits, zero-padded; at least 8).
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    /// Value size in bytes (about half compressible).
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Keys per write batch.
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Fill order.
    #[arg(long, value_enum, default_value_t = Order::Random)]
    pub order: Order,
    /// Sync every write (durable acknowledgements; much slower).
    #[arg(long)]
    pub sync: bool,
    /// Seed of the key order and values.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// SplitMix64: a tiny deterministic generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for a benchmark.
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// Latency samples of one phase.
struct Phase {
    name: &'static str,
    ops: u64,
    bytes: u64,
    elapsed: Duration,
    lat_ns: Vec<u64>,
}

impl Phase {
    fn report(&mut self) -> String {
        self.lat_ns.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.lat_ns.is_empty() {
                return 0.0;
            }
            let i = ((self.lat_ns.len() as f64 - 1.0) * p).round() as usize;
            self.lat_ns[i.min(self.lat_ns.len() - 1)] as f64 / 1000.0
        };
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "{:<12} {:>9} ops in {:>7.2}s {:>11.0} ops/s {:>9.1} MiB/s | latency us p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
            self.name,
            self.ops,
            secs,
            self.ops as f64 / secs,
            self.bytes as f64 / secs / (1024.0 * 1024.0),
            pct(0.50),
            pct(0.90),
            pct(0.99),
            pct(0.999),
            pct(1.0)
        )
    }
}

fn key(i: u64, size: usize) -> Vec<u8> {
    format!("{i:0size$}").into_bytes()
}

/// A value of `size` bytes for key `i`: the first half random letters, the rest repeats them.
fn value(i: u64, size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let half = size.div_ceil(2).max(1);
    let mut v: Vec<u8> = (0..half).map(|_| b'a' + (rng.next() % 26) as u8).collect();
    while v.len() < size {
        let n = (size - v.len()).min(half);
        v.extend_from_within(..n);
    }
    v.truncate(size);
    v
}

fn check_args(a: &BenchArgs) -> Result<()> {
    if a.key_size < 8 || a.key_size > 1024 {
        return Err(CliError::Usage(String::from(
            "--key-size must be in 8..=1024",
        )));
    }
    if a.key_size < 20 && a.num > 10u64.pow(a.key_size as u32) {
        return Err(CliError::Usage(format!(
            "--num {} does not fit in {}-digit keys",
            a.num, a.key_size
        )));
    }
    if a.batch == 0 || a.num == 0 {
        return Err(CliError::Usage(String::from(
            "--num and --batch must be at least 1",
        )));
    }
    Ok(())
}

fn fill(db: &Db, a: &BenchArgs, ctx: &Ctx) -> Result<Phase> {
    let mut order: Vec<u64> = (0..a.num).collect();
    if a.order == Order::Random {
        let mut rng = Rng(a.seed);
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
    }
    let wopts = if a.sync {
        WriteOptions::SYNC
    } else {
        WriteOptions::NO_SYNC
    };
    let pb = bar(a.num, "fill", Unit::Items, ctx.quiet);
    let mut lat = Vec::with_capacity(order.len().div_ceil(a.batch as usize));
    let mut bytes = 0u64;
    let start = Instant::now();
    for chunk in order.chunks(a.batch as usize) {
        let mut b = WriteBatch::new();
        for &i in chunk {
            let (k, v) = (key(i, a.key_size), value(i, a.value_size, a.seed));
            bytes += (k.len() + v.len()) as u64;
            b.put(&k, &v);
        }
        let t = Instant::now();
        db.write(b, wopts).ctx(|| String::from("bench fill"))?;
        lat.push(t.elapsed().as_nanos() as u64);
        if lat.len().is_multiple_of(1024) {
            pb.set_position((lat.len() as u64) * a.batch);
        }
    }
    let elapsed = start.elapsed();
    pb.finish_and_clear();
    Ok(Phase {
        name: if a.order == Order::Random {
            "fillrandom"
        } else {
            "fillseq"
        },
        ops: a.num,
        bytes,
        elapsed,
        lat_ns: lat,
    })
}

fn read_random(db: &Db, a: &BenchArgs, ctx: &Ctx) -> Result<(Phase, u64)> {
    let reads = a.reads.unwrap_or(a.num);
    let mut rng = Rng(a.seed.wrapping_add(1));
    let pb = bar(reads, "readrandom", Unit::Items, ctx.quiet);
    let mut lat = Vec::with_capacity(reads as usize);
    let (mut bytes, mut missing) = (0u64, 0u64);
    let start = Instant::now();
    for n in 0..reads {
        let k = key(rng.below(a.num), a.key_size);
        let t = Instant::now();
        let v = db.get(&k).ctx(|| String::from("bench read"))?;
        lat.push(t.elapsed().as_nanos() as u64);
        match v {
            Some(v) if v.len() == a.value_size => bytes += (k.len() + v.len()) as u64,
            _ => missing += 1,
        }
        if n.is_multiple_of(1024) {
            pb.set_position(n);
        }
    }
    let elapsed = start.elapsed();
    pb.finish_and_clear();
    Ok((
        Phase {
            name: "readrandom",
            ops: reads,
            bytes,
            elapsed,
            lat_ns: lat,
        },
        missing,
    ))
}

fn scan_all(db: &Db, a: &BenchArgs, ctx: &Ctx) -> Result<Phase> {
    let pb = bar(a.num, "scan", Unit::Items, ctx.quiet);
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut lat = Vec::with_capacity(a.num as usize);
    let start = Instant::now();
    let mut t = Instant::now();
    for entry in db.iter() {
        let (k, v) = entry.ctx(|| String::from("bench scan"))?;
        lat.push(t.elapsed().as_nanos() as u64);
        bytes += (k.len() + v.len()) as u64;
        n += 1;
        if n.is_multiple_of(4096) {
            pb.set_position(n);
        }
        t = Instant::now();
    }
    let elapsed = start.elapsed();
    pb.finish_and_clear();
    Ok(Phase {
        name: "scan",
        ops: n,
        bytes,
        elapsed,
        lat_ns: lat,
    })
}

pub fn run(ctx: &Ctx, a: &BenchArgs) -> Result<()> {
    check_args(a)?;
    let path: &Path = &a.db;
    let db = open_or_create(path, true)?;
    println!(
        "cairn bench: {} keys of {} B, values {} B, batch {}, {} order, {} writes{}",
        a.num,
        a.key_size,
        a.value_size,
        a.batch,
        if a.order == Order::Random {
            "random"
        } else {
            "sequential"
        },
        if a.sync { "synced" } else { "unsynced" },
        if cfg!(target_os = "wasi") {
            " (WASI: flush and compaction run inline)"
        } else {
            ""
        }
    );
    let mut fill = fill(&db, a, ctx)?;
    println!("{}", fill.report());
    let pb = spinner("settling (flush + compaction)", ctx.quiet);
    let t = Instant::now();
    let settled = db.flush().and_then(|_| db.wait_for_background_work());
    pb.finish_and_clear();
    settled.ctx(|| String::from("bench: flush"))?;
    println!(
        "{:<12} flush + background work {:.2}s",
        "settle",
        t.elapsed().as_secs_f64()
    );
    let (mut reads, missing) = read_random(&db, a, ctx)?;
    println!("{}", reads.report());
    let mut scan = scan_all(&db, a, ctx)?;
    println!("{}", scan.report());
    let s = db.stats();
    println!(
        "{:<12} {} tables, {} on disk; {} flushes, {} compactions, {} write slowdowns, {} stops; block cache {} hits / {} misses",
        "stats",
        s.levels.iter().map(|l| l.tables).sum::<u64>(),
        human_bytes(s.table_bytes),
        s.flushes,
        s.compactions,
        s.write_slowdowns,
        s.write_stops,
        s.cache_hits,
        s.cache_misses
    );
    close(&db, path)?;
    if missing > 0 {
        return Err(CliError::Failed {
            code: super::error::exit::OTHER,
            summary: format!("bench: {missing} reads did not find the value written"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_deterministic_and_sized() {
        assert_eq!(key(42, 8), b"00000042".to_vec());
        for size in [0, 1, 7, 100, 1000] {
            let v = value(3, size, 9);
            assert_eq!(v.len(), size);
            assert_eq!(v, value(3, size, 9));
        }
        let mut r = Rng(1);
        assert!((0..1000).all(|_| r.below(10) < 10));
    }
}
