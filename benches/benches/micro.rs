//! Criterion micro-benchmarks of Cairn's hot paths: memtable insert and lookup, WAL append
//! (MemVfs, no sync), block build and decode, bloom build and probe, SSTable point lookup
//! with a warm block cache, and the merging iterator's step.
//!
//! `cargo bench -p cairn-bench` runs them all in a few minutes (2 s of measurement each).

use cairn_bench::workload::{self, key, missing_key, VALUE_LEN};
use cairn_core::cache::BlockCache;
use cairn_core::iter::{InternalIterator, MergingIterator};
use cairn_core::key::{self as ikey, Kind};
use cairn_core::memtable::{Memtable, MemtableIter};
use cairn_core::table::block::{Block, BlockBuilder};
use cairn_core::table::bloom::{BloomFilter, FilterBuilder};
use cairn_core::table::builder::{TableBuilder, TableOptions};
use cairn_core::table::reader::Table;
use cairn_core::wal::WalWriter;
use cairn_vfs::{File, MemVfs, Vfs};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

const N: u64 = 100_000;

fn value(i: u64) -> [u8; VALUE_LEN] {
    let mut v = [0u8; VALUE_LEN];
    workload::fill_value(&mut workload::rng(1, i), &mut v);
    v
}

fn filled_memtable(n: u64) -> Memtable {
    let mut m = Memtable::new();
    for (seq, i) in workload::permutation(n, 3).into_iter().enumerate() {
        m.insert(&key(i), seq as u64 + 1, Kind::Put, &value(i));
    }
    m
}

fn memtable(c: &mut Criterion) {
    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(1));
    // Inserts into a memtable that grows to N entries, then starts over (setup untimed).
    g.bench_function("insert_random_100k", |b| {
        let perm = workload::permutation(N, 4);
        let v = value(0);
        let mut m = Memtable::new();
        let mut i = 0usize;
        b.iter(|| {
            if i == perm.len() {
                m = Memtable::new();
                i = 0;
            }
            m.insert(&key(perm[i]), i as u64 + 1, Kind::Put, &v);
            i += 1;
        })
    });
    let m = filled_memtable(N);
    let mut rng = workload::rng(5, 0);
    g.bench_function("get_hit_100k", |b| {
        b.iter(|| {
            let k = key(rng.gen_range(0..N));
            black_box(m.get(&k, u64::MAX >> 8))
        })
    });
    g.bench_function("get_miss_100k", |b| {
        b.iter(|| {
            let k = missing_key(rng.gen_range(0..N));
            black_box(m.get(&k, u64::MAX >> 8))
        })
    });
    g.finish();
}

fn wal(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal");
    // One record of one put (key + value + batch header), as a single unsynced put writes.
    let payload = vec![0x42u8; 16 + VALUE_LEN + 20];
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("append_136B_memvfs", |b| {
        let vfs = MemVfs::new();
        let mut n = 0u64;
        let new_writer = |n: u64| {
            let f = vfs.create(&format!("{n}.wal")).expect("create");
            WalWriter::create(f, n).expect("wal")
        };
        let mut w = new_writer(n);
        let mut count = 0u64;
        b.iter(|| {
            // Start a new file every 64 MiB so memory stays bounded.
            if count == 500_000 {
                let _ = vfs.remove(&format!("{n}.wal"));
                n += 1;
                w = new_writer(n);
                count = 0;
            }
            w.append(black_box(&payload)).expect("append");
            count += 1;
        })
    });
    g.finish();
}

/// Internal keys and values of one 4 KiB-ish block (32 entries of 24 + 100 bytes).
fn block_entries() -> Vec<(Vec<u8>, [u8; VALUE_LEN])> {
    (0..32u64)
        .map(|i| (ikey::encode(&key(i), 1000 + i, Kind::Put), value(i)))
        .collect()
}

