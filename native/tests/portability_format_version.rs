//! Every on-disk file carries a format version; a database whose WAL, manifest, table or
//! current pointer claims an older or newer version must fail to open with a clear
//! `UnsupportedFormat` error, never be misread or "repaired". Runs natively and under WASI.

mod wasi_support;

use cairn::{Db, Error, Options, WriteOptions};
use std::path::Path;
use wasi_support::{copy_dir, files_matching, TestDir};

fn opts() -> Options {
    Options::default()
        .create_if_missing(false)
        .background_threads(0)
}

/// A database with one table (flushed) and one live WAL holding unflushed writes.
fn make_db(dir: &Path) {
    let db = Db::open_with(dir, Options::default().background_threads(0)).expect("create");
    for i in 0..500u32 {
        db.put_with(
            format!("k{i:05}").as_bytes(),
            b"value",
            WriteOptions::NO_SYNC,
        )
        .expect("put");
    }
    db.flush().expect("flush");
    db.put(b"unflushed", b"yes").expect("put");
    db.close().expect("close");
}

fn patch(path: &Path, offset: usize, bytes: &[u8]) {
    let mut data = std::fs::read(path).expect("read");
    data[offset..offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, data).expect("write");
}

fn expect_unsupported(dir: &Path, what: &str) {
    match Db::open_with(dir, opts()) {
        Err(Error::UnsupportedFormat(msg)) => {
            assert!(
                msg.contains("version"),
                "{what}: message should name the version: {msg}"
            );
        }
        Err(e) => panic!("{what}: expected UnsupportedFormat, got {e:?}"),
        Ok(_) => panic!("{what}: a database with a foreign format version opened"),
    }
}

#[test]
fn pristine_copy_opens() {
    let t = TestDir::new("fmt-ok");
    make_db(&t.join("db"));
    copy_dir(&t.join("db"), &t.join("copy"));
    let db = Db::open_with(t.join("copy"), opts()).expect("open copy");
    assert_eq!(
        db.get(b"k00042").expect("get").as_deref(),
        Some(&b"value"[..])
    );
    assert_eq!(
        db.get(b"unflushed").expect("get").as_deref(),
        Some(&b"yes"[..])
    );
}

#[test]
fn wal_with_another_format_version_is_unsupported() {
    let t = TestDir::new("fmt-wal");
    make_db(&t.join("db"));
    // This build reads WAL versions 1 to 3 (3 = 2 plus range deletes); 4 is the next one.
    for version in [0u32, 4, u32::MAX] {
        let copy = t.join(&format!("copy-{version}"));
        copy_dir(&t.join("db"), &copy);
        let wals = files_matching(&copy, |n| n.ends_with(".wal"));
        let newest = wals.last().expect("a WAL");
        // header = "CAIRNWAL" | version u32 LE | check (versions 2, 3: CRC32 of bytes 0..12)
        // Rewrite the check so the header is otherwise valid.
        let path = copy.join(newest);
        let mut head = std::fs::read(&path).expect("read")[..12].to_vec();
        head[8..12].copy_from_slice(&version.to_le_bytes());
        let crc = crc32fast::hash(&head);
        head.extend_from_slice(&crc.to_le_bytes());
        patch(&path, 0, &head);
        expect_unsupported(&copy, &format!("WAL version {version}"));
    }
}

#[test]
fn manifest_with_another_format_version_is_unsupported() {
    let t = TestDir::new("fmt-man");
    make_db(&t.join("db"));
    for version in [0u32, 2] {
        let copy = t.join(&format!("copy-{version}"));
        copy_dir(&t.join("db"), &copy);
        let m = files_matching(&copy, |n| n.starts_with("MANIFEST-"));
        assert_eq!(m.len(), 1, "one live manifest: {m:?}");
        // header = "CAIRNMAN" | version u32 LE | reserved
        patch(&copy.join(&m[0]), 8, &version.to_le_bytes());
        expect_unsupported(&copy, &format!("manifest version {version}"));
    }
}

#[test]
fn table_with_another_format_version_is_unsupported() {
    let t = TestDir::new("fmt-sst");
    make_db(&t.join("db"));
    for version in [0u32, 3] {
        let copy = t.join(&format!("copy-{version}"));
        copy_dir(&t.join("db"), &copy);
        let tables = files_matching(&copy, |n| n.ends_with(".sst"));
        assert!(!tables.is_empty());
        let path = copy.join(&tables[0]);
        let len = std::fs::metadata(&path).expect("stat").len() as usize;
        // footer (80 bytes) = handles (64) | crc (4) | version u32 LE | magic "CAIRNSST"
        patch(&path, len - 80 + 68, &version.to_le_bytes());
        // Tables are opened lazily; a read or a scan reaches it.
        match Db::open_with(&copy, opts()) {
            Err(Error::UnsupportedFormat(msg)) => assert!(msg.contains("version"), "{msg}"),
            Err(e) => panic!("table version {version}: expected UnsupportedFormat, got {e:?}"),
            Ok(db) => match db.get(b"k00042") {
                Err(Error::UnsupportedFormat(msg)) => assert!(msg.contains("version"), "{msg}"),
                other => {
                    panic!("table version {version}: expected UnsupportedFormat, got {other:?}")
                }
            },
        }
    }
}

#[test]
fn current_pointer_with_another_format_version_is_unsupported() {
    let t = TestDir::new("fmt-cur");
    make_db(&t.join("db"));
    for version in [0u16, 2] {
        let copy = t.join(&format!("copy-{version}"));
        copy_dir(&t.join("db"), &copy);
        // slot = "CRNT" | version u16 LE | reserved | generation | manifest | reserved | crc
        // The version is under the checksum: rewrite the CRC so the slot is otherwise valid.
        for slot in ["CURRENT-A", "CURRENT-B"] {
            let path = copy.join(slot);
            let mut rec = std::fs::read(&path).expect("read slot");
            assert_eq!(rec.len(), 32);
            rec[4..6].copy_from_slice(&version.to_le_bytes());
            let crc = crc32fast::hash(&rec[..28]);
            rec[28..32].copy_from_slice(&crc.to_le_bytes());
            std::fs::write(&path, rec).expect("write slot");
        }
        expect_unsupported(&copy, &format!("CURRENT version {version}"));
    }
}
