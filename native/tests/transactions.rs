//! Optimistic transactions: read-your-writes, conflicts (write skew, phantoms, plain writes),
//! the retry helper, bounded conflict tracking, bad input, and the bank-transfer invariant
//! under concurrency.

mod wasi_support;

use cairn::{Db, Error, MemVfs, Options, StdVfs, WriteBatch, WriteOptions};

fn mem_db() -> Db<MemVfs> {
    Db::open_vfs(MemVfs::new(), Options::default().background_threads(0)).expect("open")
}

fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
    (k.as_bytes().to_vec(), v.as_bytes().to_vec())
}

fn collect<V: cairn::Vfs + Clone>(it: cairn::Iter<V>) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.map(|r| r.expect("entry")).collect()
}

#[test]
fn reads_see_the_snapshot_plus_own_writes() {
    let db = mem_db();
    for k in ["a", "b", "c", "d", "e"] {
        db.put(k, format!("{k}0")).expect("put");
    }
    let mut tx = db.transaction().expect("begin");
    tx.put("b", "b1").expect("put");
    tx.delete("c").expect("delete");
    tx.put("bb", "new").expect("put");
    tx.put("z", "last").expect("put");
    tx.delete("nothing").expect("delete absent");
    // A write after the transaction began is not seen by it.
    db.put("a", "a-outside").expect("put");
    assert_eq!(tx.get("a").expect("get").as_deref(), Some(&b"a0"[..]));
    assert_eq!(tx.get("b").expect("get").as_deref(), Some(&b"b1"[..]));
    assert_eq!(tx.get("c").expect("get"), None);
    assert_eq!(tx.get("bb").expect("get").as_deref(), Some(&b"new"[..]));
    let want = vec![
        kv("a", "a0"),
        kv("b", "b1"),
        kv("bb", "new"),
        kv("d", "d0"),
        kv("e", "e0"),
        kv("z", "last"),
    ];
    assert_eq!(collect(tx.iter().expect("iter")), want);
    let rev: Vec<_> = tx
        .iter()
        .expect("iter")
        .rev()
        .map(|r| r.expect("e"))
        .collect();
    assert_eq!(rev, want.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(
        collect(tx.range("b".."d").expect("range")),
        vec![kv("b", "b1"), kv("bb", "new")]
    );
    assert_eq!(
        collect(tx.prefix("b").expect("prefix")),
        vec![kv("b", "b1"), kv("bb", "new")]
    );
    // Both ends meet exactly once.
    let mut it = tx.iter().expect("iter");
    let mut seen = Vec::new();
    loop {
        let a = it.next().map(|r| r.expect("e"));
        let b = it.next_back().map(|r| r.expect("e"));
        if a.is_none() && b.is_none() {
            break;
        }
        seen.extend(a);
        seen.extend(b);
    }
    seen.sort();
    assert_eq!(seen, want);
    // Nobody else sees the buffered writes.
    assert_eq!(db.get("bb").expect("get"), None);
    // The full scans read "a", which was written after the transaction began.
    assert_eq!(tx.commit(), Err(Error::Conflict));
    assert_eq!(db.get("bb").expect("get"), None);
    assert_eq!(db.get("b").expect("get").as_deref(), Some(&b"b0"[..]));

    let mut tx = db.transaction().expect("begin");
    tx.put("b", "b1").expect("put");
    tx.delete("c").expect("delete");
    assert_eq!(
        collect(tx.range("b"..="c").expect("range")),
        vec![kv("b", "b1")]
    );
    db.put("e", "outside the range").expect("put");
    tx.commit().expect("commit");
    assert_eq!(db.get("b").expect("get").as_deref(), Some(&b"b1"[..]));
    assert_eq!(db.get("c").expect("get"), None);
}

#[test]
fn scans_merge_many_pages_of_buffered_writes() {
    let db = mem_db();
    for i in 0..1000u32 {
        db.put_with(format!("k{i:04}"), "db", WriteOptions::NO_SYNC)
            .expect("put");
    }
    db.flush().expect("flush");
    let mut tx = db.transaction().expect("begin");
    // Delete every even key, overwrite every third, insert between.
    let mut model = std::collections::BTreeMap::new();
    for i in 0..1000u32 {
        model.insert(format!("k{i:04}").into_bytes(), b"db".to_vec());
    }
    for i in 0..1000u32 {
        let k = format!("k{i:04}");
        if i % 2 == 0 {
            tx.delete(&k).expect("delete");
            model.remove(k.as_bytes());
        } else if i % 3 == 0 {
            tx.put(&k, "tx").expect("put");
            model.insert(k.clone().into_bytes(), b"tx".to_vec());
        }
        let between = format!("k{i:04}x");
        if i % 5 == 0 {
            tx.put(&between, "ins").expect("put");
            model.insert(between.into_bytes(), b"ins".to_vec());
        }
    }
    // A run of deletes longer than a page.
    for i in 100..700u32 {
        let k = format!("k{i:04}");
        tx.delete(&k).expect("delete");
        model.remove(k.as_bytes());
    }
    let want: Vec<_> = model.into_iter().collect();
    assert_eq!(collect(tx.iter().expect("iter")), want);
    let rev: Vec<_> = tx
        .iter()
        .expect("iter")
        .rev()
        .map(|r| r.expect("e"))
        .collect();
    assert_eq!(rev, want.iter().rev().cloned().collect::<Vec<_>>());
    tx.commit().expect("commit");
    assert_eq!(collect(db.iter()), want);
}

#[test]
fn write_skew_on_call_doctors_exactly_one_commits() {
    let db = mem_db();
    db.put("oncall/alice", "1").expect("put");
    db.put("oncall/bob", "1").expect("put");
    // Each doctor checks that the other is on call, then goes off call.
    let mut t1 = db.transaction().expect("begin");
    let mut t2 = db.transaction().expect("begin");
    let on_call = |tx: &mut cairn::Transaction<MemVfs>| -> usize {
        ["oncall/alice", "oncall/bob"]
            .iter()
            .filter(|k| tx.get_for_update(k).expect("get").as_deref() == Some(&b"1"[..]))
            .count()
    };
    assert_eq!(on_call(&mut t1), 2);
    assert_eq!(on_call(&mut t2), 2);
    t1.put("oncall/alice", "0").expect("put");
    t2.put("oncall/bob", "0").expect("put");
    let r1 = t1.commit();
    let r2 = t2.commit();
    assert!(r1.is_ok(), "first commit: {r1:?}");
    assert_eq!(r2, Err(Error::Conflict));
    // Exactly one went off call, and the loser wrote nothing.
    assert_eq!(
        db.get("oncall/alice").expect("get").as_deref(),
        Some(&b"0"[..])
    );
    assert_eq!(
        db.get("oncall/bob").expect("get").as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(db.stats().txn_conflicts, 1);
}

#[test]
fn write_skew_with_a_range_read_is_caught_too() {
    let db = mem_db();
    db.put("oncall/alice", "1").expect("put");
    db.put("oncall/bob", "1").expect("put");
    let count = |tx: &mut cairn::Transaction<MemVfs>| {
        tx.prefix("oncall/")
            .expect("prefix")
            .filter(|r| r.as_ref().expect("e").1 == b"1")
            .count()
    };
    let mut t1 = db.transaction().expect("begin");
    let mut t2 = db.transaction().expect("begin");
    assert_eq!(count(&mut t1), 2);
    assert_eq!(count(&mut t2), 2);
    t1.put("oncall/alice", "0").expect("put");
    t2.put("oncall/bob", "0").expect("put");
    assert_eq!(t2.commit(), Ok(()));
    assert_eq!(t1.commit(), Err(Error::Conflict));
}

#[test]
fn snapshot_get_does_not_join_the_conflict_set() {
    // `get` is a snapshot read: the documented write-skew exposure of snapshot isolation.
    let db = mem_db();
    db.put("x", "1").expect("put");
    let mut t1 = db.transaction().expect("begin");
    assert_eq!(t1.get("x").expect("get").as_deref(), Some(&b"1"[..]));
    db.put("x", "2").expect("put");
    t1.put("y", "derived").expect("put");
    assert_eq!(t1.commit(), Ok(()));
    // The same with get_for_update conflicts.
    let mut t2 = db.transaction().expect("begin");
    t2.get_for_update("x").expect("get");
    db.put("x", "3").expect("put");
    t2.put("y", "derived").expect("put");
    assert_eq!(t2.commit(), Err(Error::Conflict));
    assert_eq!(db.get("y").expect("get").as_deref(), Some(&b"derived"[..]));
}

#[test]
fn phantom_insert_into_a_scanned_range_conflicts() {
    let db = mem_db();
    for k in ["item/1", "item/3", "other/1"] {
        db.put(k, "v").expect("put");
    }
    // T scans item/..; an insert of a new key into that range commits meanwhile.
    let mut t = db.transaction().expect("begin");
    let n = t.range("item/".."item0").expect("range").count();
    assert_eq!(n, 2);
    let mut ins = db.transaction().expect("begin");
    ins.put("item/2", "new").expect("put");
    ins.commit().expect("insert commits");
    t.put("count", n.to_string()).expect("put");
    assert_eq!(t.commit(), Err(Error::Conflict));
    assert_eq!(db.get("count").expect("get"), None);

    // An insert outside the scanned range does not conflict; nor does one at an excluded
    // bound.
    let mut t = db.transaction().expect("begin");
    let _ = t.range("item/".."item/3").expect("range").count();
    db.put("other/2", "v").expect("put");
    db.put("item/3", "changed")
        .expect("put at the excluded end");
    t.put("count", "2").expect("put");
    assert_eq!(t.commit(), Ok(()));

    // A delete inside a scanned prefix is a conflict too, and so is a reverse scan.
    let mut t = db.transaction().expect("begin");
    let _ = t.prefix("item/").expect("prefix").rev().count();
    db.delete("item/1").expect("delete");
    t.put("count", "1").expect("put");
    assert_eq!(t.commit(), Err(Error::Conflict));
}

#[test]
fn plain_writes_and_batches_conflict_with_transactions_that_read_them() {
    let db = mem_db();
    db.put("k", "1").expect("put");
    let mut t = db.transaction().expect("begin");
    t.get_for_update("k").expect("get");
    let mut b = WriteBatch::new();
    b.put(b"unrelated", b"x");
    b.delete(b"k");
    db.write(b, WriteOptions::NO_SYNC).expect("batch");
    t.put("k", "2").expect("put");
    assert_eq!(t.commit(), Err(Error::Conflict));
    assert_eq!(db.get("k").expect("get"), None);
    // Blind writes (nothing read) never conflict: the last commit wins.
    let mut a = db.transaction().expect("begin");
    let mut b = db.transaction().expect("begin");
    a.put("k", "a").expect("put");
    b.put("k", "b").expect("put");
    a.commit().expect("a");
    b.commit().expect("b");
    assert_eq!(db.get("k").expect("get").as_deref(), Some(&b"b"[..]));
}

#[test]
fn a_conflict_leaves_nothing_written_and_a_retry_succeeds() {
    let db = mem_db();
    db.put("counter", "0").expect("put");
    let other = db.clone();
    let mut attempts = 0;
    let got = db
        .transact(|tx| {
            attempts += 1;
            let v: u64 = String::from_utf8(tx.get_for_update("counter")?.unwrap_or_default())
                .expect("utf8")
                .parse()
                .expect("number");
            tx.put("side", format!("attempt {attempts}"))?;
            if attempts == 1 {
                // Someone else increments between our read and our commit.
                other.put("counter", (v + 10).to_string())?;
            }
            tx.put("counter", (v + 1).to_string())?;
            Ok(v)
        })
        .expect("transact");
    assert_eq!(attempts, 2, "the closure runs again after the conflict");
    assert_eq!(got, 10, "the result is the committed attempt's");
    assert_eq!(db.get("counter").expect("get").as_deref(), Some(&b"11"[..]));
    assert_eq!(
        db.get("side").expect("get").as_deref(),
        Some(&b"attempt 2"[..])
    );

    // Always conflicting: gives up after the bound.
    let mut n = 0;
    let r: Result<(), Error> = db.transact_with(3, |tx| {
        n += 1;
        tx.get_for_update("counter")?;
        other.put("counter", "x")?;
        tx.put("counter", "y")
    });
    assert_eq!(r, Err(Error::Conflict));
    assert_eq!(n, 3);
    // Another error is returned at once, without a retry, and rolls back.
    let mut n = 0;
    let r: Result<(), Error> = db.transact(|tx| {
        n += 1;
        tx.put("rolled-back", "v")?;
        Err(Error::InvalidArgument("app failure".into()))
    });
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
    assert_eq!(n, 1);
    assert_eq!(db.get("rolled-back").expect("get"), None);
    assert_eq!(db.stats().txn_live, 0);
}

#[test]
fn finished_transactions_refuse_every_call() {
    let db = mem_db();
    let mut t = db.transaction().expect("begin");
    t.put("a", "1").expect("put");
    t.commit().expect("commit");
    assert!(!t.is_active());
    assert_eq!(t.get("a"), Err(Error::TransactionFinished));
    assert_eq!(t.get_for_update("a"), Err(Error::TransactionFinished));
    assert_eq!(t.put("a", "2"), Err(Error::TransactionFinished));
    assert_eq!(t.delete("a"), Err(Error::TransactionFinished));
    assert!(matches!(t.iter(), Err(Error::TransactionFinished)));
    assert!(matches!(t.prefix("a"), Err(Error::TransactionFinished)));
    assert_eq!(t.commit(), Err(Error::TransactionFinished));
    assert_eq!(t.rollback(), Err(Error::TransactionFinished));

    let mut r = db.transaction().expect("begin");
    r.put("b", "1").expect("put");
    r.rollback().expect("rollback");
    assert_eq!(r.get("b"), Err(Error::TransactionFinished));
    assert_eq!(r.commit(), Err(Error::TransactionFinished));
    assert_eq!(db.get("b").expect("get"), None);

    // A transaction that lost a conflict is finished too.
    let mut c = db.transaction().expect("begin");
    c.get_for_update("a").expect("get");
    db.put("a", "x").expect("put");
    c.put("a", "y").expect("put");
    assert_eq!(c.commit(), Err(Error::Conflict));
    assert_eq!(c.put("a", "z"), Err(Error::TransactionFinished));
    assert_eq!(c.commit(), Err(Error::TransactionFinished));
}

#[test]
fn bad_input_gets_typed_errors() {
    let db = Db::open_vfs(
        MemVfs::new(),
        Options::default()
            .background_threads(0)
            .max_key_size(16)
            .max_value_size(32),
    )
    .expect("open");
    let mut t = db.transaction().expect("begin");
    assert!(matches!(
        t.put([7u8; 17], "v"),
        Err(Error::KeyTooLarge { len: 17, max: 16 })
    ));
    assert!(matches!(
        t.put("k", [0u8; 33]),
        Err(Error::ValueTooLarge { len: 33, max: 32 })
    ));
    assert!(matches!(
        t.delete([7u8; 17]),
        Err(Error::KeyTooLarge { .. })
    ));
    assert!(matches!(t.get([7u8; 17]), Err(Error::KeyTooLarge { .. })));
    assert!(matches!(
        t.get_for_update([7u8; 17]),
        Err(Error::KeyTooLarge { .. })
    ));
    // The failed calls buffered nothing: the transaction is still usable.
    t.put("k", "v").expect("put");
    // An empty or inverted range is fine and empty.
    assert_eq!(t.range("z".."a").expect("range").count(), 0);
    t.commit().expect("commit");
    assert_eq!(db.get("k").expect("get").as_deref(), Some(&b"v"[..]));

    // A transaction outliving its database.
    let mut t = db.transaction().expect("begin");
    t.put("k2", "v").expect("put");
    db.close().expect("close");
    assert_eq!(t.get("k"), Err(Error::Closed));
    assert!(matches!(t.iter(), Err(Error::Closed)));
    assert_eq!(t.commit(), Err(Error::Closed));
    assert_eq!(t.commit(), Err(Error::TransactionFinished));
    assert!(matches!(db.transaction(), Err(Error::Closed)));
}

#[test]
fn read_only_databases_run_read_only_transactions() {
    let vfs = MemVfs::new();
    {
        let db = Db::open_vfs(vfs.clone(), Options::default().background_threads(0)).expect("open");
        db.put("a", "1").expect("put");
        db.close().expect("close");
    }
    let db = Db::open_read_only_vfs(vfs, Options::default()).expect("open read-only");
    let mut t = db.transaction().expect("begin");
    assert_eq!(
        t.get_for_update("a").expect("get").as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(t.iter().expect("iter").count(), 1);
    t.commit().expect("a read-only transaction commits");
    let mut t = db.transaction().expect("begin");
    t.put("b", "2").expect("put is buffered");
    assert!(matches!(t.commit(), Err(Error::ReadOnly(_))));
}

#[test]
fn conflict_tracking_is_released_as_transactions_finish() {
    let db = mem_db();
    for i in 0..100u32 {
        db.put_with(format!("k{i}"), "v", WriteOptions::NO_SYNC)
            .expect("put");
    }
    // No transaction: nothing tracked.
    assert_eq!(db.stats().txn_history_batches, 0);
    let mut long = db.transaction().expect("begin");
    long.get_for_update("k0").expect("get");
    for i in 0..3000u32 {
        db.put_with(format!("w{i}"), "v", WriteOptions::NO_SYNC)
            .expect("put");
    }
    // The long transaction needs every write since it began.
    assert_eq!(db.stats().txn_history_batches, 3000);
    assert_eq!(db.stats().txn_live, 1);
    // Short transactions come and go; the history stays bounded by what `long` needs.
    for i in 0..200u32 {
        db.transact(|tx| {
            tx.get_for_update(format!("w{i}"))?;
            tx.put(format!("w{i}"), "t")
        })
        .expect("transact");
    }
    long.put("k0", "x").expect("put");
    long.commit().expect("no conflict: k0 was not written");
    assert_eq!(db.stats().txn_live, 0);
    assert_eq!(
        db.stats().txn_history_batches,
        0,
        "no live transaction: history released"
    );
    // A snapshot read-only transaction tracks nothing and costs one snapshot.
    let t = db.transaction().expect("begin");
    assert_eq!(db.stats().snapshots, 1);
    drop(t);
    assert_eq!(db.stats().snapshots, 0);
    assert_eq!(db.stats().txn_live, 0);
}

#[test]
fn committed_transactions_survive_reopen() {
    let dir = wasi_support::TestDir::new("txn-reopen");
    let opts = Options::default().background_threads(0);
    {
        let db = Db::open_with(dir.path(), opts.clone()).expect("open");
        db.transact(|tx| {
            tx.put("a", "1")?;
            tx.put("b", "2")
        })
        .expect("commit");
        let mut lost = db.transaction().expect("begin");
        lost.put("c", "3").expect("put");
        // Dropped with the database, never committed: never written.
        drop(db);
        drop(lost);
    }
    let db: Db<StdVfs> = Db::open_with(dir.path(), opts).expect("reopen");
    assert_eq!(
        collect(db.iter()),
        vec![kv("a", "1"), kv("b", "2")],
        "the committed transaction, nothing of the rolled-back one"
    );
}

fn balance(v: Option<Vec<u8>>) -> i64 {
    String::from_utf8(v.expect("account exists"))
        .expect("utf8")
        .parse()
        .expect("number")
}

const ACCOUNTS: u32 = 100;
const START: i64 = 1000;

fn account(i: u32) -> String {
    format!("acct/{i:03}")
}

fn open_bank() -> Db<MemVfs> {
    let db = Db::open_vfs(
        MemVfs::new(),
        Options::default()
            .write_buffer_size(64 << 10)
            .target_table_size(32 << 10),
    )
    .expect("open");
    let mut b = WriteBatch::new();
    for i in 0..ACCOUNTS {
        b.put(account(i).as_bytes(), START.to_string().as_bytes());
    }
    db.write(b, WriteOptions::SYNC).expect("seed accounts");
    db
}

/// One transfer of `amount` from `from` to `to`, as a transaction (reads for update).
fn transfer<V: cairn::Vfs + Clone>(
    tx: &mut cairn::Transaction<V>,
    from: u32,
    to: u32,
    amount: i64,
) -> Result<(), Error> {
    let a = balance(tx.get_for_update(account(from))?);
    let b = balance(tx.get_for_update(account(to))?);
    tx.put(account(from), (a - amount).to_string())?;
    tx.put(account(to), (b + amount).to_string())
}

fn total_of(entries: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>>) -> (i64, usize) {
    let mut n = 0;
    let total = entries
        .map(|r| {
            n += 1;
            balance(Some(r.expect("entry").1))
        })
        .sum();
    (total, n)
}

#[cfg(not(target_os = "wasi"))]
#[test]
fn bank_transfers_keep_the_total_under_eight_threads() {
    use rand::{Rng, SeedableRng};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 2_500; // 20,000 transactions in all
    let db = open_bank();
    let want = i64::from(ACCOUNTS) * START;
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));
    // Auditors: snapshot scans outside transactions, and read-only transactions (full scans
    // and point reads), must always see the same total.
    let auditors: Vec<_> = (0..2)
        .map(|a| {
            let db = db.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut audits = 0u64;
                while !stop.load(Ordering::Acquire) || audits < 10 {
                    if a == 0 {
                        let snap = db.snapshot();
                        let (total, n) = total_of(snap.prefix("acct/"));
                        assert_eq!((total, n), (want, ACCOUNTS as usize), "snapshot scan");
                        let (total, _) = total_of(db.prefix("acct/"));
                        assert_eq!(total, want, "iterator scan");
                    } else {
                        let mut tx = db.transaction().expect("begin");
                        let (total, n) = total_of(tx.prefix("acct/").expect("prefix"));
                        assert_eq!((total, n), (want, ACCOUNTS as usize), "transaction scan");
                        let points: i64 = (0..ACCOUNTS)
                            .map(|i| balance(tx.get(account(i)).expect("get")))
                            .sum();
                        assert_eq!(points, want, "transaction point reads");
                        tx.commit().expect("read-only commit never conflicts");
                    }
                    audits += 1;
                }
                audits
            })
        })
        .collect();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone();
            let attempts = attempts.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(t);
                for i in 0..PER_THREAD {
                    let from = rng.gen_range(0..ACCOUNTS);
                    let to = (from + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
                    let amount = rng.gen_range(1..50);
                    let sync = i % 8 == 0;
                    db.transact_with(1000, |tx| {
                        attempts.fetch_add(1, Ordering::Relaxed);
                        transfer(tx, from, to, amount)?;
                        if i % 50 == 0 {
                            // Now and then a transfer that also audits inside itself
                            // (snapshot reads plus its own two writes).
                            let mut total = 0;
                            for a in 0..ACCOUNTS {
                                total += balance(tx.get(account(a))?);
                            }
                            assert_eq!(total, want, "total inside a writing transaction");
                        }
                        tx.commit_with(if sync {
                            WriteOptions::SYNC
                        } else {
                            WriteOptions::NO_SYNC
                        })
                    })
                    .expect("transfer commits within the retry bound");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    stop.store(true, Ordering::Release);
    for a in auditors {
        assert!(a.join().expect("auditor") >= 10);
    }
    let (total, n) = total_of(db.prefix("acct/"));
    assert_eq!((total, n), (want, ACCOUNTS as usize));
    let stats = db.stats();
    let tries = attempts.load(Ordering::Relaxed);
    assert!(tries >= THREADS * PER_THREAD);
    assert_eq!(tries - THREADS * PER_THREAD, stats.txn_conflicts);
    assert_eq!(stats.txn_live, 0);
    eprintln!(
        "bank: {} transfers, {} conflicts retried",
        THREADS * PER_THREAD,
        stats.txn_conflicts
    );
    // After a reopen the total is the same.
    db.close().expect("close");
}

/// The same invariant without threads (WASI runs this one): many transactions open at
/// once, interleaved by hand, so that conflicts happen deterministically.
#[test]
fn bank_transfers_interleaved_keep_the_total() {
    use rand::{Rng, SeedableRng};
    let db = open_bank();
    let want = i64::from(ACCOUNTS) * START;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut open: Vec<cairn::Transaction<MemVfs>> = Vec::new();
    let (mut committed, mut conflicts) = (0u32, 0u32);
    while committed < 20_000 {
        if open.len() < 4 {
            let mut tx = db.transaction().expect("begin");
            let from = rng.gen_range(0..ACCOUNTS);
            let to = (from + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
            transfer(&mut tx, from, to, rng.gen_range(1..50)).expect("transfer");
            open.push(tx);
            continue;
        }
        let i = rng.gen_range(0..open.len());
        let mut tx = open.swap_remove(i);
        match tx.commit_with(WriteOptions::NO_SYNC) {
            Ok(()) => committed += 1,
            Err(Error::Conflict) => conflicts += 1,
            Err(e) => panic!("commit: {e}"),
        }
        if committed % 1000 == 0 {
            let snap = db.snapshot();
            assert_eq!(total_of(snap.prefix("acct/")).0, want);
            let mut tx = db.transaction().expect("begin");
            assert_eq!(total_of(tx.iter().expect("iter")).0, want);
        }
    }
    assert!(conflicts > 0, "interleaving produced conflicts");
    assert_eq!(total_of(db.prefix("acct/")).0, want);
    assert_eq!(db.stats().txn_conflicts, u64::from(conflicts));
}

#[cfg(not(target_os = "wasi"))]
#[test]
fn concurrent_increments_of_one_counter_lose_no_update() {
    const THREADS: u64 = 4;
    const EACH: u64 = 2_000;
    let db = mem_db();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    db.transact_with(100_000, |tx| {
                        let n = tx
                            .get_for_update("counter")?
                            .map_or(0, |v| balance(Some(v)));
                        tx.put("counter", (n + 1).to_string())?;
                        tx.commit_with(WriteOptions::NO_SYNC)
                    })
                    .expect("increment");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(
        balance(db.get("counter").expect("get")),
        (THREADS * EACH) as i64,
        "every increment counted once"
    );
    eprintln!("counter: {} conflicts", db.stats().txn_conflicts);
}
