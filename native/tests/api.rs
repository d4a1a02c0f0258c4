//! The public API as a new user meets it: keys and values as anything `AsRef<[u8]>`, ranges
//! as Rust ranges (no turbofish), iterators that seek, `WriteOptions::default()` agreeing
//! with `put`, the README example, and reopening a database once `close()` returned.
mod wasi_support;

use cairn::{Db, Error, MemVfs, Options, WriteBatch, WriteOptions};
use cairn_vfs::fault::FaultVfs;
use std::ops::Bound;

fn keys(it: impl Iterator<Item = cairn::Result<(Vec<u8>, Vec<u8>)>>) -> Vec<String> {
    it.map(|r| String::from_utf8(r.expect("entry").0).expect("utf-8 key"))
        .collect()
}

/// A database holding `k000`..`k099` (values `v0`..`v99`), flushed in part so that the
/// iterators read tables and the memtable.
fn hundred_keys() -> Db<MemVfs> {
    let mut opts = Options::default();
    opts.background_threads = 0;
    let db = Db::open_vfs(MemVfs::new(), opts).expect("open");
    for i in 0..100u32 {
        db.put_with(format!("k{i:03}"), format!("v{i}"), WriteOptions::NO_SYNC)
            .expect("put");
        if i == 60 {
            db.flush().expect("flush");
        }
    }
    db
}

fn k(i: u32) -> String {
    format!("k{i:03}")
}

#[test]
fn keys_and_values_take_any_byte_string() {
    let db = Db::open_vfs(MemVfs::new(), Options::default()).expect("open");
    db.put("str", "value").expect("&str");
    db.put(String::from("string"), String::from("value"))
        .expect("String");
    db.put(b"array", b"value").expect("&[u8; N]");
    db.put(vec![1u8, 2], [3u8, 4]).expect("Vec and array");
    db.put(&b"slice"[..], &b"value"[..]).expect("&[u8]");
    let owned = String::from("str");
    assert_eq!(db.get(&owned).expect("get").as_deref(), Some(&b"value"[..]));
    assert_eq!(
        db.get("string").expect("get").as_deref(),
        Some(&b"value"[..])
    );
    assert_eq!(
        db.get([1u8, 2]).expect("get").as_deref(),
        Some(&[3u8, 4][..])
    );
    assert!(db.contains_key("array").expect("contains"));
    db.delete("array").expect("delete");
    assert!(!db.contains_key(b"array").expect("contains"));
    db.delete_with(String::from("slice"), WriteOptions::NO_SYNC)
        .expect("delete_with");
    assert_eq!(db.get("slice").expect("get"), None);
    let snap = db.snapshot();
    db.put("str", "newer").expect("put");
    assert_eq!(
        snap.get("str").expect("get").as_deref(),
        Some(&b"value"[..])
    );
    assert_eq!(keys(snap.prefix("st")), ["str", "string"]);
    assert_eq!(keys(db.prefix(String::from("str"))), ["str", "string"]);
}

#[test]
fn every_range_type_works_without_turbofish() {
    let db = hundred_keys();
    let want = |r: std::ops::Range<u32>| r.map(k).collect::<Vec<_>>();
    assert_eq!(keys(db.range(..)), want(0..100));
    assert_eq!(keys(db.range("k010".."k013")), want(10..13));
    assert_eq!(keys(db.range("k010"..="k013")), want(10..14));
    assert_eq!(keys(db.range("k097"..)), want(97..100));
    assert_eq!(keys(db.range(..b"k003")), want(0..3));
    assert_eq!(keys(db.range(..=b"k003")), want(0..4));
    assert_eq!(
        keys(db.range((Bound::Excluded("k050"), Bound::Included("k052")))),
        want(51..53)
    );
    let lo = k(40).into_bytes();
    assert_eq!(keys(db.range(lo.clone()..k(42).into_bytes())), want(40..42));
    assert_eq!(keys(db.range(&lo..&k(41).into_bytes())), want(40..41));
    assert_eq!(
        keys(db.range("k010".."k013").rev()),
        want(10..13).into_iter().rev().collect::<Vec<_>>()
    );
    let snap = db.snapshot();
    assert_eq!(keys(snap.range("k020".."k022")), want(20..22));
    assert_eq!(keys(snap.iter()).len(), 100);
}

