//! Model test: random operations against the engine and a `BTreeMap`, with reopens at random
//! points, flushes, compactions and background work, with point and range deletes
//! (`delete_range`, `delete_prefix`, range deletes inside batches), snapshots, and optimistic
//! transactions (up to three live at once, interleaved with plain writes; reads, scans,
//! commits whose conflict the model predicts exactly, rollbacks). Fixed seeds in CI;
//! `CAIRN_SEED=<n>` runs any seed,
//! `CAIRN_MODEL_OPS=<n>` sets the operation count.

mod wasi_support;

use cairn::{Db, MemVfs, Options, StdVfs, Vfs, WriteBatch, WriteOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A live transaction and what the model knows about it.
struct LiveTx<V: Vfs + Clone> {
    tx: cairn::Transaction<V>,
    /// The database as the transaction began.
    seen: Model,
    /// Its buffered writes.
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Keys read with `get_for_update`, and ranges scanned.
    read_keys: BTreeSet<Vec<u8>>,
    ranges: Vec<Range>,
    /// Keys written by commits since the transaction began.
    written_since: BTreeSet<Vec<u8>>,
    /// Ranges `[start, end)` deleted by commits since the transaction began.
    ranges_deleted_since: Vec<(Vec<u8>, Vec<u8>)>,
}

impl<V: Vfs + Clone> LiveTx<V> {
    fn view(&self) -> Model {
        let mut m = self.seen.clone();
        for (k, v) in &self.pending {
            match v {
                Some(v) => m.insert(k.clone(), v.clone()),
                None => m.remove(k),
            };
        }
        m
    }

    fn view_get(&self, k: &[u8]) -> Option<Vec<u8>> {
        match self.pending.get(k) {
            Some(v) => v.clone(),
            None => self.seen.get(k).cloned(),
        }
    }

    /// Whether the commit must fail: a key it read for update, or a key in a range it
    /// scanned, was written after it began. A transaction without writes never conflicts.
    ///
    /// A range delete conflicts when it overlaps a scanned range, or when the transaction
    /// read any key for update (the engine keeps point reads as unordered fingerprints, so it
    /// answers conservatively; the model predicts the same).
    fn must_conflict(&self) -> bool {
        !self.pending.is_empty()
            && (self.written_since.iter().any(|k| {
                self.read_keys.contains(k)
                    || self.ranges.iter().any(|(lo, hi)| in_bounds(k, lo, hi))
            }) || self.ranges_deleted_since.iter().any(|(a, b)| {
                a < b
                    && (!self.read_keys.is_empty()
                        || self
                            .ranges
                            .iter()
                            .any(|(lo, hi)| may_share_key(a, b, lo, hi)))
            }))
    }
}

fn in_bounds(k: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    (match lo {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    }) && (match hi {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    })
}

/// Whether the deleted interval `[a, b)` and the scanned interval `lo`..`hi` overlap as
/// intervals: each starts before the other ends, counting an excluded lower bound as
/// included. The engine answers this way (conservatively: a scan whose bounds are crossed
/// still counts), so the model predicts the same; written here, not taken from the engine.
fn may_share_key(a: &[u8], b: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let scan_starts_before_b = match lo {
        Bound::Included(l) | Bound::Excluded(l) => l.as_slice() < b,
        Bound::Unbounded => true,
    };
    let a_before_scan_ends = in_bounds(a, &Bound::Unbounded, hi);
    scan_starts_before_b && a_before_scan_ends
}

/// Tells every live transaction that `[start, end)` was range-deleted by a commit.
fn note_range_delete<V: Vfs + Clone>(txs: &mut [LiveTx<V>], start: &[u8], end: &[u8]) {
    for t in txs.iter_mut() {
        t.ranges_deleted_since.push((start.to_vec(), end.to_vec()));
    }
}

/// Tells every live transaction that `keys` were committed.
fn note_writes<'a, V: Vfs + Clone>(txs: &mut [LiveTx<V>], keys: impl Iterator<Item = &'a Vec<u8>>) {
    let keys: Vec<&Vec<u8>> = keys.collect();
    for t in txs.iter_mut() {
        t.written_since.extend(keys.iter().map(|k| (*k).clone()));
    }
}

