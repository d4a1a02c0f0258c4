//! Measuring: latency histograms, CPU time, peak RSS, bytes on disk, and this machine's
//! physical limits (fsync latency, sequential write bandwidth).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// A latency histogram in nanoseconds (1 ns .. 100 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl Latency {
    /// Percentiles of `h` (nanosecond samples).
    pub fn of(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p95_us: us(h.value_at_quantile(0.95)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// CPU seconds (user + system) this process has used, all threads.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass; RUSAGE_SELF is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A field of /proc/self/status in KiB (`VmHWM` peak RSS, `VmRSS` current RSS).
pub fn proc_status_kib(field: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    s.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .unwrap_or(0)
}

/// Bytes allocated on disk (st_blocks × 512) under `dir`, recursively.
pub fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            total += disk_bytes(&e.path());
        } else {
            total += md.blocks() * 512;
        }
    }
    total
}

/// Apparent size (sum of file lengths) under `dir`, recursively.
pub fn apparent_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            total += apparent_bytes(&e.path());
        } else {
            total += md.len();
        }
    }
    total
}

/// This machine's storage limits, measured in the benchmark directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Physical {
    /// Iterations of each fsync probe.
    pub fsync_iterations: u32,
    /// 4 KiB append (`write`) + `fdatasync`: each append allocates a new block, so every
    /// sync also commits the filesystem journal.
    pub fsync: Latency,
    /// 128-byte append + `fdatasync` (a WAL-sized record; a new block only every 32 appends).
    pub fsync_small_append: Latency,
    /// 4 KiB overwrite (`pwrite`) in a preallocated file + `fdatasync`: data only, no
    /// metadata: the device's flush latency, the floor under any durable write.
    pub fsync_overwrite: Latency,
    /// Upper bound on durable ops/s of one writer without group commit: 1 / median
    /// latency of the 4 KiB-append probe.
    pub fsync_bound_ops: f64,
    /// The same bound from the device flush (overwrite) probe: 1 / its median latency.
    pub flush_bound_ops: f64,
    /// Sequential write bandwidth, MiB/s (1 MiB writes, one `fdatasync` at the end).
    pub seq_write_mib_s: f64,
    /// Bytes written by the bandwidth probe.
    pub seq_write_bytes: u64,
}

fn datasync(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call.
    let rc = unsafe { libc::fdatasync(f.as_raw_fd()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `iterations` of `op` + `fdatasync` on a new file `name` in `dir` (after `prepare`).
fn sync_probe(
    dir: &Path,
    name: &str,
    iterations: u32,
    prepare: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
    mut op: impl FnMut(&mut std::fs::File, u32) -> std::io::Result<()>,
) -> std::io::Result<Latency> {
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    prepare(&mut f)?;
    let mut h = histogram();
    for i in 0..iterations {
        let t = Instant::now();
        op(&mut f, i)?;
        datasync(&f)?;
        h.record(t.elapsed().as_nanos().max(1) as u64).ok();
    }
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(Latency::of(&h))
}

/// Measures fsync latency (`iterations` × 4 KiB append + `fdatasync`, and the small-append
/// and overwrite variants) and sequential write bandwidth (`seq_bytes` in 1 MiB writes then
/// `fdatasync`) in `dir`.
pub fn probe_physical(dir: &Path, iterations: u32, seq_bytes: u64) -> std::io::Result<Physical> {
    use std::os::unix::fs::FileExt;
    std::fs::create_dir_all(dir)?;
    let block = [0xA5u8; 4096];
    let fsync = sync_probe(
        dir,
        "probe-append",
        iterations,
        |_| Ok(()),
        |f, _| f.write_all(&block),
    )?;
    let small = sync_probe(
        dir,
        "probe-small",
        iterations,
        |_| Ok(()),
        |f, _| f.write_all(&block[..128]),
    )?;
    let slots = 256u32;
    let overwrite = sync_probe(
        dir,
        "probe-overwrite",
        iterations,
        |f| {
            for _ in 0..slots {
                f.write_all(&block)?;
            }
            f.sync_all()
        },
        |f, i| f.write_all_at(&block, u64::from(i % slots) * 4096),
    )?;

    let path = dir.join("seq-probe");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let chunk = vec![0x5Au8; 1 << 20];
    let t = Instant::now();
    let mut written = 0;
    while written < seq_bytes {
        f.write_all(&chunk)?;
        written += chunk.len() as u64;
    }
    datasync(&f)?;
    let secs = t.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    let bound = |l: &Latency| {
        if l.p50_us > 0.0 {
            1e6 / l.p50_us
        } else {
            0.0
        }
    };
    Ok(Physical {
        fsync_iterations: iterations,
        fsync_bound_ops: bound(&fsync),
        flush_bound_ops: bound(&overwrite),
        fsync,
        fsync_small_append: small,
        fsync_overwrite: overwrite,
        seq_write_mib_s: written as f64 / (1 << 20) as f64 / secs,
        seq_write_bytes: written,
    })
}

/// Times `f`, recording its latency into `h`.
#[inline]
pub fn timed<T>(h: &mut Histogram<u64>, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    h.record(t.elapsed().as_nanos().max(1) as u64).ok();
    r
}

/// Seconds as a float.
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_run_on_a_temp_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = probe_physical(dir.path(), 5, 4 << 20).expect("probe");
        assert!(p.fsync.p50_us > 0.0);
        assert!(p.seq_write_mib_s > 0.0);
        assert!(p.fsync_bound_ops > 0.0);
        assert!(proc_status_kib("VmHWM") > 0);
        assert!(cpu_seconds() >= 0.0);
    }

    #[test]
    fn latency_percentiles_are_ordered() {
        let mut h = histogram();
        for v in 1..=10_000u64 {
            h.record(v * 1000).expect("in range");
        }
        let l = Latency::of(&h);
        assert!(l.p50_us <= l.p95_us && l.p95_us <= l.p99_us);
        assert!(l.p99_us <= l.p999_us && l.p999_us <= l.max_us);
        assert!((l.p50_us - 5000.0).abs() < 10.0);
    }
}
