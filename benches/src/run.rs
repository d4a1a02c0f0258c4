//! The workloads, run against one engine in one process.

use crate::engines::{self, Engine};
use crate::measure::{self, histogram, Latency};
use crate::workload::{self, KEY_LEN, VALUE_LEN};
use hdrhistogram::Histogram;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Sizes and seed of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Keys written by the fills (and key space of the reads).
    pub num: u64,
    /// Durable writes per sync workload.
    pub sync_num: u64,
    /// Lookups per read workload (readrandom, readmissing).
    pub reads: u64,
    /// Seeks in seekrandom (each reads up to `scan_len` entries).
    pub seeks: u64,
    /// Entries read per seek.
    pub scan_len: usize,
    /// Operations per YCSB workload.
    pub ycsb_ops: u64,
    /// Seed of every generator.
    pub seed: u64,
    /// Workloads to run (empty = all).
    pub only: Vec<String>,
    /// 16 ASCII digits as keys instead of db_bench's 8 big-endian bytes + padding.
    #[serde(default)]
    pub ascii_keys: bool,
}

impl Config {
    /// db_bench-like defaults for `num` keys.
    pub fn new(num: u64) -> Self {
        Config {
            num,
            sync_num: 20_000,
            reads: num,
            seeks: (num / 20).max(1),
            scan_len: 100,
            ycsb_ops: num,
            seed: 0x00CA_1B2E_5EED,
            only: Vec::new(),
            ascii_keys: false,
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.starts_with(o.as_str()))
    }
}

/// Workloads in report order.
pub const WORKLOADS: &[&str] = &[
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readrandom-2t",
    "readmissing",
    "seekrandom",
    "ycsb-a",
    "ycsb-b",
    "fillsync-1t",
    "fillsync-8t",
];

/// What one workload measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkloadResult {
    /// Workload name (see [`WORKLOADS`]).
    pub name: String,
    /// Operations done.
    pub ops: u64,
    /// Client threads.
    pub threads: usize,
    /// Wall-clock seconds.
    pub secs: f64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Per-operation latency.
    pub latency: Latency,
    /// CPU seconds (user + system, all threads of the process, background work included).
    pub cpu_secs: f64,
    /// Lookups that found a value / entries read by scans.
    pub found: u64,
    /// Resident set after the workload, KiB.
    pub rss_kib: u64,
}

/// One interval of the sustained fill.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the fill started (end of the interval).
    pub t: f64,
    /// Operations per second in the interval.
    pub ops_per_sec: f64,
    /// Median write latency in the interval, µs.
    pub p50_us: f64,
    /// 99th percentile write latency in the interval, µs.
    pub p99_us: f64,
    /// Largest write latency in the interval, µs.
    pub max_us: f64,
}

/// Space used once the engine has settled after fillrandom + overwrite.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Space {
    /// Bytes allocated on disk (st_blocks × 512).
    pub disk_bytes: u64,
    /// Sum of file lengths.
    pub apparent_bytes: u64,
    /// Live logical bytes: num × (key + value).
    pub logical_bytes: u64,
    /// disk_bytes / logical_bytes.
    pub amplification: f64,
    /// Seconds the settle (flush + wait for compaction) took.
    pub settle_secs: f64,
}

/// Everything measured for one engine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineResult {
    /// Engine name.
    pub engine: String,
    /// Settings used (for the report).
    pub settings: String,
    /// Per-workload results, in run order.
    pub workloads: Vec<WorkloadResult>,
    /// Space after the fills.
    pub space: Option<Space>,
    /// Write latency over time during fillrandom.
    pub timeline: Vec<TimelinePoint>,
    /// Peak RSS of the engine's process (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// The first error, if a workload failed (later workloads were skipped).
    pub error: Option<String>,
}

impl EngineResult {
    /// The result of workload `name`.
    pub fn workload(&self, name: &str) -> Option<&WorkloadResult> {
        self.workloads.iter().find(|w| w.name == name)
    }
}

type Res<T> = std::result::Result<T, String>;

