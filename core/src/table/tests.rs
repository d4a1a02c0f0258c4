//! Table round-trip, corruption and truncation tests against a sorted-Vec model.

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cmp::Ordering;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::cache::BlockCache;
use crate::error::Error;
use crate::iter::InternalIterator;
use crate::key::{self, Kind, MAX_SEQUENCE};
use crate::table_cache::TableCache;
use cairn_vfs::{File, MemVfs, Vfs};

type MemFile = <MemVfs as Vfs>::File;
type Model = Vec<(Vec<u8>, Vec<u8>)>;

fn gen_model(seed: u64, n: usize, big_keys: bool) -> Model {
    let mut rng = SmallRng::seed_from_u64(seed);
    let long_prefix = alloc::vec![b'p'; 300];
    let mut user_keys: Vec<Vec<u8>> = Vec::new();
    for i in 0..n {
        let uk = match rng.gen_range(0..10) {
            0..=3 => {
                let len = rng.gen_range(0..12);
                (0..len).map(|_| rng.gen_range(b'a'..=b'f')).collect()
            }
            4..=5 => {
                let mut k = long_prefix.clone();
                k.extend_from_slice(format!("{:06}", rng.gen_range(0..n)).as_bytes());
                k
            }
            6 => (0..rng.gen_range(1..5)).map(|_| rng.gen()).collect(),
            _ => format!("key{:06}", i).into_bytes(),
        };
        user_keys.push(uk);
    }
    if big_keys {
        for c in [b'c', b'k', b'x'] {
            let mut k = alloc::vec![c; 64 << 10];
            k[100] = b'!';
            user_keys.push(k);
        }
    }
    let mut m: Model = Vec::new();
    for uk in &user_keys {
        // Many versions of some keys.
        let versions = if rng.gen_range(0..8) == 0 {
            rng.gen_range(2..40)
        } else {
            1
        };
        for _ in 0..versions {
            let seq = rng.gen_range(1..10_000u64);
            let (kind, value) = match rng.gen_range(0..10) {
                0 => (Kind::Delete, Vec::new()),
                1 => (Kind::Put, Vec::new()),
                2 => (Kind::Put, alloc::vec![b'z'; rng.gen_range(100..3000)]),
                _ => {
                    let len = rng.gen_range(1..40);
                    (Kind::Put, (0..len).map(|_| rng.gen()).collect())
                }
            };
            m.push((key::encode(uk, seq, kind), value));
        }
    }
    m.sort_by(|a, b| key::compare(&a.0, &b.0));
    m.dedup_by(|a, b| key::compare(&a.0, &b.0) == Ordering::Equal);
    m
}

fn build(vfs: &MemVfs, number: u64, model: &Model, opts: TableOptions) -> TableProperties {
    let file = vfs.create(&crate::filename::table(number)).unwrap();
    let mut b = TableBuilder::new(file, opts);
    for (k, v) in model {
        b.add(k, v).unwrap();
    }
    b.finish().unwrap()
}

fn open(
    vfs: &MemVfs,
    number: u64,
    cache: Option<Arc<BlockCache>>,
) -> crate::Result<Arc<Table<MemFile>>> {
    let file = vfs.open(&crate::filename::table(number)).unwrap();
    let size = file.len().unwrap();
    Table::open(file, number, size, cache).map(Arc::new)
}

/// The model's answer to `get(uk, seq)`.
fn model_get(m: &Model, uk: &[u8], seq: u64) -> Option<(u8, u64, Vec<u8>)> {
    let t = key::seek_key(uk, seq);
    let pos = m.partition_point(|e| key::compare(&e.0, &t) == Ordering::Less);
    let (k, v) = m.get(pos)?;
    (key::user_key(k) == uk).then(|| (key::kind_byte(k), key::sequence(k), v.clone()))
}

