//! The core side of transactions: conflict checks inside one commit group, the merged scan
//! pages, the oracle's history floor and release. The native crate's tests cover the API.

use cairn_core::db::Db;
use cairn_core::key::Kind;
use cairn_core::txn::{merge_page, PendingWrites, DEFAULT_KEYSPACE as KS};
use cairn_core::{Direction, Error, Options, WriteBatch, WriteOptions};
use cairn_vfs::MemVfs;
use std::ops::Bound;

fn open() -> Db<MemVfs> {
    Db::open(MemVfs::new(), Options::default().background_threads(0)).expect("open")
}

fn batch(puts: &[(&str, &str)]) -> WriteBatch {
    let mut b = WriteBatch::new();
    for (k, v) in puts {
        b.put(k.as_bytes(), v.as_bytes());
    }
    b
}

#[test]
fn a_group_checks_each_transaction_against_the_batches_before_it() {
    let mut db = open();
    db.put(b"x", b"0", WriteOptions::NO_SYNC).expect("put");
    let mut t1 = db.begin_transaction().expect("begin");
    let mut t2 = db.begin_transaction().expect("begin");
    let mut t3 = db.begin_transaction().expect("begin");
    db.transaction_get_for_update(&mut t1, KS, b"x")
        .expect("get");
    db.transaction_get_for_update(&mut t2, KS, b"x")
        .expect("get");
    t3.track_range(KS, (Bound::Included(b"y"), Bound::Unbounded), None)
        .expect("track");
    t1.put(KS, b"x", b"1").expect("put");
    t2.put(KS, b"x", b"2").expect("put");
    t3.put(KS, b"z", b"3").expect("put");
    let plain = batch(&[("y", "plain")]);
    let (b1, b2, b3) = (t1.to_batch(), t2.to_batch(), t3.to_batch());
    // One group: t1, then t2 (read x, which t1 writes first), a plain write into t3's range,
    // then t3.
    let (pending, accepted) = db
        .commit_begin_checked(
            &[&b1, &b2, &plain, &b3],
            &[
                Some(t1.conflict_set()),
                Some(t2.conflict_set()),
                None,
                Some(t3.conflict_set()),
            ],
        )
        .expect("commit");
    assert_eq!(accepted, vec![true, false, true, false]);
    let pending = pending.expect("some accepted");
    // Two batches of one write each got sequence numbers.
    assert_eq!(pending.last_sequence(), 3);
    db.commit_finish(pending, None).expect("finish");
    for t in [&mut t1, &mut t2, &mut t3] {
        db.end_transaction(t, false);
    }
    assert_eq!(db.get(b"x").expect("get").as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"z").expect("get"), None);
    assert_eq!(db.stats().txn_conflicts, 2);
    assert_eq!(db.transaction_tracking(), (0, 0, 0));

    // A group where every batch conflicts writes nothing at all.
    let mut t = db.begin_transaction().expect("begin");
    db.transaction_get_for_update(&mut t, KS, b"x")
        .expect("get");
    db.put(b"x", b"9", WriteOptions::NO_SYNC).expect("put");
    t.put(KS, b"w", b"w").expect("put");
    let wal_bytes = db.stats().wal_bytes;
    let b = t.to_batch();
    let (pending, accepted) = db
        .commit_begin_checked(&[&b], &[Some(t.conflict_set())])
        .expect("commit");
    assert!(pending.is_none());
    assert_eq!(accepted, vec![false]);
    assert_eq!(db.stats().wal_bytes, wal_bytes, "nothing appended");
    assert_eq!(
        db.commit_transaction(&mut t, WriteOptions::NO_SYNC),
        Err(Error::Conflict)
    );
}

#[test]
fn the_first_transaction_of_an_open_cannot_miss_an_in_flight_commit() {
    let mut db = open();
    // A commit appended but not yet published when the first transaction begins: nothing was
    // recorded for it, so a transaction reading below it must not commit blindly.
    let b = batch(&[("k", "in flight")]);
    let pending = db.commit_begin(&[&b]).expect("begin");
    let mut t = db.begin_transaction().expect("begin");
    assert_eq!(
        db.transaction_get_for_update(&mut t, KS, b"k")
            .expect("get"),
        None
    );
    db.commit_finish(pending, None).expect("finish");
    t.put(KS, b"k", b"tx").expect("put");
    assert_eq!(
        db.commit_transaction(&mut t, WriteOptions::NO_SYNC),
        Err(Error::Conflict)
    );
    // Later transactions begin above it and commit.
    let mut t = db.begin_transaction().expect("begin");
    db.transaction_get_for_update(&mut t, KS, b"k")
        .expect("get");
    t.put(KS, b"k", b"tx").expect("put");
    db.commit_transaction(&mut t, WriteOptions::NO_SYNC)
        .expect("commit");
    // In-flight commits while transactions are live are recorded.
    let mut t = db.begin_transaction().expect("begin");
    let pending = db.commit_begin(&[&b]).expect("begin");
    let mut u = db.begin_transaction().expect("begin");
    db.transaction_get_for_update(&mut u, KS, b"k")
        .expect("get");
    db.commit_finish(pending, None).expect("finish");
    u.put(KS, b"k", b"u").expect("put");
    assert_eq!(
        db.commit_transaction(&mut u, WriteOptions::NO_SYNC),
        Err(Error::Conflict)
    );
    db.end_transaction(&mut t, false);
    assert_eq!(db.transaction_tracking(), (0, 0, 0));
}

