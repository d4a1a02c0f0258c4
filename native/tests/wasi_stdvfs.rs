//! The engine on real files (`StdVfs`) — the WASI home's configuration: on wasm32-wasip1
//! these run under Wasmtime in a preopened directory, with flush and compaction inline.
//! They run natively too.

mod wasi_support;

use cairn::{Db, Error, Options, WriteBatch, WriteOptions};
use wasi_support::TestDir;

fn small() -> Options {
    Options::default()
        .write_buffer_size(32 << 10)
        .target_table_size(64 << 10)
        .base_level_size(256 << 10)
        .l0_compaction_trigger(2)
        .background_threads(0)
}

#[test]
fn writes_flushes_compactions_and_reopen_on_real_files() {
    let t = TestDir::new("stdvfs");
    let dir = t.join("db");
    {
        let db = Db::open_with(&dir, small()).expect("open");
        for i in 0..5_000u32 {
            let mut b = WriteBatch::new();
            b.put(format!("key{i:06}"), format!("v{i}"));
            if i % 7 == 0 && i > 0 {
                b.delete(format!("key{:06}", i - 1));
            }
            db.write(b, WriteOptions::NO_SYNC).expect("write");
        }
        db.compact_range(None, None).expect("compact");
        db.put(b"synced", b"1").expect("synced put");
        let s = db.stats();
        assert!(s.flushes > 0, "{s:?}");
        db.close().expect("close");
    }
    let db = Db::open_with(&dir, small()).expect("reopen");
    assert_eq!(
        db.get(b"key004999").expect("get").as_deref(),
        Some(&b"v4999"[..])
    );
    assert_eq!(
        db.get(b"key000006").expect("get"),
        None,
        "deleted by batch 7"
    );
    assert_eq!(db.get(b"synced").expect("get").as_deref(), Some(&b"1"[..]));
    let n = db.iter().count();
    assert_eq!(n, 5_000 - (4_999 / 7) + 1);
    let back: Vec<_> = db
        .prefix(b"key00499")
        .rev()
        .map(|r| r.expect("entry").0)
        .collect();
    assert_eq!(back.first().map(Vec::as_slice), Some(&b"key004999"[..]));
    assert!(back.windows(2).all(|w| w[0] > w[1]));
}

#[test]
fn a_second_open_of_the_same_directory_is_locked() {
    let t = TestDir::new("lock");
    let dir = t.join("db");
    let db = Db::open_with(&dir, small()).expect("open");
    match Db::open_with(&dir, small()) {
        Err(Error::Locked(_)) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    db.close().expect("close");
    drop(db);
    Db::open_with(&dir, small()).expect("open after the first handle is gone");
}

#[test]
fn read_only_open_of_a_missing_database_fails_and_creates_nothing() {
    let t = TestDir::new("missing");
    let dir = t.join("nothing-here");
    let opts = small().create_if_missing(false);
    match Db::open_with(&dir, opts) {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(
        !dir.exists(),
        "a read-only open must not create the directory"
    );
}
