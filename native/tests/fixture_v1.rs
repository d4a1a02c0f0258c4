//! A database written by the build before range deletes (table format version 1, its WAL and
//! manifest) opens and reads, and takes range deletes: new tables are written in format
//! version 2 next to the old ones, and compaction merges both. The fixture in
//! `tests/fixtures/format-v1` was written by `cairn import` (300 keys `k00000..k00299`),
//! `cairn compact`, then `put p/1 one`, `put p/2 two`, `delete k00007`.

mod wasi_support;

use cairn::{Db, Options, WriteOptions};
use std::path::Path;
use wasi_support::TestDir;

/// The fixture's files, embedded so that the test also runs under WASI.
const FIXTURE: &[(&str, &[u8])] = &[
    (
        "000003.sst",
        include_bytes!("fixtures/format-v1/000003.sst"),
    ),
    (
        "000014.sst",
        include_bytes!("fixtures/format-v1/000014.sst"),
    ),
    (
        "000015.sst",
        include_bytes!("fixtures/format-v1/000015.sst"),
    ),
    (
        "000016.wal",
        include_bytes!("fixtures/format-v1/000016.wal"),
    ),
    ("CURRENT-A", include_bytes!("fixtures/format-v1/CURRENT-A")),
    ("CURRENT-B", include_bytes!("fixtures/format-v1/CURRENT-B")),
    (
        "MANIFEST-000017",
        include_bytes!("fixtures/format-v1/MANIFEST-000017"),
    ),
];

fn table_versions(dir: &Path) -> Vec<u32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "sst") {
            let b = std::fs::read(&p).expect("read table");
            let at = b.len() - 80 + 68;
            v.push(u32::from_le_bytes(
                b[at..at + 4].try_into().expect("4 bytes"),
            ));
        }
    }
    v.sort_unstable();
    v
}

fn expected(deleted: impl Fn(u32) -> bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut want: Vec<(Vec<u8>, Vec<u8>)> = (0..300u32)
        .filter(|&i| i != 7 && !deleted(i))
        .map(|i| {
            (
                format!("k{i:05}").into_bytes(),
                format!("v{i}").into_bytes(),
            )
        })
        .collect();
    want.push((b"p/1".to_vec(), b"one".to_vec()));
    want.push((b"p/2".to_vec(), b"two".to_vec()));
    want
}

#[test]
fn format_v1_database_opens_reads_and_takes_range_deletes() {
    let t = TestDir::new("fixture-v1");
    let dir = t.join("db");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (name, bytes) in FIXTURE {
        std::fs::write(dir.join(name), bytes).expect("write fixture file");
    }
    assert!(
        table_versions(&dir).iter().all(|&v| v == 1),
        "the fixture holds version 1 tables"
    );
    let mut o = Options::default();
    o.create_if_missing = false;
    o.background_threads = 0;
    let db = Db::open_with(&dir, o.clone()).expect("open a version 1 database");
    let all: Vec<_> = db.iter().map(|r| r.expect("entry")).collect();
    assert_eq!(all, expected(|_| false));
    assert_eq!(db.get(b"k00007").expect("get"), None);
    assert_eq!(db.get(b"k00150").expect("get"), Some(b"v150".to_vec()));

    db.delete_range_with(b"k00100", b"k00200", WriteOptions::NO_SYNC)
        .expect("delete_range");
    db.delete_prefix(b"p/").expect("delete_prefix");
    let snap = db.snapshot();
    db.put(b"k00150", b"again").expect("put");
    db.flush().expect("flush");
    db.close().expect("close");
    drop(snap);
    drop(db);

    let versions = table_versions(&dir);
    assert!(
        versions.contains(&1) && versions.contains(&2),
        "{versions:?}"
    );
    let db = Db::open_with(&dir, o).expect("reopen");
    let mut want = expected(|i| (100..200).contains(&i));
    want.retain(|(k, _)| !k.starts_with(b"p/"));
    want.push((b"k00150".to_vec(), b"again".to_vec()));
    want.sort();
    let check = |db: &Db| {
        let all: Vec<_> = db.iter().map(|r| r.expect("entry")).collect();
        assert_eq!(all, want);
        let rev: Vec<_> = db.iter().rev().map(|r| r.expect("entry")).collect();
        assert_eq!(rev, want.iter().rev().cloned().collect::<Vec<_>>());
        assert_eq!(db.get(b"k00120").expect("get"), None);
        assert_eq!(db.get(b"k00150").expect("get"), Some(b"again".to_vec()));
        assert_eq!(db.get(b"p/1").expect("get"), None);
    };
    check(&db);
    db.compact_range(None, None).expect("compact");
    check(&db);
    assert_eq!(
        table_versions(&dir),
        vec![2],
        "compaction rewrote everything as version 2"
    );
    db.close().expect("close");
}