fn pending(items: &[(&str, Option<&str>)]) -> PendingWrites {
    let mut m = PendingWrites::new();
    // An older version of every key first: the newest must win.
    for (seq, (k, _)) in (1..).zip(items) {
        m.insert(k.as_bytes(), seq, Kind::Put, b"old");
    }
    for (seq, (k, v)) in (100..).zip(items) {
        match v {
            Some(v) => m.insert(k.as_bytes(), seq, Kind::Put, v.as_bytes()),
            None => m.insert(k.as_bytes(), seq, Kind::Delete, b""),
        }
    }
    m
}

fn entries(items: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    items
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn merge_page_covers_only_up_to_the_page_end() {
    let p = pending(&[
        ("a", Some("A")),
        ("c", None),
        ("d", Some("D")),
        ("z", Some("Z")),
    ]);
    let all = (Bound::Unbounded, Bound::Unbounded);
    // Not the last page: "z" lies beyond it and waits for the next one.
    let (out, resume) = merge_page(
        entries(&[("b", "b"), ("c", "c"), ("e", "e")]),
        false,
        &p,
        all,
        Direction::Forward,
        None,
    );
    assert_eq!(
        out,
        entries(&[("a", "A"), ("b", "b"), ("d", "D"), ("e", "e")])
    );
    assert_eq!(resume.as_deref(), Some(&b"e"[..]));
    let (out, resume) = merge_page(Vec::new(), true, &p, all, Direction::Forward, Some(b"e"));
    assert_eq!(out, entries(&[("z", "Z")]));
    assert_eq!(resume, None);
    // Reverse, from the top.
    let (out, resume) = merge_page(
        entries(&[("e", "e"), ("c", "c")]),
        false,
        &p,
        all,
        Direction::Reverse,
        None,
    );
    assert_eq!(out, entries(&[("z", "Z"), ("e", "e"), ("d", "D")]));
    assert_eq!(resume.as_deref(), Some(&b"c"[..]));
    // A page whose only key is deleted merges to nothing but still resumes.
    let (out, resume) = merge_page(
        entries(&[("c", "c")]),
        false,
        &p,
        (Bound::Included(b"c"), Bound::Excluded(b"d")),
        Direction::Forward,
        None,
    );
    assert!(out.is_empty());
    assert_eq!(resume.as_deref(), Some(&b"c"[..]));
    // An inverted range merges nothing (and does not panic).
    let (out, _) = merge_page(
        Vec::new(),
        true,
        &p,
        (Bound::Excluded(b"d"), Bound::Excluded(b"d")),
        Direction::Forward,
        None,
    );
    assert!(out.is_empty());
}

#[test]
fn scans_in_a_transaction_page_through_deletes() {
    let mut db = open();
    for i in 0..300u32 {
        db.put(format!("k{i:03}").as_bytes(), b"v", WriteOptions::NO_SYNC)
            .expect("put");
    }
    let mut t = db.begin_transaction().expect("begin");
    for i in 0..299u32 {
        t.delete(KS, format!("k{i:03}").as_bytes()).expect("delete");
    }
    let p = t.pending_writes(KS).expect("writes");
    let all = (Bound::Unbounded, Bound::Unbounded);
    let seq = t.read_sequence();
    let (page, done) = db
        .scan_page_merged(p, all, None, seq, Direction::Forward, None, 16, 1 << 20)
        .expect("page");
    assert_eq!(page, entries(&[("k299", "v")]));
    assert!(done);
    let (page, done) = db
        .scan_page_merged(
            p,
            all,
            Some(b"k1"),
            seq,
            Direction::Reverse,
            None,
            8,
            1 << 20,
        )
        .expect("page");
    assert!(page.is_empty() && done);
    db.end_transaction(&mut t, false);
}
