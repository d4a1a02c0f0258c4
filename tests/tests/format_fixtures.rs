//! Databases written by earlier versions of Cairn still open and read back exactly.
//!
//! `tests/fixtures/v1-wal/` was written by the engine before WAL format version 2 (commit
//! f9cf828, WAL version 1: no synced offsets, no clean-close marker): one table, a manifest
//! with several edits, and a version 1 WAL holding 40 synced writes, left as a crash leaves
//! it. `expected.txt` lists every key with its value (`-` for a deleted key).
//!
//! `tests/fixtures/v2-wal/` was written by the `cairn` CLI of commit 4e27887 (WAL format
//! version 2, before range deletes): `put p/1 one`, `put p/2 two`, `delete p/2`, then
//! `import` of 60 keys `k000..k059` (values `v0..v59`), which left one table and a version 2
//! WAL holding one 60-write batch and a clean-close marker.

use cairn_core::db::Db;
use cairn_core::{wal, Options, RecoveryMode};
use cairn_vfs::{File, MemVfs, Vfs};
use std::path::Path;

fn fixture_dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn load(name: &str) -> MemVfs {
    let vfs = MemVfs::new();
    for entry in std::fs::read_dir(fixture_dir(name).join("db")).expect("fixture dir") {
        let entry = entry.expect("entry");
        let bytes = std::fs::read(entry.path()).expect("read");
        vfs.put_file(entry.file_name().to_str().expect("name"), bytes);
    }
    vfs
}

fn expected(name: &str) -> Vec<(String, Option<String>)> {
    std::fs::read_to_string(fixture_dir(name).join("expected.txt"))
        .expect("expected.txt")
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').expect("tab");
            (k.to_string(), (v != "-").then(|| v.to_string()))
        })
        .collect()
}

fn check(db: &Db<MemVfs>, want: &[(String, Option<String>)]) {
    for (k, v) in want {
        let got = db.get(k.as_bytes()).expect("get");
        assert_eq!(got.as_deref(), v.as_ref().map(|v| v.as_bytes()), "key {k}");
    }
    let live = want.iter().filter(|(_, v)| v.is_some()).count();
    let scanned = db
        .range((std::ops::Bound::Unbounded, std::ops::Bound::Unbounded))
        .expect("range")
        .count();
    assert_eq!(scanned, live);
}

#[test]
fn a_database_with_a_version_1_wal_opens_in_both_recovery_modes() {
    let want = expected("v1-wal");
    assert_eq!(want.len(), 400);
    let vfs = load("v1-wal");
    let wal_name = vfs
        .list()
        .expect("list")
        .into_iter()
        .find(|n| n.ends_with(".wal"))
        .expect("a WAL");
    let bytes = vfs.open(&wal_name).expect("open").read_all().expect("read");
    assert_eq!(wal::decode_header(&bytes), Ok(wal::FORMAT_VERSION_1));
    for mode in [
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::TolerateTornTail,
    ] {
        let copy = MemVfs::new();
        for n in vfs.list().expect("list") {
            copy.put_file(&n, vfs.open(&n).expect("open").read_all().expect("read"));
        }
        let mut o = Options::default();
        o.recovery_mode = mode;
        o.create_if_missing = false;
        let mut db = Db::open(copy.clone(), o.clone()).expect("open the version 1 database");
        assert_eq!(db.recovery_report().wal_records, 40);
        assert_eq!(db.recovery_report().torn_wal_tail, None);
        check(&db, &want);
        // The new WAL is the current version; after a clean close and reopen everything is still there.
        db.close().expect("close");
        drop(db);
        let db = Db::open(copy.clone(), o).expect("reopen");
        check(&db, &want);
        for n in copy.list().expect("list") {
            if n.ends_with(".wal") {
                let b = copy.open(&n).expect("open").read_all().expect("read");
                assert_eq!(wal::decode_header(&b), Ok(wal::FORMAT_VERSION), "{n}");
            }
        }
    }
}

#[test]
fn a_version_1_wal_with_a_torn_last_record_recovers_the_prefix() {
    let vfs = load("v1-wal");
    let wal_name = vfs
        .list()
        .expect("list")
        .into_iter()
        .find(|n| n.ends_with(".wal"))
        .expect("a WAL");
    let mut bytes = vfs.open(&wal_name).expect("open").read_all().expect("read");
    bytes.truncate(bytes.len() - 3);
    vfs.put_file(&wal_name, bytes);
    let mut o = Options::default();
    o.create_if_missing = false;
    let db = Db::open(vfs, o).expect("open");
    assert_eq!(db.recovery_report().wal_records, 39);
    assert!(db.recovery_report().torn_wal_tail.is_some());
}

#[test]
fn a_database_with_a_version_2_wal_opens_and_takes_range_deletes() {
    let want = expected("v2-wal");
    assert_eq!(want.len(), 62);
    let vfs = load("v2-wal");
    let wal_name = vfs
        .list()
        .expect("list")
        .into_iter()
        .find(|n| n.ends_with(".wal"))
        .expect("a WAL");
    let bytes = vfs.open(&wal_name).expect("open").read_all().expect("read");
    assert_eq!(wal::decode_header(&bytes), Ok(wal::FORMAT_VERSION_2));
    for mode in [
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::TolerateTornTail,
    ] {
        let copy = MemVfs::new();
        for n in vfs.list().expect("list") {
            copy.put_file(&n, vfs.open(&n).expect("open").read_all().expect("read"));
        }
        let o = Options::default()
            .recovery_mode(mode)
            .create_if_missing(false);
        let mut db = Db::open(copy.clone(), o.clone()).expect("open the version 2 database");
        assert_eq!(db.recovery_report().wal_records, 1);
        assert_eq!(db.recovery_report().torn_wal_tail, None);
        check(&db, &want);
        // A range delete goes to a version 3 WAL and survives a reopen.
        let mut b = cairn_core::WriteBatch::new();
        b.delete_range(b"k010", b"k020");
        db.write(&b, cairn_core::WriteOptions::SYNC)
            .expect("delete_range");
        db.close().expect("close");
        drop(db);
        let db = Db::open(copy.clone(), o).expect("reopen");
        let after: Vec<_> = want
            .iter()
            .map(|(k, v)| {
                let gone = ("k010".."k020").contains(&k.as_str());
                (k.clone(), if gone { None } else { v.clone() })
            })
            .collect();
        check(&db, &after);
        for n in copy.list().expect("list") {
            if n.ends_with(".wal") {
                let b = copy.open(&n).expect("open").read_all().expect("read");
                assert_eq!(wal::decode_header(&b), Ok(wal::FORMAT_VERSION), "{n}");
            }
        }
    }
}