fn check_table(table: &Arc<Table<MemFile>>, m: &Model, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    // Point lookups at various sequence numbers, present and absent keys.
    for (k, _) in m.iter().step_by(3) {
        let uk = key::user_key(k);
        for seq in [
            key::sequence(k),
            key::sequence(k).saturating_sub(1),
            MAX_SEQUENCE,
            rng.gen_range(0..10_000),
        ] {
            assert_eq!(
                table.get(uk, seq).unwrap(),
                model_get(m, uk, seq),
                "get {uk:?}@{seq}"
            );
        }
        let mut absent = uk.to_vec();
        absent.push(0x00);
        assert_eq!(
            table.get(&absent, MAX_SEQUENCE).unwrap(),
            model_get(m, &absent, MAX_SEQUENCE)
        );
    }
    // Full forward and reverse iteration.
    let mut it = table.iter(true);
    it.seek_to_first().unwrap();
    for (k, v) in m {
        assert!(it.valid());
        assert_eq!((it.key(), it.value()), (&k[..], &v[..]));
        it.next().unwrap();
    }
    assert!(!it.valid());
    it.seek_to_last().unwrap();
    for (k, v) in m.iter().rev() {
        assert!(it.valid());
        assert_eq!((it.key(), it.value()), (&k[..], &v[..]));
        it.prev().unwrap();
    }
    assert!(!it.valid());
    // Random seeks with direction switches.
    for _ in 0..300 {
        let target = if rng.gen_bool(0.5) && !m.is_empty() {
            let (k, _) = &m[rng.gen_range(0..m.len())];
            let mut t = key::user_key(k).to_vec();
            if rng.gen_bool(0.3) {
                t.push(rng.gen());
            }
            key::seek_key(&t, rng.gen_range(0..10_000))
        } else {
            let len = rng.gen_range(0..6);
            let t: Vec<u8> = (0..len).map(|_| rng.gen_range(b'a'..=b'g')).collect();
            key::encode(&t, rng.gen_range(0..10_000), Kind::Put)
        };
        let lo = m.partition_point(|e| key::compare(&e.0, &target) == Ordering::Less);
        let hi = m.partition_point(|e| key::compare(&e.0, &target) != Ordering::Greater);
        let mut pos: isize;
        if rng.gen_bool(0.5) {
            it.seek(&target).unwrap();
            pos = lo as isize;
        } else {
            it.seek_for_prev(&target).unwrap();
            pos = hi as isize - 1;
        }
        for _ in 0..rng.gen_range(0..12) {
            let expect = usize::try_from(pos).ok().and_then(|p| m.get(p));
            match expect {
                Some((k, v)) => {
                    assert!(it.valid(), "expected {k:?}");
                    assert_eq!((it.key(), it.value()), (&k[..], &v[..]));
                }
                None => {
                    assert!(!it.valid());
                    break;
                }
            }
            if rng.gen_bool(0.5) {
                it.next().unwrap();
                pos += 1;
            } else {
                it.prev().unwrap();
                pos -= 1;
            }
        }
    }
}

fn opts(
    block_size: usize,
    restart: usize,
    bloom: u32,
    compression: bool,
    prefix: Option<usize>,
) -> TableOptions {
    TableOptions {
        block_size,
        restart_interval: restart,
        bloom_bits_per_key: bloom,
        compression,
        prefix_len: prefix,
    }
}

