//! Regression inputs for the cargo-fuzz targets in `fuzz/`, plus a small deterministic
//! stand-in for them that runs on stable in CI: every decoder the fuzz targets cover (WAL
//! replay, block decode + iteration, SST open/get/iterate/verify, bloom reader, manifest
//! replay, batch decode) is fed random bytes and bit-mutated real files and must return
//! (`Ok` or a typed error) without panicking.
//!
//! No fuzz crash has been found so far (see docs/DURABILITY.md for the executions run); a
//! crash artifact from `fuzz/artifacts/<target>/` goes into `REGRESSIONS` below.

use cairn_core::batch::BatchRef;
use cairn_core::db::Db;
use cairn_core::iter::InternalIterator;
use cairn_core::table::{Block, BloomFilter, Table};
use cairn_core::version::Version;
use cairn_core::{manifest, wal, Options, RecoveryMode, WriteOptions};
use cairn_vfs::{File, MemVfs, Vfs};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// (target, input) pairs that once crashed a fuzz target.
const REGRESSIONS: &[(&str, &[u8])] = &[];

fn mem_file(bytes: Vec<u8>) -> Arc<<MemVfs as Vfs>::File> {
    let vfs = MemVfs::new();
    vfs.put_file("000001.x", bytes);
    vfs.open("000001.x").expect("open")
}

fn wal_replay(bytes: &[u8]) {
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let check = |b: BatchRef<'_>| {
            for r in b.iter() {
                r?;
            }
            Ok(())
        };
        // The read-only scan writes nothing and reaches the same verdict as replay.
        let f = mem_file(bytes.to_vec());
        let scanned = wal::scan(&*f, "000001.wal", mode, true, 0, check);
        assert_eq!(f.read_all().expect("read"), bytes, "scan wrote");
        let replayed = wal::replay(&*f, "000001.wal", mode, true, 0, check);
        match (&scanned, &replayed) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.code(), b.code()),
            _ => panic!("scan {scanned:?} but replay {replayed:?}"),
        }
    }
}

fn manifest_replay(bytes: &[u8]) {
    let f = mem_file(bytes.to_vec());
    if let Ok(r) = manifest::replay(&*f, "MANIFEST-000001") {
        let mut v = Version::empty(7);
        for e in &r.edits {
            match v.apply(e) {
                Ok(n) => v = n,
                Err(_) => break,
            }
        }
    }
}

fn block_decode(bytes: &[u8]) {
    let Ok(b) = Block::new(bytes.to_vec(), 1, 0) else {
        return;
    };
    let b = Arc::new(b);
    let mut it = b.iter();
    let mut n = 0;
    if it.seek_to_first().is_ok() {
        while it.valid() && n < 100_000 && it.next().is_ok() {
            n += 1;
        }
    }
    let _ = it.seek_to_last().map(|_| it.prev());
}

fn sst_read(bytes: &[u8]) {
    let len = bytes.len() as u64;
    let Ok(t) = Table::open(mem_file(bytes.to_vec()), 1, len, None) else {
        return;
    };
    let t = Arc::new(t);
    for k in [&b"key0001"[..], b"key0077", b"zzz"] {
        let _ = t.may_contain(k);
        let _ = t.get(k, u64::MAX >> 8);
    }
    let mut it = t.iter(false);
    let mut n = 0;
    if it.seek_to_first().is_ok() {
        while it.valid() && n < 100_000 && it.next().is_ok() {
            n += 1;
        }
    }
    let _ = t.verify();
}

fn bloom(bytes: &[u8]) {
    let f = BloomFilter::new(bytes.to_vec());
    for k in bytes.chunks(5).take(32) {
        let _ = f.may_contain(k);
    }
}

fn batch_decode(bytes: &[u8]) {
    if let Some(b) = BatchRef::parse(bytes) {
        let _ = b.validate();
        for r in b.iter().take(1 << 16) {
            if r.is_err() {
                break;
            }
        }
    }
}

fn run(target: &str, bytes: &[u8]) {
    match target {
        "wal_replay" => wal_replay(bytes),
        "manifest_replay" => manifest_replay(bytes),
        "block_decode" => block_decode(bytes),
        "sst_read" => sst_read(bytes),
        "bloom" => bloom(bytes),
        "batch_decode" => batch_decode(bytes),
        other => panic!("unknown fuzz target {other}"),
    }
}

#[test]
fn fuzz_crash_inputs_stay_fixed() {
    for (target, input) in REGRESSIONS {
        run(target, input);
    }
}

/// Real files to mutate: (target, bytes).
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let vfs = MemVfs::new();
    let opts = Options::default()
        .write_buffer_size(8 << 10)
        .block_size(256)
        .block_restart_interval(4);
    let mut db = Db::open(vfs.clone(), opts).expect("open");
    for i in 0..120u32 {
        db.put(
            format!("key{i:04}").as_bytes(),
            format!("value{i}").as_bytes(),
            WriteOptions::NO_SYNC,
        )
        .expect("put");
        if i % 9 == 0 {
            db.delete(format!("key{:04}", i / 3).as_bytes(), WriteOptions::NO_SYNC)
                .expect("delete");
        }
    }
    db.flush().expect("flush");
    for i in 0..20u32 {
        db.put(format!("late{i}").as_bytes(), b"v", WriteOptions::NO_SYNC)
            .expect("put");
    }
    let mut out = Vec::new();
    for name in vfs.list().expect("list") {
        let bytes = vfs.open(&name).expect("open").read_all().expect("read");
        if name.ends_with(".wal") {
            out.push(("wal_replay", bytes.clone()));
            if bytes.len() > 16 + 9 + 12 {
                out.push(("batch_decode", bytes[16 + 9..].to_vec()));
            }
        } else if name.ends_with(".sst") {
            out.push(("sst_read", bytes.clone()));
            // The first data block (contents before its 5-byte trailer) for the block decoder.
            out.push(("block_decode", bytes[..bytes.len().min(200)].to_vec()));
            out.push(("bloom", bytes[bytes.len() / 2..].to_vec()));
        } else if name.starts_with("MANIFEST-") {
            out.push(("manifest_replay", bytes));
        }
    }
    out
}

#[test]
fn decoders_survive_random_and_mutated_inputs() {
    let mut rng = SmallRng::seed_from_u64(0xF022);
    let samples = samples();
    let mut runs = 0u64;
    for (target, base) in &samples {
        for i in 0..400 {
            let bytes: Vec<u8> = if i % 4 == 0 {
                (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect()
            } else {
                let mut b = base.clone();
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..b.len().max(1));
                    if let Some(x) = b.get_mut(at) {
                        *x ^= 1 << rng.gen_range(0..8);
                    }
                }
                if rng.gen_bool(0.2) {
                    b.truncate(rng.gen_range(0..=b.len()));
                }
                b
            };
            run(target, &bytes);
            runs += 1;
        }
    }
    eprintln!("{runs} decoder runs over {} samples", samples.len());
}
