//! Sustained fill benchmark: writes N keys (16-byte keys, 100-byte values, scrambled order),
//! then N random overwrites, with `WriteOptions::NO_SYNC` on a temporary directory with the
//! real file system. Reports per 1-second bucket the throughput and the p50/p99/p99.9/max
//! latency of single writes, then write amplification per level and space amplification
//! after the background work has settled (bytes on disk / live logical bytes).
//!
//! ```text
//! cargo run --release -p cairn --example sustained_fill -- --keys 2000000
//! ```
//! Options: `--keys N` (default 10,000,000), `--write-buffer-mb M` (default: the engine
//! default), `--dir PATH` (default: a fresh temporary directory), `--quiet` (no per-second
//! lines).

use cairn::{Db, Options, WriteOptions};
use std::time::{Duration, Instant};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;

struct Args {
    keys: u64,
    write_buffer_mb: Option<usize>,
    dir: Option<String>,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        keys: 10_000_000,
        write_buffer_mb: None,
        dir: None,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--keys" => a.keys = num("--keys")?,
            "--write-buffer-mb" => a.write_buffer_mb = Some(num("--write-buffer-mb")? as usize),
            "--dir" => a.dir = Some(it.next().ok_or("--dir needs a path")?),
            "--quiet" => a.quiet = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.keys == 0 {
        return Err(String::from("--keys must be at least 1"));
    }
    Ok(a)
}

/// A bijection on `0..n`: scrambled fill order without a permutation table.
fn scramble(i: u64, n: u64) -> u64 {
    let m = n.next_power_of_two();
    let mut x = i;
    loop {
        // Multiplying by an odd number and xor-shifting right are both bijections on
        // k-bit values, so cycle walking visits every index once.
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (m - 1);
        x ^= x >> 7;
        if x < n {
            return x;
        }
    }
}

fn key(i: u64, out: &mut [u8; KEY_LEN]) {
    out[..8].copy_from_slice(&i.to_be_bytes());
    out[8..].copy_from_slice(&i.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Incompressible value bytes (so on-disk and logical sizes are comparable).
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let x = self.next().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
    }
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[derive(Default)]
struct PhaseReport {
    ops: u64,
    secs: f64,
    buckets: usize,
    worst_p99_us: u32,
    buckets_p99_over_2ms: usize,
    max_us: u32,
}

fn run_phase(
    db: &Db,
    name: &str,
    n: u64,
    quiet: bool,
    mut pick: impl FnMut(u64) -> u64,
) -> cairn::Result<PhaseReport> {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1 ^ n);
    let mut k = [0u8; KEY_LEN];
    let mut v = [0u8; VALUE_LEN];
    let mut lat: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut report = PhaseReport::default();
    let start = Instant::now();
    let mut bucket_start = start;
    let mut bucket = 0usize;
    let mut flush_bucket = |lat: &mut Vec<u32>, report: &mut PhaseReport, secs: f64| {
        lat.sort_unstable();
        let (p50, p99, p999) = (pct(lat, 0.5), pct(lat, 0.99), pct(lat, 0.999));
        let max = lat.last().copied().unwrap_or(0);
        report.worst_p99_us = report.worst_p99_us.max(p99);
        report.max_us = report.max_us.max(max);
        if p99 > 2_000 {
            report.buckets_p99_over_2ms += 1;
        }
        report.buckets += 1;
        if !quiet {
            println!(
                "{name:>9} {bucket:>4}s {:>9.0} ops/s  p50 {p50:>5} us  p99 {p99:>6} us  p99.9 {p999:>6} us  max {max:>7} us",
                lat.len() as f64 / secs
            );
        }
        lat.clear();
        bucket += 1;
    };
    for op in 0..n {
        key(pick(op), &mut k);
        rng.fill(&mut v);
        let t = Instant::now();
        db.put_with(k, v, WriteOptions::NO_SYNC)?;
        let now = Instant::now();
        lat.push(now.duration_since(t).as_micros().min(u128::from(u32::MAX)) as u32);
        if now.duration_since(bucket_start) >= Duration::from_secs(1) {
            let secs = now.duration_since(bucket_start).as_secs_f64();
            flush_bucket(&mut lat, &mut report, secs);
            bucket_start = now;
        }
    }
    let end = Instant::now();
    if !lat.is_empty() {
        let secs = end.duration_since(bucket_start).as_secs_f64().max(1e-6);
        flush_bucket(&mut lat, &mut report, secs);
    }
    report.ops = n;
    report.secs = end.duration_since(start).as_secs_f64();
    Ok(report)
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let tmp;
    let path = match &args.dir {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let mut opts = Options::default();
    if let Some(mb) = args.write_buffer_mb {
        opts.write_buffer_size = mb << 20;
    }
    println!(
        "sustained_fill: {} keys, {KEY_LEN} B keys, {VALUE_LEN} B values, NO_SYNC, dir {}",
        args.keys,
        path.display()
    );
    println!(
        "options: write_buffer {} MiB, target_table {} MiB, base_level {} MiB, x{} levels, \
         L0 trigger/slowdown/stop {}/{}/{}, background threads {}",
        opts.write_buffer_size >> 20,
        opts.target_table_size >> 20,
        opts.base_level_size >> 20,
        opts.level_size_multiplier,
        opts.l0_compaction_trigger,
        opts.l0_slowdown_trigger,
        opts.l0_stop_trigger,
        opts.background_threads
    );
    let db = Db::open_with(&path, opts)?;
    let n = args.keys;
    let fill = run_phase(&db, "fill", n, args.quiet, |op| scramble(op, n))?;
    let after_fill = db.stats();
    let mut r = Rng(0xC0FF_EE00_D15E_A5E5);
    let over = run_phase(&db, "overwrite", n, args.quiet, |_| r.next() % n)?;
    let settle_start = Instant::now();
    db.flush()?;
    db.wait_for_background_work()?;
    let settle = settle_start.elapsed();
    let stats = db.stats();
    let disk = dir_bytes(&path);
    let live = n * (KEY_LEN + VALUE_LEN) as u64;

    println!();
    for (name, p) in [("fill", &fill), ("overwrite", &over)] {
        println!(
            "{name:>9}: {} writes in {:.1} s = {:.0} writes/s ({:.1} MB/s); worst 1-s p99 {} us, \
             buckets with p99 > 2 ms: {}/{}, max {} us",
            p.ops,
            p.secs,
            p.ops as f64 / p.secs,
            p.ops as f64 * (KEY_LEN + VALUE_LEN) as f64 / p.secs / 1e6,
            p.worst_p99_us,
            p.buckets_p99_over_2ms,
            p.buckets,
            p.max_us
        );
    }
    println!(
        "after fill: write amplification {:.2}, slowdowns {}, stops {}",
        after_fill.write_amplification(),
        after_fill.write_slowdowns,
        after_fill.write_stops
    );
    println!("settled in {:.1} s\n{stats}", settle.as_secs_f64());
    println!(
        "on disk {:.1} MiB (all files), tables {:.1} MiB, live logical {:.1} MiB: \
         space amplification {:.3} (files) / {:.3} (tables)",
        disk as f64 / 1048576.0,
        stats.table_bytes as f64 / 1048576.0,
        live as f64 / 1048576.0,
        disk as f64 / live as f64,
        stats.table_bytes as f64 / live as f64
    );
    db.close()?;
    Ok(())
}