#[test]
fn round_trip_against_model() {
    let configs = [
        opts(4096, 16, 10, true, None),
        opts(256, 1, 10, false, Some(3)),
        opts(1024, 4, 0, true, Some(2)),
        opts(64 << 10, 16, 10, true, None),
    ];
    for (i, o) in configs.into_iter().enumerate() {
        let seed = 100 + i as u64;
        let m = gen_model(seed, 1500, i % 2 == 0);
        let vfs = MemVfs::new();
        let props = build(&vfs, 7, &m, o.clone());
        assert_eq!(props.num_entries, m.len() as u64);
        let tombstones = m.iter().filter(|e| key::kind_byte(&e.0) == 0).count() as u64;
        assert_eq!(props.num_tombstones, tombstones);
        assert_eq!(props.smallest_key, m[0].0);
        assert_eq!(props.largest_key, m[m.len() - 1].0);
        assert_eq!(
            props.min_seq,
            m.iter().map(|e| key::sequence(&e.0)).min().unwrap()
        );
        assert_eq!(
            props.max_seq,
            m.iter().map(|e| key::sequence(&e.0)).max().unwrap()
        );
        assert_eq!(
            props.raw_value_bytes,
            m.iter().map(|e| e.1.len() as u64).sum::<u64>()
        );
        let cache = Arc::new(BlockCache::new(1 << 20));
        let table = open(&vfs, 7, Some(cache.clone())).unwrap();
        assert_eq!(table.properties(), &props);
        assert_eq!(
            props.file_size,
            vfs.open("000007.sst").unwrap().len().unwrap()
        );
        check_table(&table, &m, seed);
        let report = table.verify().unwrap();
        assert_eq!(report.entries, m.len() as u64);
        assert_eq!(report.data_blocks, props.num_data_blocks);
        // Lookups went through the cache.
        let s = cache.stats();
        assert!(s.hits > 0 && s.inserts > 0, "{s:?}");
        // Bloom: every present user key passes; prefix filter when configured.
        for (k, _) in &m {
            assert!(table.may_contain(key::user_key(k)));
            if let Some(n) = o.prefix_len {
                let uk = key::user_key(k);
                if uk.len() >= n {
                    assert!(table.may_contain_prefix(&uk[..n]));
                    assert!(table.may_contain_prefix(uk));
                }
                // Shorter prefixes cannot be ruled out.
                assert!(table.may_contain_prefix(&uk[..uk.len().min(n - 1)]));
            }
        }
        if let (Some(n), true) = (o.prefix_len, o.bloom_bits_per_key > 0) {
            let absent = (0..2000u32)
                .filter(|i| table.may_contain_prefix(&i.to_be_bytes()[4 - n..]))
                .filter(|i| {
                    !m.iter()
                        .any(|e| key::user_key(&e.0).starts_with(&i.to_be_bytes()[4 - n..]))
                })
                .count();
            assert!(absent < 200, "{absent} prefix false positives");
        }
        if o.bloom_bits_per_key > 0 {
            let absent = (0..2000)
                .filter(|i| table.may_contain(format!("absent{i}").as_bytes()))
                .count();
            assert!(absent < 100, "{absent} false positives of 2000");
        }
        // Uncached iteration (compaction) does not fill the cache.
        let c2 = Arc::new(BlockCache::new(1 << 20));
        let t2 = open(&vfs, 7, Some(c2.clone())).unwrap();
        let mut it = t2.iter(false);
        it.seek_to_first().unwrap();
        while it.valid() {
            it.next().unwrap();
        }
        assert_eq!(c2.stats().inserts, 0);
    }
}

#[test]
fn empty_table_and_single_key() {
    let vfs = MemVfs::new();
    build(&vfs, 1, &Vec::new(), TableOptions::default());
    let t = open(&vfs, 1, None).unwrap();
    assert_eq!(t.properties().num_entries, 0);
    assert_eq!(t.get(b"a", MAX_SEQUENCE).unwrap(), None);
    let mut it = t.iter(true);
    it.seek_to_first().unwrap();
    assert!(!it.valid());
    it.seek_for_prev(&key::seek_key(b"z", 1)).unwrap();
    assert!(!it.valid());
    t.verify().unwrap();

    let m = alloc::vec![(key::encode(b"", 5, Kind::Put), b"empty user key".to_vec())];
    build(&vfs, 2, &m, TableOptions::default());
    let t = open(&vfs, 2, None).unwrap();
    check_table(&t, &m, 1);
}