/// One random operation on a live transaction (or a new one). Returns the number of
/// transactions committed (0 or 1) and conflicts seen.
fn tx_op<V: Vfs + Clone>(
    rng: &mut SmallRng,
    db: &Db<V>,
    model: &mut Model,
    txs: &mut Vec<LiveTx<V>>,
    ctx: &dyn Fn(&str) -> String,
) -> (u64, u64) {
    if txs.is_empty() || (txs.len() < 3 && rng.gen_bool(0.15)) {
        txs.push(LiveTx {
            tx: db.transaction().expect("begin"),
            seen: model.clone(),
            pending: BTreeMap::new(),
            read_keys: BTreeSet::new(),
            ranges: Vec::new(),
            written_since: BTreeSet::new(),
            ranges_deleted_since: Vec::new(),
        });
        return (0, 0);
    }
    let i = rng.gen_range(0..txs.len());
    match rng.gen_range(0..100) {
        0..=19 => {
            let k = key(rng);
            let t = &txs[i];
            assert_eq!(
                t.tx.get(&k).expect("tx get"),
                t.view_get(&k),
                "{}",
                ctx("tx get")
            );
        }
        20..=29 => {
            let k = key(rng);
            let t = &mut txs[i];
            let got = t.tx.get_for_update(&k).expect("tx get_for_update");
            assert_eq!(got, t.view_get(&k), "{}", ctx("tx get_for_update"));
            t.read_keys.insert(k);
        }
        30..=54 => {
            let k = key(rng);
            let t = &mut txs[i];
            if rng.gen_bool(0.25) {
                t.tx.delete(&k).expect("tx delete");
                t.pending.insert(k, None);
            } else {
                let v = value(rng);
                t.tx.put(&k, &v).expect("tx put");
                t.pending.insert(k, Some(v));
            }
        }
        55..=69 => {
            let t = &mut txs[i];
            let (lo, hi) = if rng.gen_bool(0.3) {
                let p = key(rng);
                let p = p[..p.len().min(2)].to_vec();
                let hi = match cairn_core::db::prefix_successor(&p) {
                    Some(s) => Bound::Excluded(s),
                    None => Bound::Unbounded,
                };
                let got: Vec<_> =
                    t.tx.prefix(&p)
                        .expect("tx prefix")
                        .map(|r| r.expect("entry"))
                        .collect();
                let want: Vec<_> = t
                    .view()
                    .into_iter()
                    .filter(|(k, _)| k.starts_with(&p))
                    .collect();
                assert_eq!(got, want, "{}", ctx("tx prefix"));
                (Bound::Included(p), hi)
            } else {
                let (lo, hi) = (bound(rng), bound(rng));
                let want = model_range(&t.view(), &lo, &hi);
                let limit = rng.gen_range(1..300);
                let it = t.tx.range((lo.clone(), hi.clone())).expect("tx range");
                if rng.gen_bool(0.5) {
                    let got: Vec<_> = it.take(limit).map(|r| r.expect("entry")).collect();
                    let want: Vec<_> = want.into_iter().take(limit).collect();
                    assert_eq!(got, want, "{}", ctx("tx forward range"));
                } else {
                    let got: Vec<_> = it.rev().take(limit).map(|r| r.expect("entry")).collect();
                    let want: Vec<_> = want.into_iter().rev().take(limit).collect();
                    assert_eq!(got, want, "{}", ctx("tx reverse range"));
                }
                (lo, hi)
            };
            t.ranges.push((lo, hi));
        }
        70..=94 => {
            let mut t = txs.swap_remove(i);
            let conflict = t.must_conflict();
            let opts = WriteOptions {
                sync: rng.gen_bool(0.05),
            };
            match t.tx.commit_with(opts) {
                Ok(()) => {
                    assert!(
                        !conflict,
                        "{}",
                        ctx("commit succeeded, the model predicts a conflict")
                    );
                    note_writes(txs, t.pending.keys());
                    for (k, v) in t.pending {
                        match v {
                            Some(v) => model.insert(k, v),
                            None => model.remove(&k),
                        };
                    }
                    return (1, 0);
                }
                Err(cairn::Error::Conflict) => {
                    assert!(
                        conflict,
                        "{}",
                        ctx("commit conflicted, the model predicts none")
                    );
                    assert_eq!(t.tx.get(b"k"), Err(cairn::Error::TransactionFinished));
                    return (0, 1);
                }
                Err(e) => panic!("{}", ctx(&format!("commit: {e}"))),
            }
        }
        _ => {
            let mut t = txs.swap_remove(i);
            t.tx.rollback().expect("rollback");
        }
    }
    (0, 0)
}

fn small_opts() -> Options {
    Options::default()
        .write_buffer_size(32 << 10)
        .target_table_size(16 << 10)
        .base_level_size(64 << 10)
        .block_size(512)
        .max_manifest_size(8 << 10)
}

fn key(rng: &mut SmallRng) -> Vec<u8> {
    // A small key space so that overwrites and deletes hit existing keys; some long keys
    // and shared prefixes.
    let n: u32 = rng.gen_range(0..2_000);
    match n % 7 {
        0 => format!("p/{n:05}/{}", "x".repeat((n % 40) as usize)).into_bytes(),
        1 => vec![(n % 256) as u8; 1 + (n % 5) as usize],
        _ => format!("k{n:05}").into_bytes(),
    }
}