#[test]
fn seek_moves_the_front_end_in_either_direction() {
    let db = hundred_keys();
    let mut it = db.iter();
    it.seek("k050");
    assert_eq!(keys_n(&mut it, 3), [k(50), k(51), k(52)]);
    // A target between keys lands on the next key; a seek backward re-reads.
    it.seek("k0105");
    assert_eq!(keys_n(&mut it, 2), [k(11), k(12)]);
    // Past every key: nothing, until a seek back.
    it.seek("z");
    assert!(it.next().is_none());
    it.seek("");
    assert_eq!(keys_n(&mut it, 1), [k(0)]);
    // Far beyond the first page (16 entries) and across the flushed/unflushed boundary.
    it.seek("k059");
    assert_eq!(keys(it), (59..100).map(k).collect::<Vec<_>>());
}

#[test]
fn seek_for_prev_moves_the_back_end() {
    let db = hundred_keys();
    let mut it = db.iter();
    it.seek_for_prev("k050");
    assert_eq!(keys_back_n(&mut it, 2), [k(50), k(49)]);
    // Between keys: the last key at or before the target.
    it.seek_for_prev("k0305");
    assert_eq!(keys_back_n(&mut it, 1), [k(30)]);
    it.seek_for_prev("a");
    assert!(it.next_back().is_none());
    it.seek_for_prev("z");
    assert_eq!(keys_back_n(&mut it, 1), [k(99)]);
}

#[test]
fn seeks_stay_inside_the_range_and_prefix_and_the_ends_still_meet() {
    let db = hundred_keys();
    // Clamped to the range: a seek below the start starts at the start.
    let mut it = db.range("k020".."k030");
    it.seek("k000");
    assert_eq!(keys_n(&mut it, 1), [k(20)]);
    it.seek("k029");
    assert_eq!(keys_n(&mut it, 2), [k(29)]);
    let mut back = db.range("k020".."k030");
    back.seek_for_prev("k099");
    assert_eq!(keys_back_n(&mut back, 1), [k(29)]);
    back.seek_for_prev("k020");
    assert_eq!(keys_back_n(&mut back, 5), [k(20)]);
    // A prefix iterator: seeking before the prefix starts at it, past it ends.
    let mut it = db.prefix("k04");
    it.seek("a");
    assert_eq!(keys_n(&mut it, 1), [k(40)]);
    it.seek("k045");
    assert_eq!(keys_n(&mut it, 10), (45..50).map(k).collect::<Vec<_>>());
    it.seek("k050");
    assert!(it.next().is_none());
    // The two ends stop where they meet, also after seeks.
    let mut it = db.iter();
    it.seek_for_prev("k012");
    assert_eq!(keys_back_n(&mut it, 1), [k(12)]);
    it.seek("k010");
    assert_eq!(keys_n(&mut it, 10), [k(10), k(11)]);
    assert!(it.next_back().is_none(), "the ends have met");
}

#[test]
fn seek_reads_the_iterators_snapshot() {
    let db = hundred_keys();
    let mut it = db.iter();
    db.put("k0505", "later").expect("put");
    db.delete("k051").expect("delete");
    it.seek("k050");
    assert_eq!(keys_n(&mut it, 3), [k(50), k(51), k(52)]);
}

fn keys_n<V: cairn::Vfs + Clone>(it: &mut cairn::Iter<V>, n: usize) -> Vec<String> {
    it.take(n)
        .map(|r| String::from_utf8(r.expect("entry").0).expect("utf-8"))
        .collect()
}

fn keys_back_n<V: cairn::Vfs + Clone>(it: &mut cairn::Iter<V>, n: usize) -> Vec<String> {
    it.rev()
        .take(n)
        .map(|r| String::from_utf8(r.expect("entry").0).expect("utf-8"))
        .collect()
}

#[test]
fn write_options_default_is_what_put_does_a_synced_write() {
    assert_eq!(WriteOptions::default(), WriteOptions::SYNC);
    let vfs = FaultVfs::new(MemVfs::new());
    let mut opts = Options::default();
    opts.background_threads = 0;
    let db = Db::open_vfs(vfs.clone(), opts).expect("open");
    let mut syncs = Vec::new();
    for write in 0..4 {
        vfs.reset_counters();
        match write {
            0 => db.put("a", "1").expect("put"),
            1 => db
                .put_with("a", "2", WriteOptions::default())
                .expect("put_with"),
            2 => {
                let mut b = WriteBatch::new();
                b.put(b"a", b"3");
                db.write(b, WriteOptions::default()).expect("write");
            }
            _ => db
                .put_with("a", "4", WriteOptions::NO_SYNC)
                .expect("no sync"),
        }
        syncs.push(vfs.sync_count());
    }
    assert_eq!(
        syncs,
        [1, 1, 1, 0],
        "syncs per write: put, default x2, NO_SYNC"
    );
}

