//! Model-based and edge-case tests for the memtable.
#![allow(clippy::unwrap_used)]

use super::*;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec;
use core::cmp::Reverse;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Model key: orders exactly like `key::compare` (user key ascending, trailer descending).
type MKey = (Vec<u8>, Reverse<u64>);
type Model = BTreeMap<MKey, (Kind, Vec<u8>)>;

fn mkey(ikey: &[u8]) -> MKey {
    (key::user_key(ikey).to_vec(), Reverse(key::trailer(ikey)))
}

fn ikey_of(k: &MKey) -> Vec<u8> {
    let mut v = k.0.clone();
    v.extend_from_slice(&k.1 .0.to_le_bytes());
    v
}

/// A key space full of edge cases: the empty key, keys sharing an 8-byte prefix, keys that
/// are prefixes of others, keys with zero bytes (which the zero-padded prefix must not
/// confuse), and 0xFF bytes.
fn key_space() -> Vec<Vec<u8>> {
    let mut ks: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\0".to_vec(),
        b"\0\0".to_vec(),
        b"a".to_vec(),
        b"a\0".to_vec(),
        b"ab".to_vec(),
        b"abcdefg".to_vec(),
        b"abcdefgh".to_vec(),
        b"abcdefgh\0".to_vec(),
        b"abcdefghi".to_vec(),
        b"abcdefghij".to_vec(),
        b"abcdefgi".to_vec(),
        b"b".to_vec(),
        b"zzzzzzzzzzzzzzzzzzzz".to_vec(),
        vec![0xFF; 9],
        vec![0xFF; 8],
    ];
    for i in 0..16u32 {
        ks.push(alloc::format!("key{:04}", i * 7).into_bytes());
    }
    ks
}

fn collect_forward<M: Deref<Target = Memtable>>(
    it: &mut MemtableIter<M>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    it.seek_to_first().unwrap();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next().unwrap();
    }
    out
}

fn collect_backward<M: Deref<Target = Memtable>>(
    it: &mut MemtableIter<M>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    it.seek_to_last().unwrap();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev().unwrap();
    }
    out
}

fn model_entries(model: &Model) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .iter()
        .map(|(k, (_, v))| (ikey_of(k), v.clone()))
        .collect()
}

fn model_get(model: &Model, uk: &[u8], seq: u64) -> Option<(Kind, Vec<u8>)> {
    let from = (uk.to_vec(), Reverse(key::pack_trailer(seq, Kind::SEEK)));
    model
        .range(from..)
        .next()
        .filter(|(k, _)| k.0 == uk)
        .map(|(_, (kind, v))| (*kind, v.clone()))
}

/// Builds a memtable and its model from random inserts.
fn build(seed: u64, n: u64, shuffled_seqs: bool) -> (Memtable, Model, Vec<Vec<u8>>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys = key_space();
    let mut seqs: Vec<u64> = (1..=n).collect();
    if shuffled_seqs {
        seqs.shuffle(&mut rng);
    }
    let mut mem = Memtable::new();
    let mut model = Model::new();
    for seq in seqs {
        let uk = &keys[rng.gen_range(0..keys.len())];
        let (kind, value) = if rng.gen_ratio(1, 4) {
            (Kind::Delete, Vec::new())
        } else {
            let len = rng.gen_range(0..40);
            let v: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            (Kind::Put, v)
        };
        mem.insert(uk, seq, kind, &value);
        model.insert(
            (uk.clone(), Reverse(key::pack_trailer(seq, kind as u8))),
            (kind, value),
        );
    }
    (mem, model, keys)
}