/// Runs `threads` threads, thread `t` doing ops `t, t + threads, ...` below `total` through
/// `op(thread, i, rng)`; returns the merged latency histogram and the wall-clock seconds.
fn parallel<F>(threads: usize, total: u64, seed: u64, op: F) -> Res<(Histogram<u64>, f64)>
where
    F: Fn(usize, u64, &mut rand::rngs::SmallRng) -> Res<()> + Sync,
{
    let start = Instant::now();
    let results: Vec<Res<Histogram<u64>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let op = &op;
                s.spawn(move || {
                    let mut h = histogram();
                    let mut rng = workload::rng(seed, 1000 + t as u64);
                    let mut i = t as u64;
                    while i < total {
                        let r = measure::timed(&mut h, || op(t, i, &mut rng));
                        r?;
                        i += threads as u64;
                    }
                    Ok(h)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let mut merged = histogram();
    for r in results {
        merged.add(r?).map_err(|e| e.to_string())?;
    }
    Ok((merged, secs))
}

fn finish(name: &str, threads: usize, h: &Histogram<u64>, secs: f64, cpu0: f64) -> WorkloadResult {
    let ops = h.len();
    WorkloadResult {
        name: name.to_string(),
        ops,
        threads,
        secs,
        ops_per_sec: ops as f64 / secs.max(1e-9),
        latency: Latency::of(h),
        cpu_secs: measure::cpu_seconds() - cpu0,
        found: 0,
        rss_kib: measure::proc_status_kib("VmRSS"),
    }
}

fn value_for(seed: u64, i: u64) -> [u8; VALUE_LEN] {
    let mut v = [0u8; VALUE_LEN];
    workload::fill_value(&mut workload::rng(seed, i), &mut v);
    v
}

/// Writes `keys` in order through one thread, recording a timeline point every
/// `keys.len() / 200` writes.
fn fill(
    e: &dyn Engine,
    name: &str,
    n: u64,
    keys: impl Iterator<Item = u64>,
    seed: u64,
    timeline: Option<&mut Vec<TimelinePoint>>,
) -> Res<WorkloadResult> {
    let every = (n / 200).max(1);
    let cpu0 = measure::cpu_seconds();
    let mut h = histogram();
    let mut ih = histogram();
    let mut points = Vec::new();
    let mut rng = workload::rng(seed, 7);
    let mut v = [0u8; VALUE_LEN];
    let start = Instant::now();
    let mut last = 0.0;
    for (done, i) in keys.enumerate() {
        workload::fill_value(&mut rng, &mut v);
        let k = workload::key(i);
        let t = Instant::now();
        e.put(&k, &v, false)?;
        let ns = t.elapsed().as_nanos().max(1) as u64;
        h.record(ns).ok();
        ih.record(ns).ok();
        if (done as u64 + 1).is_multiple_of(every) {
            let now = start.elapsed().as_secs_f64();
            let l = Latency::of(&ih);
            points.push(TimelinePoint {
                t: now,
                ops_per_sec: ih.len() as f64 / (now - last).max(1e-9),
                p50_us: l.p50_us,
                p99_us: l.p99_us,
                max_us: l.max_us,
            });
            ih.reset();
            last = now;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(tl) = timeline {
        *tl = points;
    }
    Ok(finish(name, 1, &h, secs, cpu0))
}

/// Runs every workload against engine `name`, in directories under `dir`.
pub fn run_engine(name: &str, dir: &Path, cfg: &Config, log: &dyn Fn(&str)) -> EngineResult {
    workload::set_ascii_keys(cfg.ascii_keys);
    let mut out = EngineResult {
        engine: name.to_string(),
        settings: engines::settings(name).to_string(),
        ..Default::default()
    };
    if let Err(e) = run_all(name, dir, cfg, log, &mut out) {
        log(&format!("{name}: error: {e}"));
        out.error = Some(e);
    }
    out.peak_rss_kib = measure::proc_status_kib("VmHWM");
    out
}

/// With `CAIRN_BENCH_STATS` set, logs the engine's internal counters.
fn diag(e: &dyn Engine, name: &str, log: &dyn Fn(&str)) {
    if std::env::var_os("CAIRN_BENCH_STATS").is_some() {
        if let Some(s) = e.stats_line() {
            log(&format!("{name:>8} stats: {s}"));
        }
    }
}

fn fresh_dir(base: &Path, what: &str) -> Res<PathBuf> {
    let d = base.join(what);
    if d.exists() {
        std::fs::remove_dir_all(&d).map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    Ok(d)
}

fn run_all(
    name: &str,
    dir: &Path,
    cfg: &Config,
    log: &dyn Fn(&str),
    out: &mut EngineResult,
) -> Res<()> {
    let push = |out: &mut EngineResult, w: WorkloadResult| {
        log(&format!(
            "{name:>8} {:<14} {:>12.0} ops/s  p50 {:>8.2} µs  p99 {:>9.2} µs  cpu {:>6.2} s",
            w.name, w.ops_per_sec, w.latency.p50_us, w.latency.p99_us, w.cpu_secs
        ));
        out.workloads.push(w);
    };
    let n = cfg.num;
    let seed = cfg.seed;

    // fillseq: a fresh database, keys in order.
    if cfg.wants("fillseq") {
        let d = fresh_dir(dir, "seq")?;
        let e = engines::open(name, &d)?;
        let w = fill(&*e, "fillseq", n, 0..n, seed ^ 1, None)?;
        push(out, w);
        diag(&*e, name, log);
        e.close()?;
        std::fs::remove_dir_all(&d).map_err(|e| e.to_string())?;
    }

    let random_phase = [
        "fillrandom",
        "overwrite",
        "readrandom",
        "readmissing",
        "seekrandom",
        "ycsb",
    ]
    .iter()
    .any(|w| cfg.wants(w));
    if random_phase {
        let d = fresh_dir(dir, "random")?;
        let e = engines::open(name, &d)?;
        let e: &dyn Engine = &*e;

        // fillrandom: every key once, in a seeded random order.
        let perm = workload::permutation(n, seed);
        let mut timeline = Vec::new();
        let w = fill(
            e,
            "fillrandom",
            n,
            perm.iter().copied(),
            seed ^ 2,
            Some(&mut timeline),
        )?;
        out.timeline = timeline;
        push(out, w);
        diag(e, name, log);
        drop(perm);

        if cfg.wants("overwrite") {
            let cpu0 = measure::cpu_seconds();
            let (h, secs) = parallel(1, n, seed ^ 3, |_, _, rng| {
                let i = rng.gen_range(0..n);
                let mut v = [0u8; VALUE_LEN];
                workload::fill_value(rng, &mut v);
                e.put(&workload::key(i), &v, false)
            })?;
            push(out, finish("overwrite", 1, &h, secs, cpu0));
            diag(e, name, log);
        }

        // Settle, then measure space: n live keys of KEY_LEN + VALUE_LEN bytes.
        let t = Instant::now();
        e.settle()?;
        let settle_secs = t.elapsed().as_secs_f64();
        let disk = measure::disk_bytes(&d);
        let logical = n * (KEY_LEN + VALUE_LEN) as u64;
        let space = Space {
            disk_bytes: disk,
            apparent_bytes: measure::apparent_bytes(&d),
            logical_bytes: logical,
            amplification: disk as f64 / logical.max(1) as f64,
            settle_secs,
        };
        log(&format!(
            "{name:>8} space: {:.1} MiB on disk / {:.1} MiB live = {:.3}× (settled in {:.1} s)",
            disk as f64 / 1048576.0,
            logical as f64 / 1048576.0,
            space.amplification,
            settle_secs
        ));
        out.space = Some(space);

        let found = AtomicU64::new(0);
        let get_random = |_: usize, _: u64, rng: &mut rand::rngs::SmallRng| {
            let i = rng.gen_range(0..n);
            if e.get(&workload::key(i))?.is_some() {
                found.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        };
        if cfg.wants("readrandom") {
            // Warm the caches (untimed).
            parallel(2, cfg.reads / 2, seed ^ 4, get_random)?;
            for (label, threads) in [("readrandom", 1), ("readrandom-2t", 2)] {
                if !cfg.wants(label) {
                    continue;
                }
                found.store(0, Ordering::Relaxed);
                let cpu0 = measure::cpu_seconds();
                let (h, secs) = parallel(threads, cfg.reads, seed ^ 5, get_random)?;
                let mut w = finish(label, threads, &h, secs, cpu0);
                w.found = found.load(Ordering::Relaxed);
                if w.found != w.ops {
                    return Err(format!("{label}: found {} of {} keys", w.found, w.ops));
                }
                push(out, w);
                diag(e, name, log);
            }
        }

        if cfg.wants("readmissing") {
            found.store(0, Ordering::Relaxed);
            let cpu0 = measure::cpu_seconds();
            let (h, secs) = parallel(1, cfg.reads, seed ^ 6, |_, _, rng| {
                let i = rng.gen_range(0..n);
                if e.get(&workload::missing_key(i))?.is_some() {
                    found.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })?;
            let mut w = finish("readmissing", 1, &h, secs, cpu0);
            w.found = found.load(Ordering::Relaxed);
            if w.found != 0 {
                return Err(format!("readmissing found {} absent keys", w.found));
            }
            push(out, w);
            diag(e, name, log);
        }

        if cfg.wants("seekrandom") {
            found.store(0, Ordering::Relaxed);
            let cpu0 = measure::cpu_seconds();
            let (h, secs) = parallel(1, cfg.seeks, seed ^ 7, |_, _, rng| {
                let i = rng.gen_range(0..n);
                let got = e.scan(&workload::key(i), cfg.scan_len)?;
                found.fetch_add(got as u64, Ordering::Relaxed);
                Ok(())
            })?;
            let mut w = finish("seekrandom", 1, &h, secs, cpu0);
            w.found = found.load(Ordering::Relaxed);
            push(out, w);
            diag(e, name, log);
        }

        for (label, read_pct) in [("ycsb-a", 50u32), ("ycsb-b", 95)] {
            if !cfg.wants(label) {
                continue;
            }
            let zipf = workload::Zipf::new(n);
            let cpu0 = measure::cpu_seconds();
            let (h, secs) = parallel(
                1,
                cfg.ycsb_ops,
                seed ^ 8 ^ u64::from(read_pct),
                |_, _, rng| {
                    let i = zipf.next(rng);
                    if rng.gen_range(0..100) < read_pct {
                        e.get(&workload::key(i))?;
                    } else {
                        let mut v = [0u8; VALUE_LEN];
                        workload::fill_value(rng, &mut v);
                        e.put(&workload::key(i), &v, false)?;
                    }
                    Ok(())
                },
            )?;
            push(out, finish(label, 1, &h, secs, cpu0));
            diag(e, name, log);
        }
    }
    // The random-phase engine is dropped (closed) here.
    let _ = std::fs::remove_dir_all(dir.join("random"));

    // Durable writes: a fresh database; 1 writer, then 8 writers on new keys.
    for (label, threads, base) in [("fillsync-1t", 1usize, 0u64), ("fillsync-8t", 8, 1 << 40)] {
        if !cfg.wants(label) {
            continue;
        }
        let d = fresh_dir(dir, label)?;
        let e = engines::open(name, &d)?;
        let eref: &dyn Engine = &*e;
        let cpu0 = measure::cpu_seconds();
        let (h, secs) = parallel(threads, cfg.sync_num, seed ^ 9, |_, i, _| {
            eref.put(&workload::key(base + i), &value_for(seed, i), true)
        })?;
        push(out, finish(label, threads, &h, secs, cpu0));
        diag(eref, name, log);
        e.close()?;
        std::fs::remove_dir_all(&d).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_runs_on_cairn_and_reads_find_what_fills_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = Config::new(3_000);
        cfg.sync_num = 40;
        cfg.seeks = 50;
        let r = run_engine("cairn", dir.path(), &cfg, &|_| {});
        assert_eq!(r.error, None);
        let names: Vec<&str> = r.workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, WORKLOADS);
        for w in &r.workloads {
            assert!(w.ops > 0 && w.ops_per_sec > 0.0, "{w:?}");
        }
        assert_eq!(r.workload("readrandom").map(|w| w.found), Some(3_000));
        assert_eq!(r.workload("readmissing").map(|w| w.found), Some(0));
        assert_eq!(r.workload("seekrandom").map(|w| w.ops), Some(50));
        assert_eq!(r.workload("fillsync-8t").map(|w| w.ops), Some(40));
        let space = r.space.expect("space measured");
        assert!(space.disk_bytes > 0 && space.amplification > 0.1);
        assert!(!r.timeline.is_empty());
    }
}