/// The README's example, on a real directory.
#[test]
fn the_readme_example_runs() -> Result<(), Error> {
    let dir = wasi_support::TestDir::new("api-readme");
    let db = Db::open(dir.join("my-db"))?; // creates it if missing; takes the lock
    db.put("user:1", "ada")?; // durable (fsynced) when it returns
    db.put_with("hits", "1", WriteOptions::NO_SYNC)?;
    let mut batch = WriteBatch::new(); // atomic: all or nothing after a crash
    batch.put(b"user:2", b"grace");
    batch.delete(b"user:1");
    db.write(batch, WriteOptions::default())?; // the default is synced, like put
    assert_eq!(db.get("user:2")?.as_deref(), Some(&b"grace"[..]));
    let mut lines = Vec::new();
    for entry in db.prefix("user:").rev() {
        let (k, v) = entry?;
        lines.push(format!(
            "{} = {}",
            String::from_utf8_lossy(&k),
            String::from_utf8_lossy(&v)
        ));
    }
    assert_eq!(lines, ["user:2 = grace"]);
    let mut it = db.range("a".."v"); // any Rust range over keys
    it.seek("user:"); // iterators seek (and seek_for_prev)
    assert_eq!(
        it.next().transpose()?.map(|(k, _)| k),
        Some(b"user:2".to_vec())
    );
    db.close()?; // releases the lock: Db::open works again
    let again = Db::open(dir.join("my-db"))?;
    assert_eq!(again.get("hits")?.as_deref(), Some(&b"1"[..]));
    Ok(())
}

/// The README's transaction example.
#[test]
fn the_readme_transaction_example_runs() -> Result<(), Error> {
    let db = Db::open_vfs(MemVfs::new(), cairn::Options::default())?;
    db.put("acct/a", "100")?;
    db.put("acct/b", "0")?;
    db.transact(|tx| {
        let a: u64 = String::from_utf8_lossy(&tx.get_for_update("acct/a")?.unwrap_or_default())
            .parse()
            .unwrap_or(0);
        tx.put("acct/a", (a - 10).to_string())?; // buffered; visible to this tx's reads
        tx.put("acct/b", "10")?;
        Ok(())
    })?;
    assert_eq!(db.get("acct/a")?.as_deref(), Some(&b"90"[..]));
    let mut tx = db.transaction()?; // or by hand
    let n = tx.prefix("acct/")?.count(); // the scanned range joins the conflict set
    db.put("acct/c", "5")?; // lands in the scanned range
    tx.put("accounts", n.to_string())?;
    match tx.commit() {
        Err(cairn::Error::Conflict) => {} // someone wrote into acct/ since: nothing written
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(db.get("accounts")?, None);
    Ok(())
}

#[test]
fn a_closed_database_reopens_in_this_process_while_old_handles_live() {
    let dir = wasi_support::TestDir::new("api-reopen");
    let db = Db::open(dir.path()).expect("open");
    db.put("kept", "yes").expect("put");
    db.put_with("buffered", "too", WriteOptions::NO_SYNC)
        .expect("put");
    // Handles that outlive the close: a clone, a snapshot, an iterator mid-scan.
    let clone = db.clone();
    let snap = db.snapshot();
    let mut it = db.iter();
    assert!(it.next().is_some());
    let mut unread = db.iter();
    assert!(matches!(Db::open(dir.path()), Err(Error::Locked(_))));
    db.close().expect("close");
    assert!(!clone.is_open());

    let again = Db::open(dir.path()).expect("reopen once close() returned");
    assert_eq!(
        again.get("kept").expect("get").as_deref(),
        Some(&b"yes"[..])
    );
    assert_eq!(
        again.get("buffered").expect("get").as_deref(),
        Some(&b"too"[..]),
        "close syncs the WAL"
    );
    // The old handles fail cleanly and do not disturb the new opener.
    assert!(matches!(clone.put("x", "y"), Err(Error::Closed)));
    assert!(matches!(snap.get("kept"), Err(Error::Closed)));
    assert!(matches!(unread.next(), Some(Err(Error::Closed))));
    // The scan in progress returns what it had already read, then `Closed` or the end.
    let rest: Vec<_> = it.by_ref().collect();
    assert!(
        rest.iter().all(|r| matches!(r, Ok(_) | Err(Error::Closed))),
        "{rest:?}"
    );
    assert_eq!(clone.stats().batches, 2, "stats as of the close");
    drop((clone, snap, it, unread));
    again.put("after", "reopen").expect("the new handle writes");
    again.close().expect("close");
    drop(again);

    // In-memory databases too, several rounds.
    let vfs = MemVfs::new();
    for round in 0..3u32 {
        let db = Db::open_vfs(vfs.clone(), Options::default()).expect("open");
        let _kept = db.clone();
        assert_eq!(db.iter().count() as u32, round);
        db.put(format!("round{round}"), "done").expect("put");
        db.close().expect("close");
    }
}