/// A random seek target: a user key from the space (or random bytes, or too short to hold a
/// trailer) with a random sequence number and kind byte.
fn random_target(rng: &mut SmallRng, keys: &[Vec<u8>], max_seq: u64) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0 => (0..rng.gen_range(0..TRAILER_LEN))
            .map(|_| rng.gen())
            .collect(),
        1 => {
            let len = rng.gen_range(0..12);
            let uk: Vec<u8> = (0..len).map(|_| rng.gen_range(0..4u8) * 0x3F).collect();
            let kind = rng.gen();
            let mut v = uk;
            v.extend_from_slice(
                &key::pack_trailer(rng.gen_range(0..=max_seq + 1), kind).to_le_bytes(),
            );
            v
        }
        _ => {
            let uk = &keys[rng.gen_range(0..keys.len())];
            let kind = [0u8, 1, Kind::SEEK, rng.gen()][rng.gen_range(0..4)];
            let mut v = uk.clone();
            v.extend_from_slice(
                &key::pack_trailer(rng.gen_range(0..=max_seq + 1), kind).to_le_bytes(),
            );
            v
        }
    }
}

#[test]
fn model_random_inserts_get_iterate_seek() {
    for seed in 0..8u64 {
        let n = 3000;
        let (mem, model, keys) = build(seed, n, seed % 2 == 1);
        assert_eq!(mem.len(), model.len());
        assert_eq!(mem.min_seq(), Some(1));
        assert_eq!(mem.max_seq(), Some(n));
        let mut rng = SmallRng::seed_from_u64(seed ^ 0xABCD);

        // Point lookups at random snapshots.
        for _ in 0..3000 {
            let uk = &keys[rng.gen_range(0..keys.len())];
            let seq = rng.gen_range(0..=n + 1);
            let got = mem.get(uk, seq).map(|(k, v)| (k, v.to_vec()));
            assert_eq!(
                got,
                model_get(&model, uk, seq),
                "seed {seed} key {uk:?} seq {seq}"
            );
        }
        assert_eq!(mem.get(b"not there", n), None);
        let owned = |r: Option<(Kind, &[u8])>| r.map(|(k, v)| (k, v.to_vec()));
        let newest = model_get(&model, b"a", key::MAX_SEQUENCE);
        assert_eq!(owned(mem.get(b"a", key::MAX_SEQUENCE)), newest);
        assert_eq!(owned(mem.get(b"a", u64::MAX)), newest);

        // Full scans both ways.
        let expected = model_entries(&model);
        let mut it = mem.iter();
        assert_eq!(collect_forward(&mut it), expected, "seed {seed}");
        let mut rev = expected.clone();
        rev.reverse();
        assert_eq!(collect_backward(&mut it), rev, "seed {seed}");

        // Seeks.
        for _ in 0..2000 {
            let target = random_target(&mut rng, &keys, n);
            let t = mkey(&target);
            it.seek(&target).unwrap();
            let want = model.range(t.clone()..).next().map(|(k, _)| ikey_of(k));
            assert_eq!(
                it.valid().then(|| it.key().to_vec()),
                want,
                "seek {target:?}"
            );
            it.seek_for_prev(&target).unwrap();
            let want = model.range(..=t).next_back().map(|(k, _)| ikey_of(k));
            assert_eq!(
                it.valid().then(|| it.key().to_vec()),
                want,
                "seek_for_prev {target:?}"
            );
        }

        // Random walks with direction changes, checked against positions in the model.
        for _ in 0..200 {
            let target = random_target(&mut rng, &keys, n);
            let t = mkey(&target);
            let mut pos: Option<usize> = if rng.gen() {
                it.seek(&target).unwrap();
                let p = model.range(..t).count();
                (p < expected.len()).then_some(p)
            } else {
                it.seek_for_prev(&target).unwrap();
                model.range(..=t).count().checked_sub(1)
            };
            for _ in 0..30 {
                match pos {
                    None => {
                        assert!(!it.valid());
                        break;
                    }
                    Some(p) => {
                        assert!(it.valid());
                        assert_eq!((it.key().to_vec(), it.value().to_vec()), expected[p]);
                        if rng.gen() {
                            it.next().unwrap();
                            pos = (p + 1 < expected.len()).then_some(p + 1);
                        } else {
                            it.prev().unwrap();
                            pos = p.checked_sub(1);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn sorted_reverse_and_interleaved_insert_orders() {
    // Sequential (splice fast path), reverse and zig-zag insert orders all give the same list.
    let n = 5000u32;
    let key = |i: u32| alloc::format!("k{:08}", i).into_bytes();
    let orders: Vec<Vec<u32>> = vec![
        (0..n).collect(),
        (0..n).rev().collect(),
        (0..n)
            .map(|i| if i % 2 == 0 { i / 2 } else { n - 1 - i / 2 })
            .collect(),
        (0..n).map(|i| (i % 100) * 50 + i / 100).collect(),
    ];
    for order in orders {
        let mut mem = Memtable::new();
        let mut model = Model::new();
        for (s, &i) in order.iter().enumerate() {
            // Several versions of the same key in increasing seq order, too.
            let seq = s as u64 + 1;
            let v = alloc::format!("v{i}-{seq}").into_bytes();
            mem.insert(&key(i / 2), seq, Kind::Put, &v);
            model.insert(
                (key(i / 2), Reverse(key::pack_trailer(seq, 1))),
                (Kind::Put, v),
            );
        }
        let mut it = mem.iter();
        let expected = model_entries(&model);
        assert_eq!(collect_forward(&mut it), expected);
        let mut rev = expected;
        rev.reverse();
        assert_eq!(collect_backward(&mut it), rev);
        for i in (0..n / 2).step_by(37) {
            assert_eq!(
                mem.get(&key(i), u64::MAX).map(|(k, v)| (k, v.to_vec())),
                model_get(&model, &key(i), key::MAX_SEQUENCE)
            );
        }
    }
}

#[test]
fn empty_memtable() {
    let mem = Memtable::default();
    assert!(mem.is_empty());
    assert_eq!(mem.len(), 0);
    assert_eq!((mem.min_seq(), mem.max_seq()), (None, None));
    assert_eq!(mem.get(b"", u64::MAX), None);
    let mut it = mem.iter();
    assert!(!it.valid());
    it.seek_to_first().unwrap();
    assert!(!it.valid());
    it.seek_to_last().unwrap();
    assert!(!it.valid());
    it.seek(b"").unwrap();
    assert!(!it.valid());
    it.seek_for_prev(&key::seek_key(b"zz", 5)).unwrap();
    assert!(!it.valid());
    assert_eq!(it.key(), b"");
    assert!(mem.approximate_memory() > 0);
    assert!(alloc::format!("{mem:?}").contains("len: 0"));
}

#[test]
fn empty_keys_values_and_huge_entries() {
    let mut mem = Memtable::new();
    let big_key = vec![0x5Au8; 64 << 10];
    let big_value: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let mid_value = vec![7u8; 200 << 10]; // above the dedicated-chunk threshold
    mem.insert(b"", 1, Kind::Put, b"");
    mem.insert(b"", 2, Kind::Put, b"empty-key");
    mem.insert(b"e", 3, Kind::Put, b"");
    mem.insert(&big_key, 4, Kind::Put, b"big key");
    mem.insert(b"bigval", 5, Kind::Put, &big_value);
    mem.insert(b"small", 6, Kind::Put, b"after big");
    mem.insert(b"mid", 7, Kind::Put, &mid_value);
    mem.insert(b"e", 8, Kind::Delete, b"");
    mem.insert(&big_key, 9, Kind::Put, &big_value);

    assert_eq!(mem.get(b"", 1), Some((Kind::Put, &b""[..])));
    assert_eq!(mem.get(b"", 9), Some((Kind::Put, &b"empty-key"[..])));
    assert_eq!(mem.get(b"", 0), None);
    assert_eq!(mem.get(b"e", 7), Some((Kind::Put, &b""[..])));
    assert_eq!(mem.get(b"e", 8), Some((Kind::Delete, &b""[..])));
    assert_eq!(mem.get(&big_key, 8), Some((Kind::Put, &b"big key"[..])));
    assert_eq!(mem.get(&big_key, 9), Some((Kind::Put, &big_value[..])));
    assert_eq!(mem.get(b"bigval", 9), Some((Kind::Put, &big_value[..])));
    assert_eq!(mem.get(b"mid", 9), Some((Kind::Put, &mid_value[..])));
    assert_eq!(mem.get(b"small", 9), Some((Kind::Put, &b"after big"[..])));
    assert_eq!(mem.len(), 9);

    let mut it = mem.iter();
    it.seek_to_first().unwrap();
    assert_eq!(it.key(), &key::encode(b"", 2, Kind::Put)[..]);
    it.seek(&key::seek_key(&big_key, 100)).unwrap();
    assert_eq!(it.key(), &key::encode(&big_key, 9, Kind::Put)[..]);
    assert_eq!(it.value(), &big_value[..]);
    it.next().unwrap();
    assert_eq!(it.key(), &key::encode(&big_key, 4, Kind::Put)[..]);
    it.prev().unwrap();
    assert_eq!(it.value().len(), big_value.len());
    let all = collect_forward(&mut it);
    assert_eq!(all.len(), 9);
    assert!(all
        .windows(2)
        .all(|w| key::compare(&w[0].0, &w[1].0) == Ordering::Less));

    // Memory accounts for the big entries.
    let payload = 2 * big_value.len() + mid_value.len() + 2 * big_key.len();
    assert!(mem.approximate_memory() >= payload);
    assert!(mem.approximate_memory() < payload + (256 << 10));
}

#[test]
fn approximate_memory_tracks_payload() {
    let mut mem = Memtable::new();
    let n = 200_000u64;
    let mut last = mem.approximate_memory();
    let start = last;
    let mut payload = 0usize;
    let value = [0xABu8; 100];
    let mut rng = SmallRng::seed_from_u64(7);
    for seq in 1..=n {
        let k: [u8; 16] = rng.gen();
        mem.insert(&k, seq, Kind::Put, &value);
        payload += k.len() + value.len();
        let m = mem.approximate_memory();
        assert!(m >= last, "memory must not shrink");
        last = m;
        if seq % 1000 == 0 {
            assert!(
                m <= 2 * payload + start,
                "{m} bytes held for {payload} payload bytes"
            );
        }
    }
    assert!(last > start + payload);
    let used_index = mem.leaves.len() * core::mem::size_of::<Leaf>()
        + mem.inners.len() * core::mem::size_of::<Inner>();
    let used_arena: usize = mem.arena.chunks.iter().map(Vec::len).sum();
    std::println!(
        "16B keys/100B values: {:.1} bytes held/entry ({:.1} overhead over 116 payload); \
         used: arena {:.1}/entry, index {:.1}/entry",
        last as f64 / n as f64,
        (last - payload) as f64 / n as f64,
        used_arena as f64 / n as f64,
        used_index as f64 / n as f64,
    );
    assert!(last <= 2 * payload);
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "WASI has no threads")]
fn arc_iterator_is_send_and_static() {
    fn assert_send_static<T: Send + 'static>() {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_static::<MemtableIter<Arc<Memtable>>>();
    assert_send_sync::<Memtable>();
    const _: fn() = || {
        fn check<T: Send + Sync + 'static>() {}
        check::<MemtableIter<Arc<Memtable>>>();
    };

    let mut mem = Memtable::new();
    for i in 0..1000u32 {
        mem.insert(
            &i.to_be_bytes(),
            u64::from(i) + 1,
            Kind::Put,
            &i.to_le_bytes(),
        );
    }
    let shared = Arc::new(mem);
    let mut it = MemtableIter::new(Arc::clone(&shared));
    let handle = std::thread::spawn(move || {
        let mut n = 0u32;
        it.seek_to_first().unwrap();
        while it.valid() {
            assert_eq!(it.key()[..4], n.to_be_bytes());
            assert_eq!(it.value(), &n.to_le_bytes()[..]);
            n += 1;
            it.next().unwrap();
        }
        it.seek_to_last().unwrap();
        assert_eq!(it.value(), &999u32.to_le_bytes()[..]);
        n
    });
    assert_eq!(handle.join().unwrap(), 1000);
    assert_eq!(shared.iter().memtable().len(), 1000);
}

// ---- B+tree structure ----

/// Checks the tree's invariants: sorted nodes with matching prefixes and padded unused
/// slots, separators equal to the first entry of their right subtree, leaves linked in key
/// order from leaf 0 to `last_leaf`, all of them reachable, and `len` entries in total.
fn check_tree(mem: &Memtable) {
    let prefix_of = |e: u64| prefix(key::user_key(mem.arena.ikey(e)));
    let cmp = |a: u64, b: u64| key::compare(mem.arena.ikey(a), mem.arena.ikey(b));
    // Walk the tree: returns (first entry, last entry) of the subtree, collecting leaves.
    fn walk(
        mem: &Memtable,
        node: u32,
        depth: usize,
        leaves: &mut Vec<u32>,
        cmp: &dyn Fn(u64, u64) -> Ordering,
        prefix_of: &dyn Fn(u64) -> u64,
    ) -> Option<(u64, u64)> {
        if depth == 0 {
            let l = &mem.leaves[node as usize];
            let len = l.len as usize;
            assert!(len <= LEAF_CAP);
            for i in 0..LEAF_CAP {
                if i < len {
                    assert_eq!(l.prefixes[i], prefix_of(l.entries[i]));
                    if i > 0 {
                        assert_eq!(cmp(l.entries[i - 1], l.entries[i]), Ordering::Less);
                    }
                } else {
                    assert_eq!(l.prefixes[i], PAD);
                }
            }
            leaves.push(node);
            return (len > 0).then(|| (l.entries[0], l.entries[len - 1]));
        }
        let n = &mem.inners[node as usize];
        let len = n.len as usize;
        assert!(len <= INNER_CAP);
        for i in len..INNER_CAP {
            assert_eq!(n.prefixes[i], PAD);
        }
        let mut first = None;
        let mut last: Option<u64> = None;
        for c in 0..=len {
            let (f, l) = walk(mem, n.children[c], depth - 1, leaves, cmp, prefix_of)
                .expect("only an empty root leaf is empty");
            if c > 0 {
                // The separator is the subtree's first entry.
                assert_eq!(n.seps[c - 1], f);
                assert_eq!(n.prefixes[c - 1], prefix_of(f));
            }
            if let Some(prev_last) = last {
                assert_eq!(cmp(prev_last, f), Ordering::Less);
            }
            first.get_or_insert(f);
            last = Some(l);
        }
        Some((first.unwrap(), last.unwrap()))
    }
    let mut leaves = Vec::new();
    walk(mem, mem.root, mem.depth, &mut leaves, &cmp, &prefix_of);
    assert_eq!(leaves.len(), mem.leaves.len(), "every leaf is reachable");
    assert_eq!(leaves[0], 0, "leaf 0 is the first");
    assert_eq!(*leaves.last().unwrap(), mem.last_leaf);
    let mut total = 0;
    for (i, &id) in leaves.iter().enumerate() {
        let l = &mem.leaves[id as usize];
        let prev = if i == 0 { NIL } else { leaves[i - 1] };
        let next = leaves.get(i + 1).copied().unwrap_or(NIL);
        assert_eq!((l.prev, l.next), (prev, next), "leaf links");
        total += l.len as usize;
    }
    assert_eq!(total, mem.len());
}

/// Full check of a memtable against its model: structure, both scans, gets of every
/// version, and seeks/seek_for_prev to every entry, just before and just after it.
fn check_against_model(mem: &Memtable, model: &Model) {
    check_tree(mem);
    let expected = model_entries(model);
    let mut it = mem.iter();
    assert_eq!(collect_forward(&mut it), expected);
    let mut rev = expected.clone();
    rev.reverse();
    assert_eq!(collect_backward(&mut it), rev);
    for (i, (k, v)) in expected.iter().enumerate() {
        let uk = key::user_key(k);
        let seq = key::sequence(k);
        assert_eq!(mem.get(uk, seq).map(|(_, v)| v.to_vec()), Some(v.clone()));
        it.seek(k).unwrap();
        assert_eq!(it.key(), &k[..]);
        it.seek_for_prev(k).unwrap();
        assert_eq!(it.key(), &k[..]);
        // Just after this entry in internal order (same user key, seq - 1, kind 0xFF... ),
        // and just before it (seq, kind one higher).
        let kind = key::kind_byte(k);
        let before = {
            let mut t = uk.to_vec();
            t.extend_from_slice(&key::pack_trailer(seq, kind + 1).to_le_bytes());
            t
        };
        it.seek(&before).unwrap();
        assert_eq!(it.key(), &k[..]);
        it.seek_for_prev(&before).unwrap();
        let want_prev = i.checked_sub(1).map(|p| expected[p].0.clone());
        assert_eq!(it.valid().then(|| it.key().to_vec()), want_prev);
        if kind > 0 {
            let after = {
                let mut t = uk.to_vec();
                t.extend_from_slice(&key::pack_trailer(seq, kind - 1).to_le_bytes());
                t
            };
            it.seek(&after).unwrap();
            let want_next = expected.get(i + 1).map(|e| e.0.clone());
            assert_eq!(it.valid().then(|| it.key().to_vec()), want_next);
            it.seek_for_prev(&after).unwrap();
            assert_eq!(it.key(), &k[..]);
        }
    }
}

#[test]
fn splits_with_many_equal_user_keys_and_prefixes() {
    // Runs of one user key (and of one 8-byte prefix) far longer than a node, so ties on the
    // prefix span leaf and inner-node boundaries; versions inserted in random order.
    for seed in 0..3u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let users: Vec<Vec<u8>> = vec![
            b"samepref".to_vec(),
            b"samepref\0".to_vec(),
            b"sameprefA".to_vec(),
            b"sameprefB-long-suffix".to_vec(),
            b"samepre".to_vec(),
            b"other".to_vec(),
        ];
        let n = 6000u64;
        let mut seqs: Vec<u64> = (1..=n).collect();
        seqs.shuffle(&mut rng);
        let mut mem = Memtable::new();
        let mut model = Model::new();
        for seq in seqs {
            let uk = &users[rng.gen_range(0..users.len())];
            let kind = if rng.gen_ratio(1, 5) {
                Kind::Delete
            } else {
                Kind::Put
            };
            let v = seq.to_le_bytes().to_vec();
            mem.insert(uk, seq, kind, &v);
            model.insert(
                (uk.clone(), Reverse(key::pack_trailer(seq, kind as u8))),
                (kind, v),
            );
        }
        assert!(mem.depth >= 2, "several inner levels: {mem:?}");
        check_against_model(&mem, &model);
        // Gets at every snapshot for each user key.
        for uk in &users {
            for seq in (0..=n + 1).step_by(7) {
                let got = mem.get(uk, seq).map(|(k, v)| (k, v.to_vec()));
                assert_eq!(got, model_get(&model, uk, seq));
            }
        }
    }
}

#[test]
fn seeks_at_node_boundaries() {
    // Seek targets exactly at, just before and just after every leaf's first and last entry
    // (covered by check_against_model for all entries), plus gets of absent keys that fall
    // between two leaves (where `get` uses the separator instead of the next leaf).
    let mut rng = SmallRng::seed_from_u64(99);
    let mut mem = Memtable::new();
    let mut model = Model::new();
    for seq in 1..=20_000u64 {
        let k = (rng.gen_range(0..1_000_000u64) * 2).to_be_bytes();
        mem.insert(&k, seq, Kind::Put, &k);
        model.insert(
            (k.to_vec(), Reverse(key::pack_trailer(seq, 1))),
            (Kind::Put, k.to_vec()),
        );
    }
    assert!(mem.depth >= 2);
    check_against_model(&mem, &model);
    for l in &mem.leaves {
        for e in [l.entries[0], l.entries[l.len as usize - 1]] {
            let uk = key::user_key(mem.arena.ikey(e)).to_vec();
            let x = u64::from_be_bytes(uk[..8].try_into().unwrap());
            for probe in [x - 1, x + 1] {
                let pk = probe.to_be_bytes();
                assert_eq!(mem.get(&pk, u64::MAX), None);
                // The same prefix, a longer key: ties on the prefix at the boundary.
                let mut longer = uk.clone();
                longer.push(0);
                assert_eq!(mem.get(&longer, u64::MAX), None);
                assert_eq!(
                    mem.get(&uk, u64::MAX).map(|(k, v)| (k, v.to_vec())),
                    model_get(&model, &uk, key::MAX_SEQUENCE)
                );
            }
        }
    }
}

#[test]
fn structure_after_various_insert_orders() {
    // Ascending (append splits), descending (always at the front), two interleaved ascending
    // streams, a mostly sorted order, and random: all valid trees matching the model, with
    // sequential loads filling leaves completely.
    let n = 20_000u64;
    let key = |i: u64| i.to_be_bytes();
    let mut rng = SmallRng::seed_from_u64(5);
    let mut random: Vec<u64> = (0..n).collect();
    random.shuffle(&mut rng);
    let mut nearly: Vec<u64> = (0..n).collect();
    for i in (0..n as usize - 1).step_by(3) {
        nearly.swap(i, i + 1);
    }
    let orders: Vec<(&str, Vec<u64>)> = vec![
        ("ascending", (0..n).collect()),
        ("descending", (0..n).rev().collect()),
        (
            "two streams",
            (0..n)
                .map(|i| if i % 2 == 0 { i / 2 } else { n / 2 + i / 2 })
                .collect(),
        ),
        ("nearly sorted", nearly),
        ("random", random),
    ];
    for (name, order) in orders {
        let mut mem = Memtable::new();
        let mut model = Model::new();
        for (s, &i) in order.iter().enumerate() {
            let seq = s as u64 + 1;
            mem.insert(&key(i), seq, Kind::Put, b"v");
            model.insert(
                (key(i).to_vec(), Reverse(key::pack_trailer(seq, 1))),
                (Kind::Put, b"v".to_vec()),
            );
        }
        check_tree(&mem);
        let expected = model_entries(&model);
        let mut it = mem.iter();
        assert_eq!(collect_forward(&mut it), expected, "{name}");
        let fill = n as f64 / (mem.leaves.len() * LEAF_CAP) as f64;
        if name == "ascending" {
            assert!(fill > 0.99, "{name}: fill {fill}");
        }
        assert!(fill >= 0.5, "{name}: fill {fill}");
        std::println!("{name}: depth {}, leaf fill {:.2}", mem.depth, fill);
    }
}

#[test]
fn unpositioned_iterator_moves_are_harmless() {
    let mut mem = Memtable::new();
    mem.insert(b"a", 1, Kind::Put, b"1");
    let mut it = mem.iter();
    assert!(!it.valid());
    assert_eq!((it.key(), it.value()), (&b""[..], &b""[..]));
    it.seek_to_last().unwrap();
    assert_eq!(it.value(), b"1");
    it.next().unwrap();
    assert!(!it.valid());
    it.seek_to_first().unwrap();
    it.prev().unwrap();
    assert!(!it.valid());
}