fn block(c: &mut Criterion) {
    let mut g = c.benchmark_group("block");
    let entries = block_entries();
    g.throughput(Throughput::Elements(entries.len() as u64));
    let mut bb = BlockBuilder::new(16);
    g.bench_function("build_32x124B", |b| {
        b.iter(|| {
            bb.reset();
            for (k, v) in &entries {
                bb.add(k, v);
            }
            black_box(bb.finish().len())
        })
    });
    let mut bb = BlockBuilder::new(16);
    for (k, v) in &entries {
        bb.add(k, v);
    }
    let contents = bb.finish().to_vec();
    // Decode = validate + iterate every entry.
    g.bench_function("decode_and_scan_32", |b| {
        b.iter_batched(
            || contents.clone(),
            |data| {
                let blk = Arc::new(Block::new(data, 1, 0).expect("block"));
                let mut it = blk.iter();
                it.seek_to_first().expect("seek");
                let mut n = 0;
                while it.valid() {
                    n += it.value().len();
                    it.next().expect("next");
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    let blk = Arc::new(Block::new(contents, 1, 0).expect("block"));
    g.throughput(Throughput::Elements(1));
    let mut rng = workload::rng(6, 0);
    g.bench_function("seek_in_block", |b| {
        b.iter(|| {
            let i = rng.gen_range(0..32u64);
            let target = ikey::seek_key(&key(i), u64::MAX >> 8);
            let mut it = blk.iter();
            it.seek(&target).expect("seek");
            black_box(it.valid())
        })
    });
    g.finish();
}

fn bloom(c: &mut Criterion) {
    let mut g = c.benchmark_group("bloom");
    let keys: Vec<[u8; 16]> = (0..10_000).map(key).collect();
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("build_10k_keys_10bpk", |b| {
        b.iter(|| {
            let mut f = FilterBuilder::new(10);
            for k in &keys {
                f.add(k);
            }
            black_box(f.finish())
        })
    });
    let mut f = FilterBuilder::new(10);
    for k in &keys {
        f.add(k);
    }
    let filter = BloomFilter::new(f.finish());
    g.throughput(Throughput::Elements(1));
    let mut rng = workload::rng(7, 0);
    g.bench_function("probe_hit", |b| {
        b.iter(|| black_box(filter.may_contain(&key(rng.gen_range(0..10_000)))))
    });
    g.bench_function("probe_miss", |b| {
        b.iter(|| black_box(filter.may_contain(&missing_key(rng.gen_range(0..10_000)))))
    });
    g.finish();
}

fn sst(c: &mut Criterion) {
    let mut g = c.benchmark_group("sst");
    let vfs = MemVfs::new();
    let file = vfs.create("000001.sst").expect("create");
    let mut tb = TableBuilder::new(Arc::clone(&file), TableOptions::default());
    for i in 0..N {
        tb.add(&ikey::encode(&key(i), i + 1, Kind::Put), &value(i))
            .expect("add");
    }
    tb.finish().expect("finish");
    let size = file.len().expect("len");
    let cache = Arc::new(BlockCache::new(64 << 20));
    let table = Table::open(file, 1, size, Some(cache)).expect("open");
    for i in 0..N {
        table.get(&key(i), u64::MAX >> 8).expect("warm");
    }
    g.throughput(Throughput::Elements(1));
    let mut rng = workload::rng(8, 0);
    g.bench_function("get_hit_cached_100k", |b| {
        b.iter(|| {
            let k = key(rng.gen_range(0..N));
            black_box(table.get(&k, u64::MAX >> 8).expect("get"))
        })
    });
    g.bench_function("get_miss_100k", |b| {
        b.iter(|| {
            let k = missing_key(rng.gen_range(0..N));
            black_box(table.get(&k, u64::MAX >> 8).expect("get"))
        })
    });
    g.finish();
}

fn merging_iter(c: &mut Criterion) {
    let mut g = c.benchmark_group("merging_iter");
    // Four memtables holding interleaved keys (i % 4 == t).
    let tables: Vec<Memtable> = (0..4u64)
        .map(|t| {
            let mut m = Memtable::new();
            for i in (t..N).step_by(4) {
                m.insert(&key(i), i + 1, Kind::Put, &value(i));
            }
            m
        })
        .collect();
    let children = || -> Vec<Box<dyn InternalIterator + '_>> {
        tables
            .iter()
            .map(|m| Box::new(MemtableIter::new(m)) as Box<dyn InternalIterator + '_>)
            .collect()
    };
    let mut it = MergingIterator::new(children());
    it.seek_to_first().expect("seek");
    g.throughput(Throughput::Elements(1));
    g.bench_function("next_4_children", |b| {
        b.iter(|| {
            if !it.valid() {
                it.seek_to_first().expect("seek");
            }
            it.next().expect("next");
            black_box(it.valid())
        })
    });
    let mut rng = workload::rng(9, 0);
    let mut it = MergingIterator::new(children());
    g.bench_function("seek_4_children", |b| {
        b.iter(|| {
            let target = ikey::seek_key(&key(rng.gen_range(0..N)), u64::MAX >> 8);
            it.seek(&target).expect("seek");
            black_box(it.valid())
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = micro;
    config = config();
    targets = memtable, wal, block, bloom, sst, merging_iter
}
criterion_main!(micro);