fn value(rng: &mut SmallRng) -> Vec<u8> {
    let len = match rng.gen_range(0..10) {
        0 => 0,
        1 => rng.gen_range(1000..5000),
        _ => rng.gen_range(1..120),
    };
    (0..len).map(|_| rng.gen()).collect()
}

fn bound(rng: &mut SmallRng) -> Bound<Vec<u8>> {
    match rng.gen_range(0..3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(rng)),
        _ => Bound::Excluded(key(rng)),
    }
}

fn model_range(m: &Model, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let valid = match (lo, hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a < b
                || (a == b && matches!(lo, Bound::Included(_)) && matches!(hi, Bound::Included(_)))
        }
        _ => true,
    };
    if !valid {
        return Vec::new();
    }
    m.range((lo.clone(), hi.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn run_model<V: Vfs + Clone>(vfs: V, seed: u64, ops: usize) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let opts = small_opts().background_threads(if seed.is_multiple_of(2) { 0 } else { 1 });
    let mut db = Db::open_vfs(vfs.clone(), opts.clone()).expect("open");
    let mut model = Model::new();
    // Snapshots held across writes, flushes and compactions, with the model state they saw.
    // They are dropped before a reopen (a snapshot does not outlive its database handle).
    let mut snaps: Vec<(cairn::Snapshot<V>, Model)> = Vec::new();
    let mut txs: Vec<LiveTx<V>> = Vec::new();
    let (mut commits, mut conflicts) = (0u64, 0u64);
    for op in 0..ops {
        let ctx = |what: &str| format!("seed {seed} op {op}: {what}");
        if rng.gen_range(0..100) < 15 {
            let (c, x) = tx_op(&mut rng, &db, &mut model, &mut txs, &ctx);
            commits += c;
            conflicts += x;
            continue;
        }
        match rng.gen_range(0..100) {
            42..=44 => {
                // Range deletes: a random range, a prefix, or a range in a batch with puts.
                let (a, b) = (key(&mut rng), key(&mut rng));
                match rng.gen_range(0..3) {
                    0 => {
                        db.delete_range_with(&a, &b, WriteOptions::NO_SYNC)
                            .expect("delete_range");
                        note_range_delete(&mut txs, &a, &b);
                        if a < b {
                            model.retain(|k, _| !(k >= &a && k < &b));
                        }
                    }
                    1 => {
                        let p = &a[..a.len().min(rng.gen_range(1..4))];
                        db.delete_prefix_with(p, WriteOptions::NO_SYNC)
                            .expect("delete_prefix");
                        let end =
                            cairn_core::batch::prefix_range_end(p, Options::default().max_key_size);
                        note_range_delete(&mut txs, p, &end);
                        model.retain(|k, _| !k.starts_with(p));
                    }
                    _ => {
                        let mut batch = WriteBatch::new();
                        let v = value(&mut rng);
                        batch.put(&a, &v);
                        model.insert(a.clone(), v);
                        batch.delete_range(&a, &b);
                        if a < b {
                            model.retain(|k, _| !(k >= &a && k < &b));
                        }
                        let (c, v) = (key(&mut rng), value(&mut rng));
                        batch.put(&c, &v);
                        model.insert(c.clone(), v);
                        db.write(batch, WriteOptions::NO_SYNC).expect("batch");
                        note_writes(&mut txs, [&a, &c].into_iter());
                        note_range_delete(&mut txs, &a, &b);
                    }
                }
            }
            0..=41 => {
                let (k, v) = (key(&mut rng), value(&mut rng));
                db.put_with(
                    &k,
                    &v,
                    WriteOptions {
                        sync: rng.gen_bool(0.05),
                    },
                )
                .expect("put");
                note_writes(&mut txs, [&k].into_iter());
                model.insert(k, v);
            }
            45..=54 => {
                let k = key(&mut rng);
                db.delete_with(&k, WriteOptions::NO_SYNC).expect("delete");
                note_writes(&mut txs, [&k].into_iter());
                model.remove(&k);
            }
            55..=62 => {
                let mut b = WriteBatch::new();
                for _ in 0..rng.gen_range(1..20) {
                    let k = key(&mut rng);
                    note_writes(&mut txs, [&k].into_iter());
                    if rng.gen_bool(0.3) {
                        b.delete(&k);
                        model.remove(&k);
                    } else {
                        let v = value(&mut rng);
                        b.put(&k, &v);
                        model.insert(k, v);
                    }
                }
                db.write(b, WriteOptions::NO_SYNC).expect("batch");
            }
            63..=82 => {
                let k = key(&mut rng);
                assert_eq!(
                    db.get(&k).expect("get"),
                    model.get(&k).cloned(),
                    "{}",
                    ctx("get")
                );
            }
            83..=90 => {
                let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                let want = model_range(&model, &lo, &hi);
                let limit = rng.gen_range(1..200);
                if rng.gen_bool(0.5) {
                    let got: Vec<_> = db
                        .range((lo.clone(), hi.clone()))
                        .take(limit)
                        .map(|r| r.expect("entry"))
                        .collect();
                    let want: Vec<_> = want.into_iter().take(limit).collect();
                    assert_eq!(got, want, "{}", ctx("forward range"));
                } else {
                    let got: Vec<_> = db
                        .range((lo.clone(), hi.clone()))
                        .rev()
                        .take(limit)
                        .map(|r| r.expect("entry"))
                        .collect();
                    let want: Vec<_> = want.into_iter().rev().take(limit).collect();
                    assert_eq!(got, want, "{}", ctx("reverse range"));
                }
            }
            91..=92 => {
                let p = key(&mut rng);
                let p = &p[..p.len().min(3)];
                let got: Vec<_> = db.prefix(p).map(|r| r.expect("entry")).collect();
                let want: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| k.starts_with(p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want, "{}", ctx("prefix"));
            }
            93 => db.flush().expect("flush"),
            94 => {
                if snaps.len() < 4 && rng.gen_bool(0.6) {
                    snaps.push((db.snapshot(), model.clone()));
                } else if !snaps.is_empty() {
                    let i = rng.gen_range(0..snaps.len());
                    let (snap, seen) = &snaps[i];
                    for _ in 0..20 {
                        let k = key(&mut rng);
                        assert_eq!(
                            snap.get(&k).expect("snapshot get"),
                            seen.get(&k).cloned(),
                            "{}",
                            ctx("snapshot get")
                        );
                    }
                    let got: Vec<_> = snap.iter().map(|r| r.expect("entry")).collect();
                    let want: Vec<_> = seen.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    assert_eq!(got, want, "{}", ctx("snapshot scan"));
                    if rng.gen_bool(0.5) {
                        snaps.swap_remove(i);
                    }
                }
            }
            95 => {
                if rng.gen_bool(0.5) {
                    db.wait_for_background_work().expect("background");
                } else {
                    // A full manual compaction: range tombstones reach the last level, where
                    // those no snapshot needs are dropped with the data they cover.
                    db.compact_range(None, None).expect("compact");
                }
            }
            _ => {
                // Reopen: drop without closing half the time (a crash of the process, not
                // the machine: every acknowledged write must survive). Live transactions
                // are rolled back (a crash loses them; they wrote nothing).
                snaps.clear();
                txs.clear();
                if rng.gen_bool(0.5) {
                    db.close().expect("close");
                }
                drop(db);
                db = Db::open_vfs(vfs.clone(), opts.clone()).expect("reopen");
            }
        }
    }
    snaps.clear();
    txs.clear();
    assert!(
        ops < 5_000 || (commits > 0 && conflicts > 0),
        "seed {seed}: transactions committed ({commits}) and conflicted ({conflicts})"
    );
    assert_eq!(
        db.stats().txn_live,
        0,
        "seed {seed}: no live transaction left"
    );
    // A final full comparison, both directions.
    let all: Vec<_> = db.iter().map(|r| r.expect("entry")).collect();
    let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(all, want, "seed {seed}: final scan");
    let rev: Vec<_> = db.iter().rev().map(|r| r.expect("entry")).collect();
    assert_eq!(rev.len(), want.len(), "seed {seed}: final reverse scan");
    // Double-ended meeting in the middle yields every entry exactly once.
    let mut it = db.iter();
    let mut seen = 0;
    loop {
        let a = it.next();
        let b = it.next_back();
        seen += a.is_some() as usize + b.is_some() as usize;
        if a.is_none() && b.is_none() {
            break;
        }
    }
    assert_eq!(seen, want.len(), "seed {seed}: double-ended");
}

fn seeds() -> Vec<u64> {
    match std::env::var("CAIRN_SEED") {
        Ok(s) => vec![s.parse().expect("CAIRN_SEED must be a number")],
        Err(_) => (1..=8).collect(),
    }
}

fn ops() -> usize {
    std::env::var("CAIRN_MODEL_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12_500)
}

#[test]
fn model_mem_vfs() {
    for seed in seeds() {
        run_model(MemVfs::new(), seed, ops());
    }
}

#[cfg(not(target_os = "wasi"))]
#[test]
fn model_std_vfs() {
    let dir = wasi_support::TestDir::new("model");
    run_model(StdVfs::new(dir.path()).expect("vfs"), 1000, ops() / 2);
}
