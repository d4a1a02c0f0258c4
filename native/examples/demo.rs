//! The main job: Cairn doing real work on an embedded default with no configuration.
//!
//! Opens a database in a fresh directory, writes 1M keys, reads them back in random order,
//! scans them, reopens and verifies every key, then runs a short benchmark (synced writes from
//! 8 threads through group commit, random reads from 2 threads) and prints the figures.
//!
//! `cargo run --release -p cairn --example demo [-- --keys N] [--dir PATH]`

use cairn::{Db, WriteBatch, WriteOptions};
use std::time::{Duration, Instant};

fn key(i: u64) -> [u8; 16] {
    // Spread keys over the key space like hashed ids; 16 bytes as in db_bench.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ i;
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&h.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn value(i: u64) -> [u8; 100] {
    let mut v = [0u8; 100];
    for (j, b) in v.iter_mut().enumerate() {
        *b = (i as u8).wrapping_add(j as u8 / 7);
    }
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

fn rate(n: u64, d: Duration) -> String {
    let per_sec = n as f64 / d.as_secs_f64();
    if per_sec >= 1e6 {
        format!("{:.2} M ops/s", per_sec / 1e6)
    } else {
        format!("{:.0} K ops/s", per_sec / 1e3)
    }
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut n: u64 = 1_000_000;
    let mut dir: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--keys" => n = args.next().ok_or("--keys needs a number")?.parse()?,
            "--dir" => dir = Some(args.next().ok_or("--dir needs a path")?.into()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let tmp = tempfile::tempdir()?;
    let path = dir.unwrap_or_else(|| tmp.path().join("demo-db"));
    println!(
        "Cairn demo: {n} keys (16-byte keys, 100-byte values) in {}",
        path.display()
    );

    // 1. Fill.
    let db = Db::open(&path)?;
    let t = Instant::now();
    let mut batch = WriteBatch::new();
    for i in 0..n {
        batch.put(key(i), value(i));
        if batch.len() == 1000 {
            db.write(std::mem::take(&mut batch), WriteOptions::NO_SYNC)?;
        }
    }
    if !batch.is_empty() {
        db.write(batch, WriteOptions::NO_SYNC)?;
    }
    db.sync()?;
    let fill = t.elapsed();
    println!(
        "  fill (batches of 1000, one sync at the end): {:>8.2?}  {}",
        fill,
        rate(n, fill)
    );

    // 2. Random reads.
    let t = Instant::now();
    let mut x = 12345u64;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % n;
        let v = db.get(key(i))?.ok_or("missing key")?;
        if v[..8] != i.to_le_bytes() {
            return Err("wrong value".into());
        }
    }
    let reads = t.elapsed();
    println!(
        "  random reads:                                {:>8.2?}  {}",
        reads,
        rate(n, reads)
    );

    // 3. Full scan.
    let t = Instant::now();
    let mut count = 0u64;
    let mut last: Option<Vec<u8>> = None;
    for e in db.iter() {
        let (k, _) = e?;
        if last.as_ref().is_some_and(|l| l >= &k) {
            return Err("scan out of order".into());
        }
        last = Some(k);
        count += 1;
    }
    let scan = t.elapsed();
    if count != n {
        return Err(format!("scan saw {count} keys, expected {n}").into());
    }
    println!(
        "  full scan:                                   {:>8.2?}  {}",
        scan,
        rate(n, scan)
    );

    // 4. Reopen and verify everything.
    db.close()?;
    drop(db);
    let t = Instant::now();
    let db = Db::open(&path)?;
    let reopen = t.elapsed();
    let t = Instant::now();
    for i in 0..n {
        let v = db.get(key(i))?.ok_or("missing key after reopen")?;
        if v != value(i) {
            return Err("wrong value after reopen".into());
        }
    }
    let verify = t.elapsed();
    println!(
        "  reopen: {reopen:.2?}; verified all {n} keys:     {:>8.2?}  {}",
        verify,
        rate(n, verify)
    );

    // 5. Benchmark: durable writes from 8 threads share fsyncs (group commit).
    let per_thread = 2_000u64;
    let t = Instant::now();
    let handles: Vec<_> = (0..8u64)
        .map(|th| {
            let db = db.clone();
            std::thread::spawn(move || -> cairn::Result<()> {
                for i in 0..per_thread {
                    db.put(key(n + th * per_thread + i), value(i))?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "writer thread panicked")??;
    }
    let sync_writes = t.elapsed();
    let stats = db.stats();
    println!(
        "  synced writes, 8 threads:                    {:>8.2?}  {}  ({} fsyncs for {} writes)",
        sync_writes,
        rate(8 * per_thread, sync_writes),
        stats.wal_syncs,
        8 * per_thread
    );
    let t = Instant::now();
    let readers: Vec<_> = (0..2u64)
        .map(|th| {
            let db = db.clone();
            std::thread::spawn(move || -> cairn::Result<()> {
                let mut x = 777 + th;
                for _ in 0..n / 2 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    db.get(key(x % n))?;
                }
                Ok(())
            })
        })
        .collect();
    for r in readers {
        r.join().map_err(|_| "reader thread panicked")??;
    }
    let par_reads = t.elapsed();
    println!(
        "  random reads, 2 threads:                     {:>8.2?}  {}",
        par_reads,
        rate(n, par_reads)
    );

    db.wait_for_background_work()?;
    let s = db.stats();
    let levels: Vec<String> = s
        .levels
        .iter()
        .filter(|l| l.tables > 0)
        .map(|l| {
            format!(
                "L{}: {} tables {:.1} MiB",
                l.level,
                l.tables,
                l.bytes as f64 / 1048576.0
            )
        })
        .collect();
    println!(
        "  on disk: {:.1} MiB; {}; block cache hits {} misses {}",
        dir_size(&path) as f64 / 1048576.0,
        if levels.is_empty() {
            String::from("all in the memtable")
        } else {
            levels.join(", ")
        },
        s.cache_hits,
        s.cache_misses
    );
    db.close()?;
    println!("demo OK");
    Ok(())
}