#[test]
fn builder_rejects_unordered_keys() {
    let vfs = MemVfs::new();
    let file = vfs.create("000001.sst").unwrap();
    let mut b = TableBuilder::new(file, TableOptions::default());
    b.add(&key::encode(b"b", 5, Kind::Put), b"v").unwrap();
    assert!(matches!(
        b.add(&key::encode(b"a", 5, Kind::Put), b"v"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        b.add(&key::encode(b"b", 5, Kind::Put), b"v"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        b.add(&key::encode(b"b", 6, Kind::Put), b"v"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        b.add(b"short", b"v"),
        Err(Error::InvalidArgument(_))
    ));
    b.add(&key::encode(b"b", 4, Kind::Put), b"v").unwrap();
    assert!(b.estimated_size() > 0);
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn table_is_send_and_sync() {
    assert_send_sync::<Table<MemFile>>();
    assert_send_sync::<TableCache<MemVfs>>();
    assert_send_sync::<BlockCache>();
}

/// Opens a damaged copy and checks: errors are typed, answers are right or errors, and
/// `verify` rejects the file.
fn check_damaged(bytes: Vec<u8>, m: &Model, claimed_size: u64, must_fail_verify: bool) {
    let vfs = MemVfs::new();
    vfs.put_file("000003.sst", bytes);
    let file = vfs.open("000003.sst").unwrap();
    let cache = Some(Arc::new(BlockCache::new(4 << 20)));
    let table = match Table::open(file, 3, claimed_size, cache) {
        Ok(t) => Arc::new(t),
        Err(Error::Corruption { file, .. }) => {
            assert_eq!(file, "000003.sst");
            return;
        }
        Err(Error::UnsupportedFormat(_)) | Err(Error::Io(_)) => return,
        Err(e) => panic!("unexpected error kind {e:?}"),
    };
    for (k, _) in m.iter().step_by(3) {
        let uk = key::user_key(k);
        if let Ok(got) = table.get(uk, MAX_SEQUENCE) {
            assert_eq!(
                got,
                model_get(m, uk, MAX_SEQUENCE),
                "wrong answer for {uk:?}"
            );
        }
    }
    let mut it = table.iter(false);
    let mut i = 0;
    let mut r = it.seek_to_first();
    while r.is_ok() && it.valid() {
        assert_eq!((it.key(), it.value()), (&m[i].0[..], &m[i].1[..]));
        i += 1;
        r = it.next();
    }
    if r.is_ok() {
        assert_eq!(i, m.len(), "iteration ended early without an error");
    }
    let mut r = it.seek_to_last();
    let mut i = m.len();
    while r.is_ok() && it.valid() {
        i -= 1;
        assert_eq!((it.key(), it.value()), (&m[i].0[..], &m[i].1[..]));
        r = it.prev();
    }
    match table.verify() {
        Ok(_) => assert!(!must_fail_verify, "verify accepted a damaged table"),
        Err(Error::Corruption { file, .. }) => assert_eq!(file, "000003.sst"),
        Err(e) => panic!("unexpected verify error {e:?}"),
    }
}

#[test]
fn every_bit_flip_is_detected_in_a_small_table() {
    let m = gen_model(7, 20, false);
    let m: Model = m
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().take(30).collect()))
        .collect();
    let vfs = MemVfs::new();
    build(&vfs, 3, &m, opts(256, 4, 10, true, Some(2)));
    let good = vfs.open("000003.sst").unwrap().read_all().unwrap();
    std::println!("small table: {} bytes, {} entries", good.len(), m.len());
    check_damaged(good.clone(), &m, good.len() as u64, false);
    for bit in 0..good.len() * 8 {
        let mut bytes = good.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        check_damaged(bytes, &m, good.len() as u64, true);
    }
}

#[test]
fn sampled_bit_flips_in_a_larger_table() {
    let m = gen_model(8, 1000, false);
    let vfs = MemVfs::new();
    build(&vfs, 3, &m, opts(4096, 16, 10, true, Some(3)));
    let good = vfs.open("000003.sst").unwrap().read_all().unwrap();
    std::println!("larger table: {} bytes, {} entries", good.len(), m.len());
    let mut rng = SmallRng::seed_from_u64(99);
    let total = good.len() * 8;
    // All of the last 2 KiB (filters' end, index, properties, footer), plus a random sample.
    let tail: Vec<usize> = ((total.saturating_sub(2048 * 8))..total)
        .step_by(13)
        .collect();
    let sample: Vec<usize> = (0..300).map(|_| rng.gen_range(0..total)).collect();
    for bit in tail.into_iter().chain(sample) {
        let mut bytes = good.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        check_damaged(bytes, &m, good.len() as u64, true);
    }
}

#[test]
fn truncated_files_are_rejected() {
    let m = gen_model(9, 200, false);
    let vfs = MemVfs::new();
    build(&vfs, 3, &m, opts(512, 16, 10, true, None));
    let good = vfs.open("000003.sst").unwrap().read_all().unwrap();
    for len in (0..good.len())
        .step_by(7)
        .chain(good.len() - 100..good.len())
    {
        let short = good[..len].to_vec();
        // The manifest's size (file shorter than expected) and the file's own size.
        for claimed in [good.len() as u64, len as u64] {
            let vfs = MemVfs::new();
            vfs.put_file("000003.sst", short.clone());
            let file = vfs.open("000003.sst").unwrap();
            match Table::open(file, 3, claimed, None) {
                Err(Error::Corruption { .. }) | Err(Error::UnsupportedFormat(_)) => {}
                other => panic!("truncation to {len} (claimed {claimed}) gave {other:?}"),
            }
        }
    }
}

#[test]
fn wrong_magic_and_version() {
    let vfs = MemVfs::new();
    build(&vfs, 3, &gen_model(1, 20, false), TableOptions::default());
    let good = vfs.open("000003.sst").unwrap().read_all().unwrap();
    let n = good.len();
    let mut bad = good.clone();
    bad[n - 1] ^= 0x20;
    vfs.put_file("000004.sst", bad);
    match open(&vfs, 4, None) {
        Err(Error::Corruption { detail, .. }) => assert!(detail.contains("not a Cairn table")),
        other => panic!("{other:?}"),
    }
    let mut v2 = good.clone();
    v2[n - 12..n - 8].copy_from_slice(&3u32.to_le_bytes());
    vfs.put_file("000005.sst", v2);
    assert!(matches!(
        open(&vfs, 5, None),
        Err(Error::UnsupportedFormat(_))
    ));
}

#[test]
fn table_cache_bounds_open_tables() {
    let vfs = MemVfs::new();
    let mut sizes = Vec::new();
    let models: Vec<Model> = (0..5).map(|i| gen_model(200 + i, 100, false)).collect();
    for (i, m) in models.iter().enumerate() {
        sizes.push(build(&vfs, i as u64 + 1, m, TableOptions::default()).file_size);
    }
    let bc = Arc::new(BlockCache::new(1 << 20));
    let tc = TableCache::new(vfs.clone(), Some(bc.clone()), 2);
    for round in 0..3 {
        for (i, m) in models.iter().enumerate() {
            let t = tc.get(i as u64 + 1, sizes[i]).unwrap();
            assert_eq!(t.file_number(), i as u64 + 1);
            let (k, v) = &m[round * 7 % m.len()];
            let got = t.get(key::user_key(k), MAX_SEQUENCE).unwrap().unwrap();
            assert_eq!(got, model_get(m, key::user_key(k), MAX_SEQUENCE).unwrap());
            let _ = v;
            assert!(tc.len() <= 2);
        }
    }
    let a = tc.get(5, sizes[4]).unwrap();
    let b = tc.get(5, sizes[4]).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    tc.evict(5);
    assert_eq!(tc.len(), 1);
    assert!(matches!(tc.get(99, 100), Err(Error::Io(_))));
}
